package io.github.llamaffm;

import io.github.llamaffm.gguf.GgufFile;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Speculative decoding ({@link Speculation}) changes how many decodes a generation takes, never what it generates:
 * greedy output is token-identical to upstream's llama-simple on the same model, with a draft model (a truncated copy
 * of the target) and with n-gram lookup, through {@link Generation} and {@link SequenceScheduler}.
 */
@Tag("tiny-model")
class SpeculativeDecodingTest {
    /** A 4-layer target and its first layer as the draft (same weights for the layer kept). */
    static final TinyModel.Spec TARGET = TinyModel.Spec.builder().layers(4).seed(7).build();
    static final TinyModel.Spec DRAFT = TARGET.truncated(1);
    private static final List<String> PROMPTS = List.of("The Mistral 7B paper shows",
            "Once upon a time, in a land far away");
    private static final int N = 40; // GreedyParityTest's N_PREDICT: what llama-simple generates

    private static LlamaModel target;
    private static LlamaModel draft;
    private static LlamaContext ctx;
    private static LlamaContext draftCtx;

    @BeforeAll
    static void load() {
        target = LlamaModel.load(TestModels.tiny(TARGET));
        draft = LlamaModel.load(TestModels.tiny(DRAFT));
        ctx = target.newContext(ContextOptions.builder().contextSize(512).build());
        draftCtx = draft.newContext(ContextOptions.builder().contextSize(512).build());
    }

    @AfterAll
    static void close() {
        draftCtx.close();
        ctx.close();
        draft.close();
        target.close();
    }

    private static GenerateOptions greedy(int maxTokens, Speculation speculation) {
        return GenerateOptions.builder().maxTokens(maxTokens).sampler(Sampler.greedy()).speculation(speculation).build();
    }

    /** Token ids and the result of a generation on sequence 0 of {@code context}. */
    private static GenerationResult run(LlamaContext context, String prompt, GenerateOptions options, List<Integer> ids) {
        try (Generation g = context.generate(prompt, options)) {
            g.forEach(t -> ids.add(t.id()));
            return g.result();
        }
    }

    @Test
    void truncatedDraftKeepsTheTargetsWeights() throws Exception {
        GgufFile t = GgufFile.read(TestModels.tiny(TARGET));
        GgufFile d = GgufFile.read(TestModels.tiny(DRAFT));
        assertThat(d.getInt("llama.block_count")).isEqualTo(1);
        assertThat(t.getInt("llama.block_count")).isEqualTo(4);
        for (String name : List.of("token_embd.weight", "output.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight")) {
            assertThat(d.readFloats(name)).as(name).isEqualTo(t.readFloats(name));
        }
        assertThat(d.tensor("blk.1.attn_q.weight")).isEmpty();
    }

    @Test
    void greedyWithDraftModelOrNgramLookupMatchesUpstreamLlamaSimple() throws Exception {
        Path model = TestModels.tiny(TARGET);
        int drafted = 0;
        int accepted = 0;
        int ngramDrafted = 0;
        for (String prompt : PROMPTS) {
            String upstream = GreedyParityTest.runLlamaSimple(model, prompt);
            for (Speculation s : List.of(Speculation.draft(draftCtx), Speculation.draft(draftCtx).withDraftMax(8),
                    Speculation.ngram(2, 6))) {
                List<Integer> ids = new ArrayList<>();
                GenerationResult r = run(ctx, prompt, greedy(N, s), ids);
                assertThat(upstream).as("%s, '%s'", s, prompt).endsWith(r.text() + "\n");
                assertThat(ids).hasSize(N);
                assertThat(r.generatedTokens()).isEqualTo(N);
                assertThat(r.acceptedDraftTokens()).isBetween(0, r.draftTokens());
                if (s.draftContext().isPresent()) {
                    drafted += r.draftTokens();
                    accepted += r.acceptedDraftTokens();
                } else {
                    ngramDrafted += r.draftTokens();
                }
            }
        }
        assertThat(drafted).as("the draft model guessed").isPositive();
        assertThat(accepted).as("a truncated copy guesses right sometimes").isPositive();
        assertThat(ngramDrafted).as("n-gram lookup found repeats in the tiny model's output").isPositive();
    }

