package io.github.llamaffm.gguf;

import org.junit.jupiter.api.Tag;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.llamaffm.internal.TinyModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-model")
class TinyModelTest {
    @TempDir
    Path dir;

    private static final List<String> MODEL_KEYS = List.of(
            "general.architecture", "general.name", "general.file_type",
            "llama.context_length", "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
            "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "llama.vocab_size");

    private Path generate(TinyModel.Spec spec, String fileName) throws IOException {
        Path out = dir.resolve(fileName);
        TinyModel.write(spec, TestVocab.spm(), out);
        return out;
    }

    @Test
    void defaultModelHasExactlyTheExpectedMetadata() throws IOException {
        GgufFile vocab = GgufFile.read(TestVocab.spm());
        GgufFile m = GgufFile.read(generate(TinyModel.Spec.defaults(), "tiny.gguf"));

        List<String> expectedKeys = new ArrayList<>(MODEL_KEYS);
        vocab.metadata().keySet().stream().filter(k -> k.startsWith("tokenizer.")).forEach(expectedKeys::add);
        assertThat(m.metadata().keySet()).containsExactlyElementsOf(expectedKeys);

        assertThat(m.get("general.architecture")).isEqualTo(GgufValue.string("llama"));
        assertThat(m.get("general.name")).isEqualTo(GgufValue.string("llama-ffm tiny"));
        assertThat(m.get("general.file_type")).isEqualTo(GgufValue.uint32(0));
        assertThat(m.get("llama.context_length")).isEqualTo(GgufValue.uint32(2048));
        assertThat(m.get("llama.embedding_length")).isEqualTo(GgufValue.uint32(64));
        assertThat(m.get("llama.block_count")).isEqualTo(GgufValue.uint32(2));
        assertThat(m.get("llama.feed_forward_length")).isEqualTo(GgufValue.uint32(128));
        assertThat(m.get("llama.attention.head_count")).isEqualTo(GgufValue.uint32(4));
        assertThat(m.get("llama.attention.head_count_kv")).isEqualTo(GgufValue.uint32(2));
        assertThat(m.get("llama.rope.dimension_count")).isEqualTo(GgufValue.uint32(16));
        assertThat(m.get("llama.rope.freq_base")).isEqualTo(GgufValue.float32(10000f));
        assertThat(m.get("llama.attention.layer_norm_rms_epsilon")).isEqualTo(GgufValue.float32(1e-5f));
        assertThat(m.get("llama.vocab_size")).isEqualTo(GgufValue.uint32(32000));
        // The tokenizer is copied with its exact types.
        for (Map.Entry<String, GgufValue> e : vocab.typedMetadata().entrySet()) {
            if (e.getKey().startsWith("tokenizer.")) {
                assertThat(m.get(e.getKey())).as(e.getKey()).isEqualTo(e.getValue());
            }
        }
    }

    @Test
    void defaultModelHasExactlyTheExpectedTensors() throws IOException {
        GgufFile m = GgufFile.read(generate(TinyModel.Spec.defaults(), "tiny.gguf"));
        int embd = 64;
        int vocab = 32000;
        int kv = 32; // 2 kv heads of 64 / 4
        int ff = 128;

        List<GgufTensorInfo> expected = new ArrayList<>();
        expected.add(info("token_embd.weight", GgmlType.F32, embd, vocab));
        expected.add(info("output_norm.weight", GgmlType.F32, embd));
        expected.add(info("output.weight", GgmlType.F32, embd, vocab));
        for (int i = 0; i < 2; i++) {
            String p = "blk." + i + ".";
            expected.add(info(p + "attn_norm.weight", GgmlType.F32, embd));
            expected.add(info(p + "attn_q.weight", GgmlType.F32, embd, embd));
            expected.add(info(p + "attn_k.weight", GgmlType.F32, embd, kv));
            expected.add(info(p + "attn_v.weight", GgmlType.F32, embd, kv));
            expected.add(info(p + "attn_output.weight", GgmlType.F32, embd, embd));
            expected.add(info(p + "ffn_norm.weight", GgmlType.F32, embd));
            expected.add(info(p + "ffn_gate.weight", GgmlType.F32, embd, ff));
            expected.add(info(p + "ffn_up.weight", GgmlType.F32, embd, ff));
            expected.add(info(p + "ffn_down.weight", GgmlType.F32, ff, embd));
        }
        assertThat(m.tensors())
                .map(t -> new GgufTensorInfo(t.name(), t.dims(), t.type(), 0)) // offsets are checked below
                .containsExactlyElementsOf(expected);

        // Offsets are consecutive and aligned, as llama.cpp requires.
        long offset = 0;
        for (GgufTensorInfo t : m.tensors()) {
            assertThat(t.offset()).as(t.name()).isEqualTo(offset);
            offset = GgufFile.alignUp(offset + t.byteSize(), 32);
        }
        assertThat(Files.size(m.path())).isEqualTo(m.dataOffset() + offset);

        assertThat(m.readFloats("blk.1.ffn_norm.weight")).containsOnly(1.0f);
        float[] embeddings = m.readFloats("token_embd.weight");
        assertThat(stdDev(embeddings)).isBetween(0.9, 1.1);
        assertThat(stdDev(m.readFloats("blk.0.attn_q.weight"))).isBetween(0.1, 0.15); // 1/sqrt(64)
        assertThat(stdDev(m.readFloats("blk.0.ffn_down.weight"))).isBetween(0.07, 0.1); // 1/sqrt(128)
    }

    private static GgufTensorInfo info(String name, GgmlType type, long... dims) {
        return new GgufTensorInfo(name, Arrays.stream(dims).boxed().toList(), type, 0);
    }

    private static double stdDev(float[] a) {
        double sum = 0;
        double sq = 0;
        for (float v : a) {
            sum += v;
            sq += (double) v * v;
        }
        double mean = sum / a.length;
        return Math.sqrt(sq / a.length - mean * mean);
    }

    @Test
    void f16ModelWithSlidingWindowAndChatTemplate() throws IOException {
        TinyModel.Spec spec = TinyModel.Spec.builder()
                .tensorType(GgmlType.F16).slidingWindow(256).chatTemplate("{{ bos_token }}").name("custom")
                .layers(1).embeddingSize(32).heads(8).kvHeads(8).feedForwardSize(48).contextLength(512)
                .ropeFreqBase(1e6f).rmsEps(1e-6f)
                .build();
        GgufFile m = GgufFile.read(generate(spec, "f16.gguf"));

        assertThat(m.get("general.file_type")).isEqualTo(GgufValue.uint32(1));
        assertThat(m.get("general.name")).isEqualTo(GgufValue.string("custom"));
        assertThat(m.get("llama.attention.sliding_window")).isEqualTo(GgufValue.uint32(256));
        assertThat(m.get("tokenizer.chat_template")).isEqualTo(GgufValue.string("{{ bos_token }}"));
        assertThat(m.get("llama.rope.dimension_count")).isEqualTo(GgufValue.uint32(4));
        assertThat(m.get("llama.rope.freq_base")).isEqualTo(GgufValue.float32(1e6f));
        assertThat(m.get("llama.attention.layer_norm_rms_epsilon")).isEqualTo(GgufValue.float32(1e-6f));
        assertThat(m.tensors()).hasSize(3 + 9);
        for (GgufTensorInfo t : m.tensors()) {
            // Norms stay F32 (llama.cpp wants 1-D tensors in F32); matrices follow the spec.
            assertThat(t.type()).as(t.name()).isEqualTo(t.dims().size() == 1 ? GgmlType.F32 : GgmlType.F16);
        }
        assertThat(m.tensor("blk.0.attn_k.weight")).get().extracting(GgufTensorInfo::dims).isEqualTo(List.of(32L, 32L));
    }

    @Test
    void noSlidingWindowKeyByDefault() throws IOException {
        GgufFile m = GgufFile.read(generate(TinyModel.Spec.defaults(), "tiny.gguf"));
        assertThat(m.contains("llama.attention.sliding_window")).isFalse();
        assertThat(m.contains("tokenizer.chat_template")).isFalse();
    }

    @Test
    void generationIsDeterministic() throws IOException {
        TinyModel.Spec spec = TinyModel.Spec.defaults();
        byte[] first = Files.readAllBytes(generate(spec, "a.gguf"));
        byte[] second = Files.readAllBytes(generate(spec, "b.gguf"));
        byte[] otherSeed = Files.readAllBytes(generate(spec.toBuilder().seed(43).build(), "c.gguf"));

        assertThat(second).isEqualTo(first);
        assertThat(otherSeed).hasSameSizeAs(first).isNotEqualTo(first);
    }

    @Test
    void cachedGeneratesOnceAndKeysOnTheSpec() throws IOException {
        Path cache = dir.resolve("cache/nested");
        TinyModel.Spec spec = TinyModel.Spec.defaults();

        Path first = TinyModel.cached(spec, TestVocab.spm(), cache);
        assertThat(first).exists().hasParent(cache);
        assertThat(first.getFileName().toString()).startsWith("tiny-2x64-f32-").endsWith(".gguf");
        FileTime marker = FileTime.fromMillis(1_000_000_000_000L);
        Files.setLastModifiedTime(first, marker);

        assertThat(TinyModel.cached(spec, TestVocab.spm(), cache)).isEqualTo(first);
        assertThat(Files.getLastModifiedTime(first)).as("not regenerated").isEqualTo(marker);
        assertThat(TinyModel.cached(TinyModel.Spec.builder().build(), TestVocab.spm(), cache)).isEqualTo(first);

        Path other = TinyModel.cached(spec.toBuilder().chatTemplate("x").build(), TestVocab.spm(), cache);
        assertThat(other).isNotEqualTo(first).exists();
        assertThat(Files.readAllBytes(first)).isEqualTo(Files.readAllBytes(generate(spec, "direct.gguf")));
    }

    @Test
    void concurrentCachedCallsAgreeAndLeaveNoTemporaryFiles() throws Exception {
        Path cache = dir.resolve("cache");
        TinyModel.Spec spec = TinyModel.Spec.builder().seed(5).build();
        List<Future<Path>> results = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            for (int i = 0; i < 4; i++) {
                results.add(pool.submit(() -> TinyModel.cached(spec, TestVocab.spm(), cache)));
            }
        }
        Path first = results.getFirst().get();
        for (Future<Path> r : results) {
            assertThat(r.get()).isEqualTo(first);
        }
        assertThat(GgufFile.read(first).tensors()).hasSize(21);
        try (var files = Files.list(cache)) {
            assertThat(files).containsExactly(first);
        }
    }

