package io.github.llamaffm;

import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.gguf.GgufWriter;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Control vectors: a generated vector file in llama.cpp's format, applied through the facade, changes greedy output
 * exactly as upstream's {@code llama-completion --control-vector-scaled} (and {@code --control-vector-layer-range})
 * does on the same model; clearing restores the plain output; bad files and mismatched models are refused before
 * llama.cpp sees them.
 */
@Tag("tiny-model")
class ControlVectorTest {
    private static final TinyModel.Spec SPEC = TinyModel.Spec.builder().layers(4).seed(31).build();
    private static final String PROMPT = "Once upon a time";
    private static final int N = 24;
    private static final GenerateOptions GREEDY = GenerateOptions.builder().maxTokens(N).sampler(Sampler.greedy()).build();

    @TempDir
    Path dir;

    private Path vectorFile(String name, int embd, int layers, long seed) throws Exception {
        GgufWriter w = new GgufWriter().putString("general.architecture", "controlvector")
                .putString("controlvector.model_hint", "llama").putUInt32("controlvector.layer_count", layers);
        SplittableRandom r = new SplittableRandom(seed);
        for (int layer = 1; layer <= layers; layer++) {
            float[] d = new float[embd];
            for (int j = 0; j < embd; j++) {
                d[j] = (float) r.nextDouble(-1, 1);
            }
            w.addTensor("direction." + layer, GgmlType.F32, d, embd);
        }
        Path f = dir.resolve(name);
        w.write(f);
        return f;
    }

    @Test
    void aControlVectorChangesGreedyOutputAsUpstreamDoes() throws Exception {
        Path model = TestModels.tiny(SPEC);
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(256).threads(1).build())) {
            int embd = m.info().embeddingSize();
            Path file = vectorFile("v.gguf", embd, m.info().layers() - 1, 5);
            ControlVector v = ControlVector.load(file);
            assertThat(v.embeddingSize()).isEqualTo(embd);
            assertThat(v.maxLayer()).isEqualTo(m.info().layers() - 1);

            String plain = ctx.generate(PROMPT, GREEDY).text();
            ctx.setControlVectors(Map.of(v, 0.8f));
            String steered = ctx.generate(PROMPT, GREEDY).text();
            assertThat(steered).isNotEqualTo(plain);
            assertThat(upstream(model, "--control-vector-scaled", file + ":0.8")).isEqualTo((PROMPT + steered).strip());

            ctx.setControlVectors(Map.of(v, 0.8f), 2, 3);
            String ranged = ctx.generate(PROMPT, GREEDY).text();
            assertThat(upstream(model, "--control-vector-scaled", file + ":0.8",
                    "--control-vector-layer-range", "2", "3")).isEqualTo((PROMPT + ranged).strip());

            ctx.clearControlVectors();
            assertThat(ctx.generate(PROMPT, GREEDY).text()).isEqualTo(plain);
            assertThat(upstream(model)).isEqualTo((PROMPT + plain).strip());
        }
    }

    @Test
    void badFilesAndMismatchedModelsAreRefused() throws Exception {
        assertThatThrownBy(() -> ControlVector.load(dir.resolve("missing.gguf")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not found");
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a gguf");
        assertThatThrownBy(() -> ControlVector.load(junk)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a valid GGUF");
        Path badName = dir.resolve("bad.gguf");
        new GgufWriter().addTensor("direction.0", GgmlType.F32, new float[4], 4).write(badName);
        assertThatThrownBy(() -> ControlVector.load(badName)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("direction.<layer>");
        try (LlamaModel m = LlamaModel.load(TestModels.tiny(SPEC));
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(256).threads(1).build())) {
            ControlVector other = ControlVector.load(vectorFile("other.gguf", m.info().embeddingSize() + 8, 2, 1));
            assertThatThrownBy(() -> ctx.setControlVectors(Map.of(other, 1f))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("embedding size");
            ControlVector ok = ControlVector.load(vectorFile("ok.gguf", m.info().embeddingSize(), 2, 1));
            assertThatThrownBy(() -> ctx.setControlVectors(Map.of(ok, 1f), 0, 2)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> ctx.setControlVectors(Map.of(ok, Float.NaN))).isInstanceOf(IllegalArgumentException.class);
            assertThat(ctx.generate(PROMPT, GREEDY).result().generatedTokens()).isEqualTo(N);
        }
    }

    private static String upstream(Path model, String... extra) {
        List<String> args = new ArrayList<>(List.of("-c", "256", "--temp", "0"));
        args.addAll(List.of(extra));
        return TestModels.llamaCompletion(model, PROMPT, N, args.toArray(String[]::new));
    }
}
