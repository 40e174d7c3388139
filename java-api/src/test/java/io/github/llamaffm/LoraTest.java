package io.github.llamaffm;

import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.gguf.GgufFile;
import io.github.llamaffm.gguf.GgufTensorInfo;
import io.github.llamaffm.gguf.GgufWriter;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * LoRA adapters on a generated tiny model. The outside truth is the LoRA definition itself: a context with the
 * adapter at scale s computes what the base model with W + s * (alpha / rank) * B A merged into its weights computes
 * (the merged model is written here from the base file's tensors and run without any adapter).
 */
@Tag("tiny-model")
class LoraTest {
    private static final int RANK = 4;
    private static final float ALPHA = 8;
    private static final List<String> TARGETS = List.of("blk.0.attn_q.weight", "blk.1.ffn_up.weight");
    private static final int[] PROMPT_IDS = {1, 450, 4996, 17354, 1701, 432};

    @TempDir
    Path dir;

    @Test
    void adapterAtAScaleComputesWhatTheMergedWeightsCompute() throws IOException {
        Path base = TestModels.tiny();
        Path lora = dir.resolve("lora.gguf");
        Map<String, float[][]> ab = writeLora(base, lora, "llama", 0.05);
        float scale = 0.5f;
        Path merged = dir.resolve("merged.gguf");
        writeMerged(base, ab, scale * ALPHA / RANK, merged);

        float[] expected;
        try (LlamaModel m = LlamaModel.load(merged); LlamaContext ctx = m.newContext(options())) {
            ctx.evaluate(PROMPT_IDS);
            expected = ctx.logits();
        }
        try (LlamaModel m = LlamaModel.load(base); LlamaContext ctx = m.newContext(options());
             LoraAdapter adapter = m.loadLora(lora)) {
            ctx.evaluate(PROMPT_IDS);
            float[] plain = ctx.logits();

            ctx.setLoras(Map.of(adapter, scale));
            assertThat(ctx.loras()).containsEntry(adapter, scale);
            assertThat(ctx.tokens()).as("the cache is emptied when the set changes").isEmpty();
            ctx.evaluate(PROMPT_IDS);
            float[] adapted = ctx.logits();
            assertThat(maxDiff(adapted, plain)).as("the adapter changes the logits").isGreaterThan(1e-2f);
            assertThat(maxDiff(adapted, expected)).as("adapter vs merged weights").isLessThan(2e-3f);

            ctx.clearLoras();
            assertThat(ctx.loras()).isEmpty();
            ctx.evaluate(PROMPT_IDS);
            assertThat(ctx.logits()).as("removed: back to the base model").containsExactly(plain);

            ctx.setLoras(Map.of(adapter, 0f));
            ctx.evaluate(PROMPT_IDS);
            assertThat(maxDiff(ctx.logits(), plain)).as("scale 0").isLessThan(1e-5f);
            ctx.clearLoras();
        }
    }

    @Test
    void anAdapterThatDoesNotMatchTheModelIsRefusedWithLlamaCppsReason() throws IOException {
        Path base = TestModels.tiny();
        Path other = TestModels.tiny(TinyModel.Spec.builder().embeddingSize(128).seed(3).build());
        Path lora = dir.resolve("other-shape.gguf");
        writeLora(other, lora, "llama", 0.05);
        Path wrongArch = dir.resolve("wrong-arch.gguf");
        writeLora(base, wrongArch, "gemma3", 0.05);
        try (LlamaModel m = LlamaModel.load(base)) {
            assertThatThrownBy(() -> m.loadLora(lora)).isInstanceOf(LlamaException.class)
                    .hasMessageContaining("LoRA").hasMessageContaining("shape");
            assertThatThrownBy(() -> m.loadLora(wrongArch)).isInstanceOf(LlamaException.class)
                    .hasMessageContaining("arch");
            assertThatThrownBy(() -> m.loadLora(base)).as("a model is not an adapter")
                    .isInstanceOf(LlamaException.class).hasMessageContaining("adapter");
            assertThatThrownBy(() -> m.loadLora(dir.resolve("missing.gguf")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not exist");
        }
        // An adapter of another model instance is refused before any native call; a closed one too.
        Path good = dir.resolve("good.gguf");
        writeLora(base, good, "llama", 0.05);
        try (LlamaModel a = LlamaModel.load(base); LlamaModel b = LlamaModel.load(base);
             LlamaContext ctx = b.newContext(options())) {
            LoraAdapter forA = a.loadLora(good);
            assertThatThrownBy(() -> ctx.setLoras(Map.of(forA, 1f))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("not for this context's model");
            LoraAdapter forB = b.loadLora(good);
            assertThatThrownBy(() -> ctx.setLoras(Map.of(forB, Float.NaN)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("finite");
            ctx.setLoras(Map.of(forB, 1f));
            forB.close(); // the context keeps it alive while applied
            ctx.evaluate(PROMPT_IDS);
            assertThat(ctx.logits()).hasSize(b.vocabulary().size());
            assertThatThrownBy(() -> ctx.setLoras(Map.of(forB, 0.5f))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("closed");
            ctx.clearLoras(); // releases the last reference: freed now
            forA.close();
        }
    }

    private static ContextOptions options() {
        return ContextOptions.builder().contextSize(256).threads(1).build();
    }

    private static float maxDiff(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    /** A LoRA GGUF for {@link #TARGETS} of {@code model}'s shapes: A is [in, rank], B is [rank, out] (ggml order). */
    /**
     * Adapters per generation ({@link GenerateOptions.Builder#loras}): the same text as a context whose own set is
     * that adapter, the context's set untouched, no prompt reuse across sets; in a scheduler, two sequences with
     * different sets run at once and each gives its single-run text.
     */
    @Test
    void adaptersPerGenerationAndPerScheduledSequence() throws IOException {
        Path base = TestModels.tiny();
        Path lora = dir.resolve("strong.gguf");
        writeLora(base, lora, "llama", 0.1);
        String prompt = "Once upon a time";
        GenerateOptions greedy = GenerateOptions.builder().maxTokens(16).sampler(Sampler.greedy()).build();
        try (LlamaModel m = LlamaModel.load(base); LoraAdapter adapter = m.loadLora(lora)) {
            GenerateOptions withAdapter = greedy.toBuilder().loras(Map.of(adapter, 1f)).build();
            String plain;
            String adapted;
            try (LlamaContext ctx = m.newContext(options())) {
                plain = ctx.generate(prompt, greedy).text();
                ctx.setLoras(Map.of(adapter, 1f));
                adapted = ctx.generate(prompt, greedy).text();
            }
            assertThat(adapted).isNotEqualTo(plain);
            try (LlamaContext ctx = m.newContext(options())) {
                assertThat(ctx.generate(prompt, withAdapter).text()).isEqualTo(adapted);
                assertThat(ctx.loras()).as("the context's own set is untouched").isEmpty();
                GenerationResult back = ctx.generate(prompt, greedy).result();
                assertThat(back.text()).isEqualTo(plain);
                assertThat(back.cachedPromptTokens()).as("cells computed with the adapter are not reused").isZero();
                assertThat(ctx.generate(prompt, greedy).result().cachedPromptTokens()).as("same set: reused")
                        .isPositive();
                assertThat(ctx.generate(prompt, greedy.toBuilder().loras(Map.of()).build()).text())
                        .as("an empty set: the base model").isEqualTo(plain);
            }
            try (LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(512).sequences(2).threads(1)
                    .build());
                 SequenceScheduler scheduler = ctx.newScheduler()) {
                StringBuilder a = new StringBuilder();
                StringBuilder b = new StringBuilder();
                scheduler.submit(prompt, withAdapter, (s, t) -> a.append(t.text()));
                scheduler.submit(prompt, greedy, (s, t) -> b.append(t.text()));
                while (scheduler.step()) {
                    // both sets take turns
                }
                assertThat(a.toString()).isEqualTo(adapted);
                assertThat(b.toString()).isEqualTo(plain);
            }
            try (LlamaModel other = LlamaModel.load(base); LlamaContext ctx = other.newContext(options())) {
                assertThatThrownBy(() -> ctx.generate(prompt, withAdapter)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("not for this context's model");
            }
        }
    }

    private static Map<String, float[][]> writeLora(Path model, Path out, String arch, double std) throws IOException {
        return TinyModel.writeLora(model, out, arch, TARGETS, RANK, ALPHA, std * 4, 11);
    }

    /** The base model with W + factor * B A added to each target (W[j][i] at j * in + i). */
    private static void writeMerged(Path base, Map<String, float[][]> ab, float factor, Path out) throws IOException {
        GgufFile g = GgufFile.read(base);
        GgufWriter w = new GgufWriter();
        g.typedMetadata().forEach((k, v) -> {
            if (!k.equals("general.file_type")) {
                w.put(k, v);
            }
        });
        for (GgufTensorInfo t : g.tensors()) {
            float[] data = g.readFloats(t.name());
            long[] dims = t.dims().stream().mapToLong(Long::longValue).toArray();
            float[][] pair = ab.get(t.name());
            if (pair != null) {
                int in = (int) dims[0];
                int outDim = (int) dims[1];
                for (int j = 0; j < outDim; j++) {
                    for (int i = 0; i < in; i++) {
                        double d = 0;
                        for (int k = 0; k < RANK; k++) {
                            d += (double) pair[1][j * RANK + k] * pair[0][k * in + i];
                        }
                        data[j * in + i] += (float) (factor * d);
                    }
                }
            }
            w.addTensor(t.name(), GgmlType.F32, data, dims);
        }
        w.write(out);
    }

}