    @Test
    void cacheKeyDependsOnEveryInput() {
        TinyModel.Spec base = TinyModel.Spec.defaults();
        List<TinyModel.Spec> variants = List.of(
                base, base.toBuilder().layers(3).build(), base.toBuilder().embeddingSize(128).build(),
                base.toBuilder().heads(8).build(), base.toBuilder().kvHeads(4).build(),
                base.toBuilder().feedForwardSize(96).build(), base.toBuilder().contextLength(4096).build(),
                base.toBuilder().slidingWindow(64).build(), base.toBuilder().seed(7).build(),
                base.toBuilder().tensorType(GgmlType.F16).build(), base.toBuilder().ropeFreqBase(5e5f).build(),
                base.toBuilder().rmsEps(1e-6f).build(), base.toBuilder().chatTemplate("t").build(),
                base.toBuilder().name("other").build());
        List<String> keys = new ArrayList<>(variants.stream().map(s -> TinyModel.cacheKey(s, "v.gguf", 10)).toList());
        keys.add(TinyModel.cacheKey(base, "w.gguf", 10));
        keys.add(TinyModel.cacheKey(base, "v.gguf", 11));
        assertThat(keys).doesNotHaveDuplicates().allMatch(k -> k.matches("[0-9a-f]{16}"));
    }