    @Test
    void theTargetAsItsOwnDraftIsAlwaysAccepted() {
        try (LlamaContext same = target.newContext(ContextOptions.builder().contextSize(512).build())) {
            List<Integer> plain = new ArrayList<>();
            run(ctx, PROMPTS.get(0), greedy(N, null), plain);
            List<Integer> ids = new ArrayList<>();
            GenerationResult r = run(ctx, PROMPTS.get(0), greedy(N, Speculation.draft(same).withDraftMax(5)), ids);
            assertThat(ids).isEqualTo(plain);
            assertThat(r.draftTokens()).isPositive();
            assertThat(r.acceptedDraftTokens()).isEqualTo(r.draftTokens());
            assertThat(r.draftAcceptanceRate()).isEqualTo(1.0);
        }
    }

    /**
     * Each emitted token is one draw of the target's sampler at its position, in order, as without speculation: with
     * a seed the draws are the same. (The logits of a batched decode may differ from a single-token decode in the last
     * bits; with top-k the sampler draws among a few sorted candidates, where such a difference does not move a draw.)
     */
    @Test
    void seededSamplingMakesTheSameDrawsAsWithoutSpeculation() {
        Sampler sampler = Sampler.builder().temperature(0.6f).topK(40).topP(1f).minP(0f).seed(1234).build();
        try (LlamaContext same = target.newContext(ContextOptions.builder().contextSize(512).build())) {
        for (Speculation s : List.of(Speculation.draft(same).withDraftMax(4), Speculation.draft(draftCtx))) {
            List<Integer> plain = new ArrayList<>();
            run(ctx, PROMPTS.get(1), GenerateOptions.builder().maxTokens(N).sampler(sampler).build(), plain);
            List<Integer> ids = new ArrayList<>();
            GenerationResult r = run(ctx, PROMPTS.get(1),
                    GenerateOptions.builder().maxTokens(N).sampler(sampler).speculation(s).build(), ids);
            assertThat(ids).as("%s", s).isEqualTo(plain);
            assertThat(r.draftTokens()).as("%s", s).isPositive();
        }
        }
    }

    @Test
    void limitsAndStopStringsHoldInsideARound() {
        try (LlamaContext same = target.newContext(ContextOptions.builder().contextSize(512).build())) {
            Speculation s = Speculation.draft(same).withDraftMax(16);
            List<Integer> plain = new ArrayList<>();
            String full = run(ctx, PROMPTS.get(0), greedy(N, null), plain).text();
            for (int max : new int[] {1, 2, 7}) {
                List<Integer> ids = new ArrayList<>();
                GenerationResult r = run(ctx, PROMPTS.get(0), greedy(max, s), ids);
                assertThat(ids).isEqualTo(plain.subList(0, max));
                assertThat(r.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            }
            String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
            String expected = full.substring(0, full.indexOf(stop));
            GenerationResult r = run(ctx, PROMPTS.get(0), GenerateOptions.builder().maxTokens(N)
                    .sampler(Sampler.greedy()).stopStrings(stop).speculation(s).build(), new ArrayList<>());
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP_STRING);
            assertThat(r.text()).isEqualTo(expected);
            // the cache holds exactly the accepted tokens: the next generation reuses them as a prefix
            int[] cached = ctx.tokens();
            int[] prompt = target.vocabulary().tokenize(PROMPTS.get(0), true, true);
            assertThat(Arrays.copyOf(cached, prompt.length)).isEqualTo(prompt);
            for (int i = prompt.length; i < cached.length; i++) {
                assertThat(cached[i]).isEqualTo(plain.get(i - prompt.length));
            }
        }
    }

