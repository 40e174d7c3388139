package io.github.llamaffm.gguf;

import org.junit.jupiter.api.Tag;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads llama.cpp's real SPM vocabulary file, written by gguf-py. */
@Tag("no-model")
class VocabFileTest {
    @TempDir
    Path dir;

    @Test
    void readsTheLlamaSpmVocabulary() throws IOException {
        Path vocab = TestVocab.spm();
        long start = System.nanoTime();
        GgufFile f = GgufFile.read(vocab);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(took).as("reading 32000 tokens").isLessThan(Duration.ofSeconds(5));
        assertThat(f.version()).isEqualTo(3);
        assertThat(f.tensors()).isEmpty();
        assertThat(f.getString("general.architecture")).isEqualTo("llama");
        assertThat(f.getString("tokenizer.ggml.model")).isEqualTo("llama");
        assertThat(f.getStringArray("tokenizer.ggml.tokens")).hasSize(32000).startsWith("<unk>", "<s>", "</s>");
        assertThat(f.get("tokenizer.ggml.scores")).satisfies(v -> {
            assertThat(v.isArray()).isTrue();
            assertThat(v.type()).isEqualTo(GgufType.FLOAT32);
            assertThat(v.asList()).hasSize(32000);
        });
        assertThat(f.get("tokenizer.ggml.token_type").type()).isEqualTo(GgufType.INT32);
        assertThat(f.get("tokenizer.ggml.bos_token_id")).isEqualTo(GgufValue.uint32(1));
        assertThat(f.getInt("tokenizer.ggml.bos_token_id")).isEqualTo(1);
        assertThat(f.getInt("tokenizer.ggml.eos_token_id")).isEqualTo(2);
        assertThat(f.getBoolean("tokenizer.ggml.add_bos_token")).isTrue();
        assertThat(f.getFloat("llama.attention.layer_norm_rms_epsilon")).isEqualTo(1e-5f);
    }

    @Test
    void rewritingTheVocabularyReproducesItsBytes() throws IOException {
        Path vocab = TestVocab.spm();
        Path copy = dir.resolve("copy.gguf");
        new GgufWriter().putAll(GgufFile.read(vocab).typedMetadata()).write(copy);

        byte[] original = Files.readAllBytes(vocab);
        byte[] written = Files.readAllBytes(copy);
        // gguf-py omits the trailing padding that llama.cpp's writer (and ours) adds, so compare the common part.
        assertThat(written.length - original.length).isBetween(0, 31);
        assertThat(Arrays.copyOf(written, original.length)).isEqualTo(original);
    }
}
