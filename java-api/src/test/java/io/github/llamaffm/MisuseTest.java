package io.github.llamaffm;

import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Misuse of the public API ends in a clear exception and leaves the JVM, the model and the context working: after
 * every case the same context still generates exactly what a fresh context generates (the outside truth for
 * "still working", itself checked against upstream by {@link GreedyParityTest}).
 */
@Tag("tiny-model")
class MisuseTest {
    private static final String PROMPT = "The Mistral 7B paper shows";
    private static final GenerateOptions GREEDY = GenerateOptions.builder().maxTokens(8).sampler(Sampler.greedy()).build();

    private static LlamaModel model;
    private static String reference;
    private LlamaContext ctx;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
        try (LlamaContext fresh = model.newContext(small().build())) {
            reference = fresh.generate(PROMPT, GREEDY).text();
        }
        assertThat(reference).isNotEmpty();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static ContextOptions.Builder small() {
        return ContextOptions.builder().contextSize(256).batchSize(64);
    }

    private LlamaContext ctx() {
        if (ctx == null) {
            ctx = model.newContext(small().build());
        }
        return ctx;
    }

    /** The context (and with it the JVM and the model) still works, token for token. */
    @AfterEach
    void stillWorks() {
        if (ctx != null && !ctx.isClosed()) {
            ctx.clear();
            assertThat(ctx.generate(PROMPT, GREEDY).text()).isEqualTo(reference);
            ctx.close();
        }
        ctx = null;
    }

    // --- prompts ------------------------------------------------------------------------------------------

