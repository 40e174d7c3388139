package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The GPU tier ({@code mvn verify -Pgpu} with a GPU build, {@code -Dllamaffm.backend=cuda}): a model offloaded to the
 * GPU computes the same logits as on the CPU (within float tolerance) and generates through the same engine.
 */
@Tag("gpu")
class GpuOffloadTest {

    @Test
    void offloadedLogitsMatchTheCpuAndGenerationRuns() {
        assertThat(LlamaRuntime.devices()).as("a GPU device (this tier needs a GPU build and a GPU)")
                .anyMatch(d -> d.type() == BackendDevice.Type.GPU || d.type() == BackendDevice.Type.INTEGRATED_GPU);
        int[] prompt;
        float[] cpu;
        try (LlamaModel model = LlamaModel.load(TestModels.tiny(), ModelOptions.builder().gpuLayers(0).build());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            prompt = model.vocabulary().tokenize("The GPU and the CPU agree", true, false);
            ctx.evaluate(prompt);
            cpu = ctx.logits();
        }
        try (LlamaModel model = LlamaModel.load(TestModels.tiny(), ModelOptions.builder().gpuLayers(-1).build());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            ctx.evaluate(prompt);
            float[] gpu = ctx.logits();
            float scale = 0;
            for (float f : cpu) {
                scale = Math.max(scale, Math.abs(f));
            }
            for (int i = 0; i < cpu.length; i++) {
                assertThat(gpu[i]).as("logit " + i).isCloseTo(cpu[i], org.assertj.core.data.Offset.offset(1e-3f * scale + 1e-4f));
            }
            ctx.clear();
            GenerationResult r = ctx.generate(prompt, GenerateOptions.builder().maxTokens(8).sampler(Sampler.greedy())
                    .build()).result();
            assertThat(r.generatedTokens() + (r.finishReason() == FinishReason.END_OF_GENERATION ? 1 : 0)).isPositive();
        }
    }
}
