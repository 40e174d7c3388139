package io.github.llamaffm;

import io.github.llamaffm.gguf.GgufFile;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * Embeddings with every pooling type and reranking, on generated tiny models: pooled vectors against a reference
 * computed from the per-token embeddings, reranker scores (a Qwen3-shaped reranker with a rerank prompt, a BERT-shaped
 * one with the BOS/EOS layout and non-causal attention) against upstream's {@code llama-embedding --pooling rank} on
 * the same file and against a reference computed from the per-token embeddings and the head's weights.
 */
@Tag("tiny-model")
class RetrievalTest {
    private static final List<String> TEXTS = List.of("sliding window attention", "a completely different sentence",
            "x", "Hi there, how are you doing today?", "The giant panda is a bear species endemic to China.");
    private static final String QUERY = "What is a panda?";
    private static final List<String> DOCS = List.of("hi", "The giant panda is a bear species endemic to China.",
            "Paris is the capital of France.", "Pandas eat bamboo", "x");

    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static ContextOptions.Builder embeddings(Pooling pooling) {
        return ContextOptions.builder().contextSize(512).embeddings(true).pooling(pooling);
    }

    @Test
    void pooledVectorsEqualAReferenceFromThePerTokenEmbeddings() {
        // Micro-batches of 32 tokens and 4 sequences: the texts go to several decodes, each text whole in one.
        try (LlamaContext none = model.newContext(embeddings(Pooling.NONE).build());
             LlamaContext mean = model.newContext(embeddings(Pooling.MEAN).sequences(4).kvUnified(true)
                     .microBatchSize(32).build());
             LlamaContext cls = model.newContext(embeddings(Pooling.CLS).build());
             LlamaContext last = model.newContext(embeddings(Pooling.LAST).sequences(2).kvUnified(true).build())) {
            assertThat(List.of(none.pooling(), mean.pooling(), cls.pooling(), last.pooling()))
                    .containsExactly(Pooling.NONE, Pooling.MEAN, Pooling.CLS, Pooling.LAST);
            List<float[]> means = mean.embed(TEXTS, false);
            List<float[]> firsts = cls.embed(TEXTS, false);
            List<float[]> lasts = last.embed(TEXTS, false);
            for (int t = 0; t < TEXTS.size(); t++) {
                List<float[]> perToken = none.tokenEmbeddings(TEXTS.get(t), false);
                assertThat(perToken).hasSize(model.vocabulary().tokenize(TEXTS.get(t), true, false).length);
                float[] reference = new float[perToken.getFirst().length];
                for (float[] v : perToken) {
                    for (int i = 0; i < v.length; i++) {
                        reference[i] += v[i] / perToken.size();
                    }
                }
                assertClose(means.get(t), reference, "mean of " + TEXTS.get(t));
                assertClose(firsts.get(t), perToken.getFirst(), "CLS of " + TEXTS.get(t));
                assertClose(lasts.get(t), perToken.getLast(), "last of " + TEXTS.get(t));
            }
            // normalised: the same direction at unit length
            float[] unit = mean.embed(TEXTS.get(0), true);
            assertThat(norm(unit)).isCloseTo(1.0, within(1e-5));
            assertClose(unit, scaled(means.getFirst(), 1 / norm(means.getFirst())), "normalised mean");
            // token arrays embed as the same tokens given as text
            int[] ids = model.vocabulary().tokenize(TEXTS.get(1), true, false);
            assertClose(mean.embedTokens(List.of(ids), false).getFirst(), means.get(1), "token array input");
            assertClose(none.tokenEmbeddings(ids, false).getLast(), lasts.get(1), "per-token embeddings of token ids");
        }
    }