    @Test
    void schedulerSequencesSpeculateAndMatchPlainGeneration() {
        List<List<Integer>> expected = new ArrayList<>();
        for (String prompt : PROMPTS) {
            List<Integer> ids = new ArrayList<>();
            run(ctx, prompt, greedy(N, null), ids);
            expected.add(ids);
        }
        try (LlamaContext parallel = target.newContext(ContextOptions.builder().contextSize(1024).sequences(2).build());
             LlamaContext draftPerSequence = draft.newContext(ContextOptions.builder().contextSize(1024).sequences(2)
                     .build());
             SequenceScheduler scheduler = parallel.newScheduler()) {
            // one draft sequence shared by both (re-decoded on each switch), one per sequence, and n-gram lookup
            for (Speculation s : List.of(Speculation.draft(draftCtx).withDraftMax(4),
                    Speculation.draft(draftPerSequence).withDraftMax(4), Speculation.ngram(2, 6))) {
                List<List<Integer>> got = List.of(new ArrayList<>(), new ArrayList<>());
                List<SequenceScheduler.Sequence> seqs = new ArrayList<>();
                for (int i = 0; i < PROMPTS.size(); i++) {
                    List<Integer> sink = got.get(i);
                    seqs.add(scheduler.submit(PROMPTS.get(i), greedy(N, s), (seq, t) -> sink.add(t.id())));
                }
                long calls = scheduler.decodeCalls();
                while (scheduler.step()) {
                    // decode
                }
                assertThat(got).as("%s", s).isEqualTo(expected);
                int drafted = seqs.stream().mapToInt(q -> q.result().orElseThrow().draftTokens()).sum();
                assertThat(drafted).as("%s", s).isPositive();
                assertThat(scheduler.decodeCalls() - calls).as("fewer decodes than tokens").isLessThan(2L * N);
            }
        }
    }

    @Test
    void anIncompatibleDraftVocabularyIsRefusedNamingTheDifference() throws Exception {
        Path bpe = TinyModel.cached(TinyModel.Spec.builder().layers(1).build(),
                TestModels.llamaSource().resolve("models/ggml-vocab-llama-bpe.gguf"),
                TestModels.projectRoot().resolve("java-api/target/test-models"));
        try (LlamaModel other = LlamaModel.load(bpe);
             LlamaContext otherCtx = other.newContext(ContextOptions.builder().contextSize(256).build())) {
            assertThatThrownBy(() -> ctx.generate("Hello", greedy(4, Speculation.draft(otherCtx))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cannot draft for")
                    .hasMessageContaining("tokenizer type");
        }
        assertThatThrownBy(() -> ctx.generate("Hello", greedy(4, Speculation.draft(ctx))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("another context");
        // the context still generates afterwards
        assertThat(run(ctx, "Hello", greedy(4, Speculation.draft(draftCtx)), new ArrayList<>()).generatedTokens())
                .isEqualTo(4);
    }

    @Test
    void optionsAreValidated() {
        assertThatThrownBy(() -> Speculation.ngram(0, 4)).hasMessageContaining("ngramSize");
        assertThatThrownBy(() -> Speculation.ngram(2, 0)).hasMessageContaining("draftMax");
        assertThatThrownBy(() -> Speculation.ngram().withMinProbability(0.5f)).hasMessageContaining("draft model");
        assertThatThrownBy(() -> Speculation.draft(draftCtx).withMinProbability(1.5f))
                .hasMessageContaining("minProbability");
        assertThat(Speculation.ngram().ngramSize()).isEqualTo(Speculation.DEFAULT_NGRAM_SIZE);
        assertThat(Speculation.draft(draftCtx).draftMax()).isEqualTo(Speculation.DEFAULT_DRAFT_MAX);
        assertThat(Drafter.lookup(new int[] {9, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2}, 3, 3, 4)).containsExactly(4, 5, 1, 2);
        assertThat(Drafter.lookup(new int[] {9, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2}, 3, 3, 2)).as("fewer than n to copy").isEmpty();
        assertThat(Drafter.lookup(new int[] {9, 1, 2, 3, 4}, 3, 3, 2)).isEmpty();
    }
}
