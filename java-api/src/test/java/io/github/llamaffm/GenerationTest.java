package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Streaming generation on a tiny generated model: sampling, stop strings, cancellation, state, limits. */
@Tag("tiny-model")
class GenerationTest {
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static LlamaContext newContext() {
        return model.newContext(ContextOptions.builder().contextSize(512).build());
    }

    private static List<Token> run(LlamaContext ctx, String prompt, GenerateOptions options) {
        List<Token> tokens = new ArrayList<>();
        try (Generation g = ctx.generate(prompt, options)) {
            g.forEach(tokens::add);
        }
        return tokens;
    }

    private static String text(List<Token> tokens) {
        StringBuilder sb = new StringBuilder();
        tokens.forEach(t -> sb.append(t.text()));
        return sb.toString();
    }

    @Test
    void seededSamplingIsReproducibleAndTheSeedMatters() {
        GenerateOptions seeded = GenerateOptions.builder().maxTokens(24)
                .sampler(Sampler.builder().seed(1234).temperature(1.5f).topK(0).topP(1.0f).minP(0.0f).build()).build();
        List<Integer> a;
        List<Integer> b;
        List<Integer> c;
        try (LlamaContext ctx = newContext()) {
            a = run(ctx, "Seeds grow", seeded).stream().map(Token::id).toList();
        }
        try (LlamaContext ctx = newContext()) {
            b = run(ctx, "Seeds grow", seeded).stream().map(Token::id).toList();
            c = run(ctx, "Seeds grow", seeded.toBuilder()
                    .sampler(Sampler.builder().seed(99).temperature(1.5f).topK(0).topP(1.0f).minP(0.0f).build()).build())
                    .stream().map(Token::id).toList();
        }
        assertThat(a).hasSize(24).isEqualTo(b);
        assertThat(c).isNotEqualTo(a);
    }

    @Test
    void stopStringSpanningTokensEndsTextRightBeforeIt() {
        GenerateOptions greedy = GenerateOptions.builder().maxTokens(40).sampler(Sampler.greedy()).build();
        try (LlamaContext ctx = newContext()) {
            List<Token> full = run(ctx, "Stop here", greedy);
            // A stop string made of the end of one token's text and the start of the next one's.
            int i = -1;
            for (int k = 3; k + 1 < full.size(); k++) {
                if (full.get(k).text().length() >= 2 && full.get(k + 1).text().length() >= 2) {
                    i = k;
                    break;
                }
            }
            assertThat(i).as("two adjacent multi-character pieces").isPositive();
            String a = full.get(i).text();
            String stop = a.substring(a.length() - 2) + full.get(i + 1).text().substring(0, 2);
            String fullText = text(full);
            String expected = fullText.substring(0, fullText.indexOf(stop));

            try (Generation g = ctx.generate("Stop here", greedy.toBuilder().stopStrings(stop).build())) {
                List<Token> stopped = new ArrayList<>();
                g.forEach(stopped::add);
                assertThat(text(stopped)).isEqualTo(expected).doesNotContain(stop);
                assertThat(g.result().finishReason()).isEqualTo(FinishReason.STOP_STRING);
                assertThat(g.result().text()).isEqualTo(expected);
            }
        }
    }

