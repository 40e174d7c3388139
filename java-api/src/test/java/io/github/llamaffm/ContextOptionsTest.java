package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Unset options resolve for the model and machine; set ones are used as given; effective values in one place. */
@Tag("tiny-model")
class ContextOptionsTest {

    @Test
    void unsetIsNotTheSameAsTheDefaultValue() {
        ContextOptions unset = ContextOptions.defaults();
        assertThat(unset.contextSize()).isEmpty();
        assertThat(unset.threads()).isEmpty();
        assertThat(unset.batchThreads()).isEmpty();
        ContextOptions set = ContextOptions.builder().contextSize(ContextOptions.DEFAULT_CONTEXT_SIZE).threads(3).build();
        assertThat(set.contextSize()).hasValue(ContextOptions.DEFAULT_CONTEXT_SIZE);
        assertThat(set.threads()).hasValue(3);
        assertThat(set.toBuilder().unsetContextSize().unsetThreads().build().contextSize()).isEmpty();
        assertThat(set.toString()).contains("contextSize=4096").contains("batchThreads=unset");
    }

    @Test
    void effectiveValuesComeFromLlamaCppAndExplicitSizesAreNotCapped() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            int training = model.info().trainingContext();
            assertThat(training).isLessThan(ContextOptions.DEFAULT_CONTEXT_SIZE);
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().batchSize(64).build())) {
                ContextSettings s = ctx.settings();
                assertThat(s.contextSize()).isEqualTo(training).isEqualTo(ctx.contextSize()); // default, capped
                assertThat(s.sequenceContextSize()).isEqualTo(training);
                assertThat(s.sequences()).isOne();
                assertThat(s.batchSize()).isEqualTo(64);
                assertThat(s.microBatchSize()).isEqualTo(64); // capped at the batch size
                assertThat(s.threads()).isEqualTo(ContextOptions.defaultThreads());
                assertThat(s.batchThreads()).isEqualTo(s.threads());
                assertThat(s.kvCacheBytes()).isEqualTo(ctx.kvCacheBytes()).isPositive();
                // llama.cpp's KV layout: per layer, a K and a V row of kvHeads x headDim F16 values per cell.
                ModelInfo info = model.info();
                long headDim = info.embeddingSize() / info.heads();
                assertThat(s.kvCacheBytes()).isEqualTo(
                        (long) s.contextSize() * info.layers() * info.kvHeads() * headDim * 2 * Short.BYTES);
            }
            // An explicit size equal to the default is used as given, like any other explicit size.
            try (LlamaContext ctx = model.newContext(ContextOptions.builder()
                    .contextSize(ContextOptions.DEFAULT_CONTEXT_SIZE).threads(1).batchThreads(2).build())) {
                assertThat(ctx.settings().contextSize()).isEqualTo(ContextOptions.DEFAULT_CONTEXT_SIZE);
                assertThat(ctx.settings().threads()).isOne();
                assertThat(ctx.settings().batchThreads()).isEqualTo(2);
            }
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(0).sequences(2).build())) {
                assertThat(ctx.settings().contextSize()).isEqualTo(training);
                assertThat(ctx.settings().sequences()).isEqualTo(2);
                assertThat(ctx.settings().sequenceContextSize()).isEqualTo(training / 2);
            }
        }
    }

    @Test
    void aContextWhoseKvCacheCannotFitInThisMachineIsRefusedBeforeLlamaCppTries() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> model.newContext(
                            ContextOptions.builder().contextSize(Integer.MAX_VALUE).build()))
                    .isInstanceOf(ContextCreationException.class)
                    .hasMessageContaining("a context of " + Integer.MAX_VALUE + " tokens needs at least")
                    .hasMessageContaining("more than the")
                    .hasMessageContaining("use a smaller contextSize");
            // The model still works afterwards.
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
                assertThat(ctx.kvCacheBytes()).isPositive();
            }
        }
    }

    @Test
    void backendSamplingCountsOnlyTheRpcServersTheModelUses() {
        // ggml keeps an RPC server's device registered after the model that used it is gone
        java.util.List<BackendDevice> devices = java.util.List.of(
                new BackendDevice("CPU", "cpu", BackendDevice.Type.CPU, 0, 0),
                new BackendDevice("RPC0[127.0.0.1:50052]", "127.0.0.1:50052", BackendDevice.Type.GPU, 0, 0));
        ContextOptions unset = ContextOptions.defaults();
        assertThat(unset.resolveBackendSampling(ModelOptions.defaults(), 2, devices)).isFalse();
        assertThat(unset.resolveBackendSampling(ModelOptions.builder().rpcServers(java.util.List.of("127.0.0.1:50052"))
                .build(), 2, devices)).isTrue();
        java.util.List<BackendDevice> gpu = java.util.List.of(
                new BackendDevice("CUDA0", "NVIDIA H100", BackendDevice.Type.GPU, 0, 0));
        assertThat(unset.resolveBackendSampling(ModelOptions.defaults(), 2, gpu)).isTrue();
    }

    @Test
    void anEmbeddingsContextDefaultsToMicroBatchesAsLargeAsTheBatch() {
        // A pooled input must fit one micro-batch: with 512, any text over 512 tokens would be refused.
        assertThat(ContextOptions.builder().embeddings(true).build().microBatchSize()).isEqualTo(2048);
        assertThat(ContextOptions.builder().embeddings(true).batchSize(1024).build().microBatchSize()).isEqualTo(1024);
        assertThat(ContextOptions.defaults().microBatchSize()).isEqualTo(512);
        assertThat(ContextOptions.builder().embeddings(true).microBatchSize(256).build().microBatchSize()).isEqualTo(256);
        // unset stays unset through toBuilder: turning embeddings off gives the plain default again
        assertThat(ContextOptions.builder().embeddings(true).build().toBuilder().embeddings(false).build()
                .microBatchSize()).isEqualTo(512);
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).contextSize(1024).build())) {
            String longText = "word ".repeat(700);
            assertThat(model.vocabulary().tokenize(longText, true, false).length).isGreaterThan(512);
            assertThat(ctx.embed(longText, true)).hasSize(model.info().embeddingSize());
        }
    }

    /**
     * The warm-up generation at creation (on by default, as llama.cpp's tools) runs through llama.cpp (its counters
     * show time spent on a prompt) and leaves nothing behind: an empty cache, and first generations, greedy and seeded,
     * token for token the same as a context created without it.
     */
    @Test
    void theWarmupGenerationRunsAndLeavesNothingBehind() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            assertThat(ContextOptions.defaults().warmup()).isTrue();
            GenerateOptions greedy = GenerateOptions.builder().maxTokens(24).sampler(Sampler.greedy()).build();
            GenerateOptions seeded = GenerateOptions.builder().maxTokens(24)
                    .sampler(Sampler.builder().topK(40).topP(0.9f).temperature(0.8f).seed(7).build()).build();
            String[] cold = new String[2];
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).warmup(false).build())) {
                assertThat(PerfCounters.of(ctx.segment()).promptMillis()).isZero();
                cold[0] = text(ctx, greedy);
                ctx.clear();
                cold[1] = text(ctx, seeded);
            }
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
                assertThat(PerfCounters.of(ctx.segment()).promptMillis()).isPositive(); // the warm-up's prompt
                assertThat(ctx.tokens()).isEmpty();
                assertThat(ctx.memory().maxPosition(0)).isEqualTo(-1);
                assertThat(text(ctx, greedy)).isEqualTo(cold[0]);
                ctx.clear();
                assertThat(text(ctx, seeded)).isEqualTo(cold[1]);
            }
            // Embeddings contexts do not generate: no warm-up.
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).build())) {
                assertThat(PerfCounters.of(ctx.segment()).promptMillis()).isZero();
            }
        }
    }

    private static String text(LlamaContext ctx, GenerateOptions options) {
        StringBuilder sb = new StringBuilder();
        try (Generation g = ctx.generate("Once upon a time", options)) {
            for (Token t : g) {
                sb.append(t.text());
            }
        }
        return sb.toString();
    }
}