    @Test
    void embeddingCallsCheckTheirInputsAndThePoolingBeforeDecoding() {
        try (LlamaContext mean = model.newContext(embeddings(Pooling.MEAN).microBatchSize(16).build());
             LlamaContext none = model.newContext(embeddings(Pooling.NONE).build());
             LlamaContext plain = model.newContext(ContextOptions.builder().contextSize(128).build())) {
            assertThat(mean.maxEmbeddingTokens()).isEqualTo(16);
            assertThatThrownBy(() -> mean.embed(List.of("x", "one two three four five six seven eight nine ten eleven "
                    + "twelve thirteen fourteen fifteen sixteen"), false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("text 1 has")
                    .hasMessageContaining("at most 16");
            assertThatThrownBy(() -> mean.embedTokens(List.of(new int[0]), false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("input has no tokens");
            assertThatThrownBy(() -> mean.embedTokens(List.of(new int[] {1, 999_999}), false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("999999");
            assertThatThrownBy(() -> mean.tokenEmbeddings("x", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("pools with MEAN");
            assertThatThrownBy(() -> none.embed("x", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("use tokenEmbeddings");
            assertThatThrownBy(() -> mean.rerank(QUERY, DOCS))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("is not a reranker");
            assertThatThrownBy(() -> plain.embed("x", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("embeddings(true)");
            // the context still works after refusing
            assertThat(mean.embed("x", false)).hasSize(model.info().embeddingSize());
        }
    }

    @Test
    void rerankScoresEqualUpstreamLlamaEmbeddingOnTheSameFile() throws Exception {
        Path file = TestModels.tinyReranker(TinyModel.QWEN3_RERANK_PROMPT);
        List<Float> upstream = upstreamRerankScores(file, QUERY, DOCS);
        try (LlamaModel reranker = LlamaModel.load(file);
             LlamaContext ctx = reranker.newContext(ContextOptions.builder().contextSize(1024).embeddings(true)
                     .sequences(2).kvUnified(true).build())) {
            assertThat(ctx.pooling()).isEqualTo(Pooling.RANK);
            List<RerankScore> scores = ctx.rerank(QUERY, DOCS);
            assertThat(scores).extracting(RerankScore::index).containsExactly(0, 1, 2, 3, 4);
            for (int i = 0; i < DOCS.size(); i++) {
                assertThat(scores.get(i).score()).as("document %d", i).isCloseTo(upstream.get(i), within(2e-5f));
                assertThat(scores.get(i).tokens()).isEqualTo(ctx.rerankTokens(QUERY, DOCS.get(i)).length);
            }
            // random weights, yet the documents are told apart
            assertThat(scores.stream().map(RerankScore::score).distinct().count()).isEqualTo(DOCS.size());
            // the model's rerank prompt, substituted and tokenized as upstream does
            String prompt = TinyModel.QWEN3_RERANK_PROMPT.replace("{query}", QUERY).replace("{document}", DOCS.get(3));
            assertThat(ctx.rerankTokens(QUERY, DOCS.get(3))).containsExactly(
                    reranker.vocabulary().tokenize(prompt, false, true));
            assertThatThrownBy(() -> ctx.embed("x", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("is a reranker");
        }
    }

    @Test
    void rerankScoresEqualTheHeadAppliedToThePerTokenEmbeddings() throws Exception {
        // No rerank prompt: the [BOS]query[EOS][SEP]document[EOS] layout, with BOS and EOS added (metadata overrides).
        Path file = TestModels.tinyReranker(null);
        float[] head = GgufFile.read(file).readFloats("cls.output.weight"); // 2 rows ("yes", "no") of n_embd
        ModelOptions overrides = ModelOptions.builder().overrideMetadata("tokenizer.ggml.add_bos_token", true)
                .overrideMetadata("tokenizer.ggml.add_eos_token", true).build();
        try (LlamaModel reranker = LlamaModel.load(file, overrides);
             LlamaContext ctx = reranker.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .sequences(4).kvUnified(true).build());
             LlamaContext none = reranker.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .pooling(Pooling.NONE).build())) {
            Vocabulary v = reranker.vocabulary();
            List<RerankScore> scores = ctx.rerank(QUERY, DOCS);
            for (int d = 0; d < DOCS.size(); d++) {
                List<Integer> expected = new ArrayList<>();
                expected.add(v.bos());
                Arrays.stream(v.tokenize(QUERY, false, false)).forEach(expected::add);
                expected.add(v.eos());
                Arrays.stream(v.tokenize(DOCS.get(d), false, false)).forEach(expected::add);
                expected.add(v.eos());
                int[] tokens = ctx.rerankTokens(QUERY, DOCS.get(d));
                assertThat(tokens).containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
                // Qwen3 reranker head: the last token's hidden state, times cls_out, softmax; the score is P("yes").
                float[] h = none.tokenEmbeddings(tokens, false).getLast();
                double yes = 0;
                double no = 0;
                for (int i = 0; i < h.length; i++) {
                    yes += (double) head[i] * h[i];
                    no += (double) head[h.length + i] * h[i];
                }
                double reference = 1 / (1 + Math.exp(no - yes));
                // (batched with other pairs in an F16 KV cache vs alone: float differences of ~1e-4)
                assertThat((double) scores.get(d).score()).as("document %d", d).isCloseTo(reference, within(5e-4));
            }
            // far apart compared to that tolerance, so the check tells documents (and the head's rows) apart
            double min = scores.stream().mapToDouble(RerankScore::score).min().orElseThrow();
            double max = scores.stream().mapToDouble(RerankScore::score).max().orElseThrow();
            assertThat(max - min).isGreaterThan(0.05);
        }
    }

    @Test
    void bertRerankerScoresEqualUpstreamAndTheHeadAppliedToTheFirstToken() throws Exception {
        // Non-causal attention: each pair must lie whole in one micro-batch (llama.cpp aborts otherwise); micro-batches
        // of 64 tokens and 4 sequences put the pairs into several decodes.
        Path file = TestModels.tinyBertReranker();
        GgufFile gguf = GgufFile.read(file);
        float[] cls = gguf.readFloats("cls.weight");
        float[] clsBias = gguf.readFloats("cls.bias");
        float[] out = gguf.readFloats("cls.output.weight");
        float outBias = gguf.readFloats("cls.output.bias")[0];
        List<Float> upstream = upstreamRerankScores(file, QUERY, DOCS);
        try (LlamaModel reranker = LlamaModel.load(file);
             LlamaContext ctx = reranker.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .sequences(4).kvUnified(true).microBatchSize(64).build());
             LlamaContext none = reranker.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .pooling(Pooling.NONE).build())) {
            assertThat(ctx.pooling()).isEqualTo(Pooling.RANK);
            List<RerankScore> scores = ctx.rerank(QUERY, DOCS);
            Vocabulary v = reranker.vocabulary();
            for (int d = 0; d < DOCS.size(); d++) {
                int[] tokens = ctx.rerankTokens(QUERY, DOCS.get(d));
                assertThat(tokens[0]).isEqualTo(v.bos());
                assertThat(tokens[tokens.length - 1]).isEqualTo(v.eos());
                // BERT classification head: the first token's hidden state, dense + tanh, then one output
                float[] h = none.tokenEmbeddings(tokens, false).getFirst();
                double reference = outBias;
                for (int j = 0; j < h.length; j++) {
                    double x = clsBias[j];
                    for (int i = 0; i < h.length; i++) {
                        x += (double) cls[j * h.length + i] * h[i];
                    }
                    reference += out[j] * Math.tanh(x);
                }
                assertThat(scores.get(d).score()).as("document %d vs llama-embedding", d)
                        .isCloseTo(upstream.get(d), within(1e-3f * (1 + Math.abs(upstream.get(d)))));
                // (the reference decodes the pair alone, the reranker with others: differences of ~0.3% here)
                assertThat((double) scores.get(d).score()).as("document %d", d)
                        .isCloseTo(reference, within(1e-2 * (1 + Math.abs(reference))));
            }
            assertThat(scores.stream().map(RerankScore::score).distinct().count()).isEqualTo(DOCS.size());
            // too long for one micro-batch: refused, not an abort
            assertThatThrownBy(() -> ctx.rerank(QUERY, List.of("word ".repeat(80))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 64");
        }
    }

    @Test
    void rerankRefusesBadInputBeforeDecoding() {
        try (LlamaModel reranker = LlamaModel.load(TestModels.tinyReranker(TinyModel.QWEN3_RERANK_PROMPT));
             LlamaContext ctx = reranker.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .microBatchSize(128).build());
             LlamaContext generating = reranker.newContext(ContextOptions.builder().contextSize(256).build())) {
            assertThatThrownBy(() -> ctx.rerank(QUERY, List.of()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no documents");
            assertThatThrownBy(() -> ctx.rerank("", DOCS))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("query is empty");
            assertThatThrownBy(() -> ctx.rerank(QUERY, List.of("a", "")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("document 1 is empty");
            assertThatThrownBy(() -> ctx.rerank(QUERY, List.of("a", "word ".repeat(200))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("query with document 1 has").hasMessageContaining("at most 128");
            assertThatThrownBy(() -> generating.rerank(QUERY, DOCS))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("embeddings(true)");
            assertThat(ctx.rerank(QUERY, List.of("a"))).hasSize(1);
        }
    }

    /** Upstream's llama-embedding with rank pooling: query and document joined by its default separator (a tab). */
    private static List<Float> upstreamRerankScores(Path model, String query, List<String> docs) throws Exception {
        StringBuilder prompt = new StringBuilder();
        for (String d : docs) {
            prompt.append(prompt.isEmpty() ? "" : "\n").append(query).append('\t').append(d);
        }
        Process p = new ProcessBuilder(TestModels.tool("llama-embedding").toString(), "-m", model.toString(),
                "--pooling", "rank", "--embd-normalize", "-1", "--embd-output-format", "array", "-c", "1024",
                "-t", "1", "--no-warmup", "-p", prompt.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("llama-embedding exit code; output: %s", out).isZero();
        // "[[s0,...],[s1,...],...]": the first value of each row is the score (rows are n_embd_out wide)
        Matcher rows = Pattern.compile("\\[(-?[0-9.]+)[,\\]]").matcher(out.substring(out.indexOf("[[") + 1));
        List<Float> scores = new ArrayList<>();
        while (rows.find()) {
            scores.add(Float.parseFloat(rows.group(1)));
        }
        assertThat(scores).as("llama-embedding output: %s", out).hasSize(docs.size());
        return scores;
    }

    private static void assertClose(float[] actual, float[] expected, String what) {
        assertThat(actual).as(what).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            assertThat(actual[i]).as("%s [%d]", what, i).isCloseTo(expected[i], within(2e-4f * (1 + Math.abs(expected[i]))));
        }
    }

    private static double norm(float[] v) {
        double s = 0;
        for (float f : v) {
            s += (double) f * f;
        }
        return Math.sqrt(s);
    }

    private static float[] scaled(float[] v, double k) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] * k);
        }
        return out;
    }
}