    @Test
    void aFailingConsumerEndsTheGenerationWithErrorNotCancelled() {
        try (LlamaContext ctx = newContext()) {
            RuntimeException boom = new IllegalStateException("consumer failed");
            Generation g = ctx.generate("Fail", GenerateOptions.builder().maxTokens(20).sampler(Sampler.greedy()).build());
            assertThatThrownBy(() -> g.forEach(t -> {
                throw boom;
            })).isSameAs(boom);
            assertThat(g.isFinished()).isTrue();
            assertThat(g.result().finishReason()).isEqualTo(FinishReason.ERROR);
            // The context goes on: the next generation runs normally.
            assertThat(run(ctx, "Again", GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy()).build())).hasSize(3);
        }
    }

    @Test
    void cancelFromAnotherThreadEndsWithinOneDecodeStep() throws Exception {
        try (LlamaContext ctx = newContext()) {
            List<Token> seen = new ArrayList<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            try (Generation g = ctx.generate("Cancel me", GenerateOptions.builder().maxTokens(200).sampler(Sampler.greedy()).build())) {
                g.forEach(t -> {
                    seen.add(t);
                    if (seen.size() == 5) {
                        Thread canceller = Thread.ofPlatform().start(() -> {
                            try {
                                ctx.cancel();
                            } catch (Throwable e) {
                                failure.set(e);
                            }
                        });
                        try {
                            canceller.join();
                        } catch (InterruptedException e) {
                            throw new RuntimeException(e);
                        }
                    }
                });
                assertThat(failure.get()).isNull();
                assertThat(g.result().finishReason()).isEqualTo(FinishReason.CANCELLED);
                assertThat(seen).hasSize(5);
            }
            // The context stays usable after a cancelled decode.
            assertThat(run(ctx, "Again", GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy()).build())).hasSize(3);
        }
    }

    @Test
    void maxTokensAndResultCounts() {
        try (LlamaContext ctx = newContext();
             Generation g = ctx.generate("Count", GenerateOptions.builder().maxTokens(7).sampler(Sampler.greedy()).build())) {
            assertThat(g.stream().count()).isEqualTo(7);
            GenerationResult r = g.result();
            assertThat(r.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            assertThat(r.generatedTokens()).isEqualTo(7);
            assertThat(r.promptTokens()).isEqualTo(model.vocabulary().tokenize("Count", true, true).length);
            assertThat(r.generationMillis()).isPositive();
        }
    }

    @Test
    void probabilitiesAreReportedOnRequest() {
        try (LlamaContext ctx = newContext()) {
            List<Token> tokens = run(ctx, "Probable", GenerateOptions.builder().maxTokens(5).probabilities(true)
                    .sampler(Sampler.greedy()).build());
            assertThat(tokens).allSatisfy(t -> assertThat(t.probability()).isBetween(0.0f, 1.0f).isPositive());
            List<Token> plain = run(ctx, "Probable", GenerateOptions.builder().maxTokens(2).sampler(Sampler.greedy()).build());
            assertThat(plain).allSatisfy(t -> assertThat(t.probability()).isNaN());
        }
    }

    @Test
    void prefixIsReusedAndSaveRestoreGivesAnIdenticalContinuation() {
        GenerateOptions greedy = GenerateOptions.builder().maxTokens(16).sampler(Sampler.greedy()).build();
        String prompt = "A state to save and restore, with some words";
        int[] promptTokens = model.vocabulary().tokenize(prompt, true, true);
        byte[] state;
        List<Integer> first;
        try (LlamaContext ctx = newContext()) {
            ctx.evaluate(promptTokens);
            state = ctx.saveState();
            try (Generation g = ctx.generate(prompt, greedy)) {
                first = g.stream().map(Token::id).toList();
                assertThat(g.result().cachedPromptTokens()).isEqualTo(promptTokens.length - 1);
            }
        }
        try (LlamaContext restored = newContext()) {
            restored.loadState(state);
            assertThat(restored.tokens()).containsExactly(promptTokens);
            try (Generation g = restored.generate(prompt, greedy)) {
                assertThat(g.stream().map(Token::id).toList()).isEqualTo(first);
                assertThat(g.result().cachedPromptTokens()).isEqualTo(promptTokens.length - 1);
            }
        }
        assertThatThrownBy(() -> {
            try (LlamaContext c = newContext()) {
                c.loadState(new byte[] {1, 2, 3});
            }
        }).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void stateSavedToAFileRestoresTheSameContinuation(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        GenerateOptions greedy = GenerateOptions.builder().maxTokens(12).sampler(Sampler.greedy()).build();
        String prompt = "Saved to a file, restored elsewhere";
        java.nio.file.Path file = dir.resolve("state.bin");
        List<Integer> first;
        try (LlamaContext ctx = newContext()) {
            ctx.evaluate(model.vocabulary().tokenize(prompt, true, true));
            ctx.saveState(file);
            first = ctx.generate(prompt, greedy).stream().map(Token::id).toList();
        }
        try (LlamaContext restored = newContext()) {
            restored.loadState(file);
            assertThat(restored.tokens()).containsExactly(model.vocabulary().tokenize(prompt, true, true));
            try (Generation g = restored.generate(prompt, greedy)) {
                assertThat(g.stream().map(Token::id).toList()).isEqualTo(first);
                assertThat(g.result().cachedPromptTokens()).isEqualTo(g.result().promptTokens() - 1);
            }
            assertThatThrownBy(() -> restored.loadState(dir.resolve("missing.bin")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("missing.bin");
        }
    }

    @Test
    void badInputIsRejectedWithClearMessages() {
        try (LlamaContext ctx = newContext()) {
            assertThatThrownBy(() -> ctx.generate(new int[] {1, 40000}, GenerateOptions.defaults()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("40000");
            int[] tooLong = new int[600];
            java.util.Arrays.fill(tooLong, 100);
            assertThatThrownBy(() -> ctx.generate(tooLong, GenerateOptions.defaults()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("600").hasMessageContaining("512");
            assertThatThrownBy(() -> ctx.generate(new int[0], GenerateOptions.defaults()))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> ctx.memory().remove(5, 0, -1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sequence id 5");
        }
        assertThatThrownBy(() -> ContextOptions.builder().threads(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("threads");
        assertThatThrownBy(() -> GenerateOptions.builder().maxTokens(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxTokens");
    }

    @Test
    void defaultThreadsArePhysicalCores() {
        assertThat(ContextOptions.defaults().threads()).isEmpty();
        assertThat(ContextOptions.defaultThreads())
                .isEqualTo(io.github.llamaffm.internal.CpuInfo.physicalCores())
                .isLessThanOrEqualTo(Runtime.getRuntime().availableProcessors());
    }
}
