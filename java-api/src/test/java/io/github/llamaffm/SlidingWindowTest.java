package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Mistral's sliding-window attention on the llama architecture (native/patches/0001-llama-arch-sliding-window.patch):
 * proofs on tiny generated one-layer models, where the window is exact.
 */
@Tag("tiny-model")
@Tag("slow")
class SlidingWindowTest {
    private static final int W = 16;
    private static final TinyModel.Spec ONE_LAYER = TinyModel.Spec.builder().layers(1).embeddingSize(64).heads(4)
            .kvHeads(2).contextLength(512).seed(11).build();

    private static int[] sequence(int n, int salt) {
        int[] t = new int[n];
        t[0] = 1; // BOS
        for (int i = 1; i < n; i++) {
            t[i] = 100 + ((i * 7919 + salt * 104729) % 20000);
        }
        return t;
    }

    /** F32 KV cache: comparisons across different absolute positions are then not blurred by f16 rounding. */
    private static final ContextOptions EXACT = ContextOptions.builder().contextSize(256)
            .keyType(KvCacheType.F32).valueType(KvCacheType.F32).build();

    private static float[] lastLogits(LlamaModel model, int[] tokens) {
        try (LlamaContext ctx = model.newContext(EXACT)) {
            ctx.evaluate(tokens);
            return ctx.logits();
        }
    }