    @Test
    void loneSurrogatesInAPromptAreRejected() {
        for (String bad : List.of("ab\uD800c", "\uDC00", "end\uD83D", "\uDE42\uD83D")) {
            assertThatThrownBy(() -> ctx().generate(bad, GREEDY)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("unpaired surrogate");
            assertThatThrownBy(() -> model.vocabulary().tokenize(bad, true, false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unpaired surrogate");
        }
        // a proper pair is fine
        assertThat(model.vocabulary().tokenize("smile \uD83D\uDE42", true, false)).isNotEmpty();
    }

    @Test
    void promptsThatDoNotFitAreRejected() {
        String huge = "word ".repeat(2000);
        assertThatThrownBy(() -> ctx().generate(huge, GREEDY)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("256");
        assertThatThrownBy(() -> ctx().generate("", GenerateOptions.builder().addSpecial(false).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
        assertThatThrownBy(() -> ctx().generate(new int[0], GREEDY)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ctx().evaluate(new int[300])).isInstanceOf(IllegalArgumentException.class);
    }

    // --- sizes and ids ------------------------------------------------------------------------------------

    @Test
    void negativeAndHugeSizesAreRejected() {
        assertThatThrownBy(() -> ContextOptions.builder().contextSize(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ContextOptions.builder().batchSize(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ContextOptions.builder().threads(-3)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ContextOptions.builder().threads(100_000)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("threads");
        assertThatThrownBy(() -> ContextOptions.builder().batchThreads(100_000))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("batchThreads");
        assertThatThrownBy(() -> ContextOptions.builder().sequences(100_000)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GenerateOptions.builder().maxTokens(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ModelOptions.builder().gpuLayers(-2)).isInstanceOf(IllegalArgumentException.class);
        // a huge batch is capped by llama.cpp to the context, not allocated
        try (LlamaContext c = model.newContext(small().batchSize(Integer.MAX_VALUE).microBatchSize(Integer.MAX_VALUE).build())) {
            assertThat(c.generate(PROMPT, GREEDY).text()).isEqualTo(reference);
        }
        int n = model.vocabulary().size();
        for (int bad : new int[] {-1, n, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
            assertThatThrownBy(() -> model.vocabulary().piece(bad)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> model.vocabulary().detokenize(new int[] {1, bad}, false, false))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> ctx().generate(new int[] {1, bad}, GREEDY)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> ctx().evaluate(new int[] {bad})).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> ctx().generate(PROMPT,
                GREEDY.toBuilder().sampler(Sampler.builder().logitBias(n, 1f).build()).build()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ctx().logits()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> ctx().embed("text", true)).isInstanceOf(IllegalStateException.class);
        ContextMemory memory = ctx().memory();
        assertThatThrownBy(() -> memory.remove(-2, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> memory.remove(1_000, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> memory.copy(0, 5_000, 0, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> memory.keepOnly(Integer.MIN_VALUE)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> memory.minPosition(999)).isInstanceOf(IllegalArgumentException.class);
        // A shift that would overflow a position (llama.cpp wraps silently and drops cells) is refused; the cache is
        // left as it was.
        memory.clear();
        ctx().evaluate(new int[] {1, 2, 3, 4});
        for (int delta : new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE - 2}) {
            assertThatThrownBy(() -> memory.shift(0, 0, -1, delta)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("overflows a 32-bit position");
            assertThat(memory.minPosition(0)).isZero();
            assertThat(memory.maxPosition(0)).isEqualTo(3);
        }
        memory.clear();
    }

    // --- samplers and grammars ----------------------------------------------------------------------------

    @Test
    void customSamplersThatThrowFailOnlyTheirGeneration() {
        RuntimeException boom = new IllegalStateException("boom");
        List<CustomSampler> failing = List.of(
                c -> {
                    throw boom;
                },
                new CustomSampler() {
                    @Override
                    public void apply(Candidates candidates) {}

                    @Override
                    public void accept(int token) {
                        throw boom;
                    }
                },
                new CustomSampler() {
                    @Override
                    public void apply(Candidates candidates) {
                        candidates.select(candidates.size()); // out of range
                    }

                    @Override
                    public boolean selectsToken() {
                        return true;
                    }
                },
                c -> c.truncate(0),
                c -> c.setLogit(0, Float.NaN));
        for (CustomSampler s : failing) {
            GenerateOptions options = GREEDY.toBuilder().sampler(Sampler.builder().greedy(true).custom(s).build()).build();
            assertThatThrownBy(() -> ctx().generate(PROMPT, options).text()).isInstanceOf(LlamaException.class);
        }
        CustomSampler badName = new CustomSampler() {
            @Override
            public void apply(Candidates candidates) {}

            @Override
            public String name() {
                throw boom;
            }
        };
        assertThatThrownBy(() -> ctx().generate(PROMPT,
                GREEDY.toBuilder().sampler(Sampler.builder().custom(badName).build()).build()).text())
                .isInstanceOf(RuntimeException.class);
    }

    @Test
    void grammarsThatDoNotParseOrRejectEveryTokenFailCleanly() {
        for (String bad : List.of("root ::= (\"unclosed\"", "root ::= undefined-rule", "not a grammar")) {
            assertThatThrownBy(() -> ctx().generate(PROMPT,
                    GREEDY.toBuilder().sampler(Sampler.builder().grammar(bad).build()).build()).text())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("grammar");
        }
        // Grammars that parse but that no token can satisfy: a NUL character (llama.cpp never matches a token piece
        // starting with NUL), an empty character range. Greedy and random sampling alike end in a clear exception
        // (without the check, llama.cpp's grammar throws a C++ exception through the C API: std::terminate).
        for (String impossible : List.of("root ::= \"\\x00\" \"a\"", "root ::= [z-a]")) {
            for (Sampler s : List.of(Sampler.builder().greedy(true).grammar(impossible).build(),
                    Sampler.builder().grammar(impossible).seed(3).build())) {
                assertThatThrownBy(() -> ctx().generate(PROMPT, GREEDY.toBuilder().sampler(s).build()).text())
                        .isInstanceOf(LlamaException.class).hasMessageContaining("grammar allows no token");
            }
        }
    }

    // --- state --------------------------------------------------------------------------------------------

    @Test
    void stateFromAnotherModelOrTruncatedIsRejected(@TempDir Path dir) throws Exception {
        ctx().generate(PROMPT, GREEDY).text();
        byte[] state = ctx().saveState();
        Path file = dir.resolve("state.bin");
        ctx().saveState(file);
        byte[] other;
        TinyModel.Spec wider = TinyModel.Spec.builder().embeddingSize(128).heads(4).kvHeads(4).seed(3).build();
        try (LlamaModel otherModel = LlamaModel.load(TestModels.tiny(wider));
             LlamaContext otherCtx = otherModel.newContext(small().build())) {
            otherCtx.generate(PROMPT, GREEDY).text();
            other = otherCtx.saveState();
        }
        List<byte[]> bad = new ArrayList<>();
        bad.add(other);
        for (int cut : new int[] {9, 12, state.length / 4, state.length / 2, state.length - 1}) {
            bad.add(Arrays.copyOf(state, cut));
        }
        byte[] flipped = state.clone();
        for (int i = 8 + 4 * 20; i < flipped.length; i += 97) {
            flipped[i] ^= (byte) 0xFF;
        }
        bad.add(flipped);
        for (byte[] b : bad) {
            assertThatThrownBy(() -> ctx().loadState(b)).isInstanceOfAny(LlamaException.class,
                    IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> ctx().loadState(new byte[3])).isInstanceOf(IllegalArgumentException.class);
        // files: truncated, from another model, not a state at all
        Path truncated = dir.resolve("truncated.bin");
        byte[] whole = Files.readAllBytes(file);
        Files.write(truncated, Arrays.copyOf(whole, whole.length / 2));
        Path notState = dir.resolve("not-state.bin");
        Files.writeString(notState, "hello");
        for (Path p : List.of(truncated, notState, TestModels.tiny())) {
            assertThatThrownBy(() -> ctx().loadState(p)).isInstanceOf(LlamaException.class).hasMessageContaining(p.toString());
        }
        // and the good state still restores
        ctx().loadState(state);
    }

    // --- scheduler ----------------------------------------------------------------------------------------

    @Test
    void schedulerMisuseIsRejectedAndOtherSequencesContinue() {
        try (LlamaContext c = model.newContext(small().sequences(2).build());
             SequenceScheduler scheduler = c.newScheduler()) {
            SequenceScheduler.Listener ignore = new SequenceScheduler.Listener() {
                @Override
                public void onToken(SequenceScheduler.Sequence sequence, Token token) {}

                @Override
                public void onFinish(SequenceScheduler.Sequence sequence, GenerationResult result) {}
            };
            assertThatThrownBy(() -> scheduler.submit("word ".repeat(500), GREEDY, ignore))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sequence holds");
            assertThatThrownBy(() -> scheduler.submit("a\uD800", GREEDY, ignore))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unpaired surrogate");
            assertThatThrownBy(() -> scheduler.submit(new int[] {-1}, GREEDY, ignore))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> scheduler.submit(PROMPT,
                    GREEDY.toBuilder().sampler(Sampler.builder().grammar("root ::= (").build()).build(), ignore))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("grammar");
            AtomicReference<String> text = new AtomicReference<>("");
            SequenceScheduler.Sequence good = scheduler.submit(PROMPT, GREEDY, new SequenceScheduler.Listener() {
                @Override
                public void onToken(SequenceScheduler.Sequence sequence, Token token) {
                    text.set(text.get() + token.text());
                }

                @Override
                public void onFinish(SequenceScheduler.Sequence sequence, GenerationResult result) {}
            });
            Sampler impossible = Sampler.builder().greedy(true).grammar("root ::= \"\\x00\" \"a\"").build();
            SequenceScheduler.Sequence bad = scheduler.submit(PROMPT, GREEDY.toBuilder().sampler(impossible).build(), ignore);
            assertThatThrownBy(() -> scheduler.submit(PROMPT, GREEDY, ignore)).isInstanceOf(SequencesBusyException.class);
            while (scheduler.step()) {
                // run to the end
            }
            assertThat(bad.failure()).get().isInstanceOf(LlamaException.class);
            assertThat(good.failure()).isEmpty();
            assertThat(text.get()).isEqualTo(reference);
            assertThat(scheduler.freeSequences()).isEqualTo(2);
        }
    }
}