    @Test
    void specDefaults() {
        TinyModel.Spec s = TinyModel.Spec.defaults();
        assertThat(s).isEqualTo(new TinyModel.Spec(2, 64, 4, 2, 128, 2048, 0, 42, GgmlType.F32, 10000f, 1e-5f, null,
                "llama-ffm tiny", 1.0));
        assertThat(s.headSize()).isEqualTo(16);
        assertThat(s.kvEmbeddingSize()).isEqualTo(32);
        assertThat(s.toBuilder().build()).isEqualTo(s);
    }

    @Test
    void builderValidationNamesTheFieldAndRange() {
        assertInvalid(b -> b.layers(0), "layers must be in [1, 64], got 0");
        assertInvalid(b -> b.layers(65), "layers must be in [1, 64], got 65");
        assertInvalid(b -> b.heads(0), "heads must be in [1, 64], got 0");
        assertInvalid(b -> b.embeddingSize(4), "embeddingSize must be in [8, 4096], got 4");
        assertInvalid(b -> b.embeddingSize(66), "embeddingSize must be a multiple of heads (4)");
        assertInvalid(b -> b.embeddingSize(12).heads(4).kvHeads(1), "with an even quotient");
        assertInvalid(b -> b.kvHeads(0), "kvHeads must be in [1, 4], got 0");
        assertInvalid(b -> b.kvHeads(8), "kvHeads must be in [1, 4], got 8");
        assertInvalid(b -> b.heads(8).kvHeads(3), "kvHeads must divide heads (8), got 3");
        assertInvalid(b -> b.feedForwardSize(0), "feedForwardSize must be in [1, 16384], got 0");
        assertInvalid(b -> b.contextLength(0), "contextLength must be in [1, 1048576], got 0");
        assertInvalid(b -> b.slidingWindow(-1), "slidingWindow must be in [0, 2048], got -1");
        assertInvalid(b -> b.contextLength(100).slidingWindow(101), "slidingWindow must be in [0, 100], got 101");
        assertInvalid(b -> b.tensorType(GgmlType.Q4_0), "tensorType must be F32 or F16, got Q4_0");
        assertInvalid(b -> b.tensorType(null), "tensorType must be F32 or F16, got null");
        assertInvalid(b -> b.ropeFreqBase(0), "ropeFreqBase must be finite and > 0");
        assertInvalid(b -> b.ropeFreqBase(Float.NaN), "ropeFreqBase must be finite and > 0");
        assertInvalid(b -> b.rmsEps(0), "rmsEps must be in (0, 1)");
        assertInvalid(b -> b.rmsEps(Float.POSITIVE_INFINITY), "rmsEps must be in (0, 1)");
        assertInvalid(b -> b.chatTemplate(""), "chatTemplate must be null (none) or non-empty");
        assertInvalid(b -> b.name(" "), "name must not be null or blank");
    }

    private static void assertInvalid(UnaryOperator<TinyModel.Spec.Builder> change, String message) {
        assertThatThrownBy(() -> change.apply(TinyModel.Spec.builder()).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void vocabularyWithoutTokensIsRejected() throws IOException {
        Path noTokens = dir.resolve("empty-vocab.gguf");
        new GgufWriter().putString("tokenizer.ggml.model", "llama").write(noTokens);
        assertThatThrownBy(() -> TinyModel.write(TinyModel.Spec.defaults(), noTokens, dir.resolve("x.gguf")))
                .isInstanceOf(GgufFormatException.class)
                .hasMessageContaining("tokenizer.ggml.tokens").hasMessageContaining(noTokens.toString());
        assertThat(dir.resolve("x.gguf")).doesNotExist();
    }
}