    /** Largest difference relative to the largest logit magnitude. */
    private static double relativeDiff(float[] a, float[] b) {
        double scale = 0;
        for (float v : a) {
            scale = Math.max(scale, Math.abs(v));
        }
        return maxAbsDiff(a, b) / scale;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void theWindowIsReportedAndCanBeForcedByOption() {
        try (LlamaModel withKey = LlamaModel.load(TestModels.tiny(ONE_LAYER.toBuilder().slidingWindow(W).build()));
             LlamaModel withoutKey = LlamaModel.load(TestModels.tiny(ONE_LAYER));
             LlamaModel forced = LlamaModel.load(TestModels.tiny(ONE_LAYER), ModelOptions.builder().slidingWindow(W).build())) {
            assertThat(withKey.info().slidingWindow()).isEqualTo(W);
            assertThat(withoutKey.info().slidingWindow()).isZero();
            assertThat(forced.info().slidingWindow()).isEqualTo(W);
        }
    }

    @Test
    void tokensOlderThanTheWindowNoLongerMatterAndDoWithoutIt() {
        int n = 40;
        int[] original = sequence(n, 1);
        int[] changedOld = original.clone();
        for (int i = 1; i < n - W - 2; i++) {
            changedOld[i] = 200 + i; // only tokens well outside the last token's window
        }
        try (LlamaModel swa = LlamaModel.load(TestModels.tiny(ONE_LAYER), ModelOptions.builder().slidingWindow(W).build());
             LlamaModel full = LlamaModel.load(TestModels.tiny(ONE_LAYER))) {
            assertThat(maxAbsDiff(lastLogits(swa, original), lastLogits(swa, changedOld))).as("SWA").isLessThan(1e-4);
            assertThat(maxAbsDiff(lastLogits(full, original), lastLogits(full, changedOld))).as("full attention").isGreaterThan(1e-3);
        }
    }

    @Test
    void insideTheWindowSlidingAndFullAttentionAgree() {
        int[] tokens = sequence(W - 2, 2);
        try (LlamaModel swa = LlamaModel.load(TestModels.tiny(ONE_LAYER), ModelOptions.builder().slidingWindow(W).build());
             LlamaModel full = LlamaModel.load(TestModels.tiny(ONE_LAYER))) {
            assertThat(maxAbsDiff(lastLogits(swa, tokens), lastLogits(full, tokens))).isLessThan(1e-4);
        }
    }

    @Test
    void generationRollsSeveralWindowsAndMatchesEvaluatingOnlyTheWindow() {
        try (LlamaModel swa = LlamaModel.load(TestModels.tiny(ONE_LAYER), ModelOptions.builder().slidingWindow(W).build());
             LlamaContext ctx = swa.newContext(EXACT.toBuilder().contextSize(1024).microBatchSize(8).build())) {
            // 300 tokens: past the rolling buffer (window + micro-batch cells, padded to 256), so it wraps.
            try (Generation g = ctx.generate("A long walk", GenerateOptions.builder().maxTokens(300).sampler(Sampler.greedy()).build())) {
                assertThat(g.stream().count()).isEqualTo(300L);
                assertThat(g.result().finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            }
            int[] history = ctx.tokens();
            assertThat(history.length).isGreaterThan(300);
            assertThat(ctx.memory().minPosition(0)).as("old cells were dropped from the rolling buffer").isPositive();
            float[] rolled = ctx.logits();
            // One layer: the last token sees exactly the last W positions. Reference: a fresh context evaluating
            // only those W tokens at the same positions, everything before them replaced by filler.
            int n = history.length;
            int[] onlyWindow = history.clone();
            Arrays.fill(onlyWindow, 1, n - W, 500);
            float[] reference = lastLogitsAtLength(swa, onlyWindow);
            assertThat(relativeDiff(rolled, reference)).isLessThan(1e-5);
            int[] oneMore = history.clone();
            Arrays.fill(oneMore, 1, n - W + 1, 500); // also replaces the oldest token inside the window
            assertThat(relativeDiff(rolled, lastLogitsAtLength(swa, oneMore))).as("the window's oldest token matters")
                    .isGreaterThan(1e-2);
        }
    }

    /** Token by token, like generation, so both sides use the same matmul kernels (no batch-size rounding). */
    private static float[] lastLogitsAtLength(LlamaModel model, int[] tokens) {
        try (LlamaContext ctx = model.newContext(EXACT.toBuilder().contextSize(1024).microBatchSize(8).build())) {
            for (int t : tokens) {
                ctx.evaluate(new int[] {t});
            }
            return ctx.logits();
        }
    }

    @Test
    void kvMemoryAtMistralShapesShrinksAndSwaFullRestoresIt() {
        // Mistral 7B's per-layer KV shape: 8 KV heads x 128 dims.
        TinyModel.Spec shapes = TinyModel.Spec.builder().layers(1).embeddingSize(1024).heads(8).kvHeads(8)
                .feedForwardSize(64).contextLength(32768).tensorType(GgmlType.F16).seed(3).build();
        try (LlamaModel full = LlamaModel.load(TestModels.tiny(shapes));
             LlamaModel swa = LlamaModel.load(TestModels.tiny(shapes), ModelOptions.builder().slidingWindow(4096).build())) {
            ContextOptions at32k = ContextOptions.builder().contextSize(32768).build();
            long fullBytes;
            long swaBytes;
            long swaFullBytes;
            try (LlamaContext c = full.newContext(at32k)) {
                fullBytes = c.kvCacheBytes();
            }
            try (LlamaContext c = swa.newContext(at32k)) {
                swaBytes = c.kvCacheBytes();
            }
            try (LlamaContext c = swa.newContext(at32k.toBuilder().swaFull(true).build())) {
                swaFullBytes = c.kvCacheBytes();
            }
            // f16 K and V: 32768 cells x 1024 values x 2 bytes x 2 = 128 MiB per layer.
            assertThat(fullBytes).isEqualTo(128L * 1024 * 1024);
            assertThat((double) swaBytes / fullBytes).as("SWA / full").isLessThanOrEqualTo(0.15).isPositive();
            assertThat(swaFullBytes).isEqualTo(fullBytes);
            System.out.printf("KV bytes at 32k (f16, 1 layer, 8x128): full=%d swa=%d ratio=%.4f%n",
                    fullBytes, swaBytes, (double) swaBytes / fullBytes);
        }
    }

    @Test
    void multipleSequencesAndSaveRestoreWorkWithTheWindow() {
        try (LlamaModel swa = LlamaModel.load(TestModels.tiny(ONE_LAYER), ModelOptions.builder().slidingWindow(W).build())) {
            GenerateOptions greedy = GenerateOptions.builder().maxTokens(2 * W).sampler(Sampler.greedy()).build();
            ContextOptions two = ContextOptions.builder().contextSize(256).sequences(2).build();
            byte[] state;
            List<Integer> continuation;
            try (LlamaContext ctx = swa.newContext(two)) {
                ctx.evaluate(sequence(3 * W, 3));
                ctx.memory().copy(0, 1, -1, -1);
                assertThat(ctx.memory().maxPosition(1)).isEqualTo(ctx.memory().maxPosition(0));
                state = ctx.saveState();
                int[] prompt = ctx.tokens();
                continuation = ctx.generate(prompt, greedy).stream().map(Token::id).toList();
            }
            try (LlamaContext restored = swa.newContext(two)) {
                restored.loadState(state);
                assertThat(restored.memory().maxPosition(1)).isEqualTo(3 * W - 1);
                List<Integer> again = restored.generate(restored.tokens(), greedy).stream().map(Token::id).toList();
                assertThat(again).isEqualTo(continuation).hasSize(2 * W);
            }
        }
    }
}
