package io.github.llamaffm;

import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Generation far past the context size with {@link ContextOverflow#SHIFT}: greedy output token-identical to
 * upstream's own {@code llama-completion --context-shift} (built from the pinned source by build-native.sh), which
 * shifts exactly as llama-server does (keep n_keep + BOS, drop half of the rest, move the newer half down).
 */
@Tag("tiny-model")
class ContextShiftTest {
    private static final int CONTEXT = 256;   // llama.cpp's smallest context
    private static final int N_PREDICT = 320; // shifts at keep 0 and 5
    private static final String PROMPT = "Once upon a time, in a land far away";

    @Test
    void greedyShiftedContinuationMatchesUpstreamLlamaCompletion() throws Exception {
        Path model = TestModels.tiny();
        for (int keep : new int[] {0, 5}) {
            String upstream = TestModels.llamaCompletion(model, PROMPT, N_PREDICT, "-c", String.valueOf(CONTEXT),
                    "--context-shift", "--keep", String.valueOf(keep), "--temp", "0");
            try (LlamaModel m = LlamaModel.load(model);
                 LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(CONTEXT)
                         .overflow(ContextOverflow.SHIFT).shiftKeepTokens(keep).build())) {
                GenerationResult r = ctx.generate(PROMPT, greedy()).result();
                assertThat(r.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
                assertThat(r.generatedTokens()).isEqualTo(N_PREDICT);
                assertThat(r.contextShifts()).as("shifts at keep %d", keep).isGreaterThanOrEqualTo(1);
                assertThat(ctx.tokens().length).isLessThan(CONTEXT);
                // llama-completion prints the prompt (with or without the BOS piece) and the generated pieces.
                assertThat(upstream).as("keep %d", keep).isEqualTo((PROMPT + r.text()).strip());
            }
        }
    }

    /** The scheduler shifts through the same engine: each of two sequences matches the single-sequence run. */
    @Test
    void schedulerShiftsEachSequenceLikeGeneration() throws Exception {
        Path model = TestModels.tiny();
        try (LlamaModel m = LlamaModel.load(model)) {
            String single;
            try (LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(CONTEXT)
                    .overflow(ContextOverflow.SHIFT).build())) {
                single = ctx.generate(PROMPT, greedy()).text();
            }
            try (LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(2 * CONTEXT).sequences(2)
                    .overflow(ContextOverflow.SHIFT).build());
                 SequenceScheduler scheduler = ctx.newScheduler()) {
                assertThat(scheduler.sequenceContextSize()).isEqualTo(CONTEXT);
                List<SequenceScheduler.Sequence> seqs = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    seqs.add(scheduler.submit(PROMPT, greedy(), (s, t) -> { }));
                }
                while (scheduler.step()) {
                    // run both to the end
                }
                for (SequenceScheduler.Sequence s : seqs) {
                    GenerationResult r = s.result().orElseThrow();
                    assertThat(r.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
                    assertThat(r.contextShifts()).isGreaterThanOrEqualTo(1);
                    assertThat(r.text()).isEqualTo(single);
                }
            }
        }
    }

    @Test
    void failStaysTheDefault() {
        try (LlamaModel m = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(CONTEXT).build())) {
            assertThat(ctx.options().overflow()).isEqualTo(ContextOverflow.FAIL);
            GenerationResult r = ctx.generate(PROMPT, greedy()).result();
            assertThat(r.finishReason()).isEqualTo(FinishReason.CONTEXT_FULL);
            assertThat(r.contextShifts()).isZero();
            assertThat(r.promptTokens() + r.generatedTokens()).isEqualTo(CONTEXT + 1); // last one sampled, not decoded
        }
        assertThatThrownBy(() -> ContextOptions.builder().shiftKeepTokens(-2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shiftKeepTokens");
    }

    /**
     * A sliding-window model with the rolling cache cannot move positions: the shift keeps the same tokens by decoding
     * them again, so the continuation equals a fresh generation whose prompt is exactly the kept tokens.
     */
    @Test
    void rollingSlidingWindowCacheShiftsByDecodingTheKeptTokensAgain() {
        Path model = TestModels.tiny(TinyModel.Spec.builder().slidingWindow(16).seed(21).build());
        try (LlamaModel m = LlamaModel.load(model)) {
            int[] prompt = m.vocabulary().tokenize(PROMPT, true, true);
            List<Integer> ids = new ArrayList<>();
            GenerationResult r;
            try (LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(CONTEXT)
                    .overflow(ContextOverflow.SHIFT).build())) {
                try (Generation g = ctx.generate(prompt, greedy(300))) {
                    g.forEach(t -> ids.add(t.id()));
                    r = g.result();
                }
                assertThat(r.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
                assertThat(r.contextShifts()).isEqualTo(1);
            }
            // The shift happened with 255 tokens in the cache and the next one pending: keep BOS, drop 127.
            int[] all = new int[prompt.length + ids.size()];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            for (int i = 0; i < ids.size(); i++) {
                all[prompt.length + i] = ids.get(i);
            }
            int pending = CONTEXT - 1; // index in 'all' of the token pending at the shift
            int discard = (pending - 1) / 2;
            int[] replay = new int[pending + 1 - discard];
            replay[0] = all[0];
            System.arraycopy(all, 1 + discard, replay, 1, pending - discard);
            int generatedBeforeReplay = pending + 1 - prompt.length; // sampled tokens up to and including 'pending'
            List<Integer> continuation = ids.subList(generatedBeforeReplay, ids.size());
            try (LlamaContext fresh = m.newContext(ContextOptions.builder().contextSize(CONTEXT).build())) {
                List<Integer> reference = new ArrayList<>();
                try (Generation g = fresh.generate(replay, greedy(continuation.size()))) {
                    g.forEach(t -> reference.add(t.id()));
                }
                assertThat(continuation).as("continuation after re-decoding %d kept tokens", replay.length)
                        .isEqualTo(reference);
            }
            assertThat(Arrays.stream(all).distinct().count()).isGreaterThan(10);
        }
    }

    @Test
    void chatSessionDropsOldestTurnsAndGoesOn() {
        try (LlamaModel m = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(CONTEXT)
                     .overflow(ContextOverflow.SHIFT).build())) {
            ChatSession chat = ctx.chat(ChatSession.Options.defaults().withSystemPrompt("You are terse.")
                    .withGenerateOptions(greedy(40)));
            for (int turn = 0; turn < 12; turn++) {
                GenerationResult r = chat.send("Tell me about turn " + turn + " of this long conversation.");
                assertThat(r.finishReason()).isIn(FinishReason.MAX_TOKENS, FinishReason.END_OF_GENERATION);
            }
            List<ChatMessage> messages = chat.messages();
            assertThat(messages.getFirst()).isEqualTo(ChatMessage.system("You are terse."));
            assertThat(messages.size()).as("oldest turns dropped").isLessThan(1 + 2 * 12);
            assertThat(messages.getLast().role()).isEqualTo("assistant");
            assertThat(messages.get(messages.size() - 2).content()).contains("turn 11");
        }
    }

    private static GenerateOptions greedy() {
        return greedy(N_PREDICT);
    }

    private static GenerateOptions greedy(int n) {
        return GenerateOptions.builder().maxTokens(n).sampler(Sampler.greedy()).build();
    }
}
