package io.github.llamaffm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.RerankScore;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The server's retrieval endpoints over plain {@code java.net.http}: {@code /v1/embeddings} with token arrays, and
 * {@code /v1/rerank} (and its aliases) on a generated tiny reranker, against the facade on the same file.
 */
@Tag("slow")
class ServeRetrievalTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String KEY = "k-123";
    private static final String QUERY = "What is a panda?";
    private static final List<String> DOCS = List.of("hi", "The giant panda is a bear species endemic to China.",
            "Paris is the capital of France.", "Pandas eat bamboo");

    @TempDir
    static Path cache;

    private static final List<String> log = new CopyOnWriteArrayList<>();
    private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static LlamaModel plain;
    private static LlamaModel reranker;
    private static OpenAiServer plainServer;
    private static OpenAiServer rerankServer;

    @BeforeAll
    static void start() throws Exception {
        plain = LlamaModel.load(DemoModel.path(cache, new PrintWriter(new StringWriter())));
        reranker = LlamaModel.load(TinyModel.cachedReranker(TinyModel.Spec.defaults(), TinyModel.QWEN3_RERANK_PROMPT,
                DemoModel.vocabulary(), cache));
        ContextOptions small = ContextOptions.builder().contextSize(1024).threads(2).batchThreads(2).build();
        plainServer = OpenAiServer.start(plain, small, OpenAiServer.Options.defaults("demo").withPort(0), log::add);
        rerankServer = OpenAiServer.start(reranker, small,
                OpenAiServer.Options.defaults("reranker").withPort(0).withApiKey(KEY), log::add);
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {plainServer, rerankServer, plain, reranker}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        assertThat(log).as("server-side problems").isEmpty();
    }

    private record Reply(int status, JsonNode json) {}

    private static Reply post(OpenAiServer server, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (server == rerankServer) {
            b.header("Authorization", "Bearer " + KEY);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), JSON.readTree(r.body()));
    }

    @Test
    void embeddingsTakeTokenArraysAsOpenAiDoes() throws Exception {
        int[] ids = plain.vocabulary().tokenize("a llama", true, false);
        String idList = Arrays.toString(ids);
        Reply text = post(plainServer, "/v1/embeddings", "{\"input\":[\"a llama\",\"an alpaca\"]}");
        Reply one = post(plainServer, "/v1/embeddings", "{\"input\":" + idList + "}");
        Reply many = post(plainServer, "/v1/embeddings", "{\"input\":[" + idList + ",[1, 264]]}");
        assertThat(text.status()).as(text.json().toString()).isEqualTo(200);
        assertThat(one.status()).as(one.json().toString()).isEqualTo(200);
        assertThat(many.status()).as(many.json().toString()).isEqualTo(200);
        assertThat(one.json().at("/data")).hasSize(1);
        assertThat(many.json().at("/data")).hasSize(2);
        assertThat(many.json().at("/data/1/index").asInt()).isOne();
        assertThat(one.json().at("/usage/prompt_tokens").asInt()).isEqualTo(ids.length);
        assertThat(many.json().at("/usage/prompt_tokens").asInt()).isEqualTo(ids.length + 2);
        JsonNode fromText = text.json().at("/data/0/embedding");
        for (JsonNode fromIds : List.of(one.json().at("/data/0/embedding"), many.json().at("/data/0/embedding"))) {
            assertThat(fromIds).hasSize(fromText.size());
            for (int i = 0; i < fromText.size(); i++) {
                assertThat(fromIds.get(i).floatValue()).isCloseTo(fromText.get(i).floatValue(), within(1e-4f));
            }
        }
        assertThat(post(plainServer, "/v1/embeddings", "{\"input\":[[1,2],\"x\"]}").status()).isEqualTo(400);
        assertThat(post(plainServer, "/v1/embeddings", "{\"input\":[[]]}").status()).isEqualTo(400);
        assertThat(post(plainServer, "/v1/embeddings", "{\"input\":[1.5]}").status()).isEqualTo(400);
        Reply badId = post(plainServer, "/v1/embeddings", "{\"input\":[1, 99999999]}");
        assertThat(badId.status()).isEqualTo(400);
        assertThat(badId.json().at("/error/message").asText()).contains("99999999");
        Reply tooLong = post(plainServer, "/v1/embeddings", "{\"input\":" + Arrays.toString(new int[3000]) + "}");
        assertThat(tooLong.status()).isEqualTo(400);
        assertThat(tooLong.json().at("/error/code").asText()).isEqualTo("context_length_exceeded");
        // a plain model cannot rerank: 501 as llama-server's "not supported"
        Reply notReranker = post(plainServer, "/v1/rerank", "{\"query\":\"q\",\"documents\":[\"d\"]}");
        assertThat(notReranker.status()).isEqualTo(501);
        assertThat(notReranker.json().at("/error/message").asText()).contains("not a reranker");
    }

    @Test
    void rerankAnswersTheCommonShapeWithTheFacadesScores() throws Exception {
        List<RerankScore> expected;
        try (LlamaContext ctx = reranker.newContext(ContextOptions.builder().contextSize(1024).embeddings(true).build())) {
            expected = ctx.rerank(QUERY, DOCS);
        }
        String body = JSON.writeValueAsString(java.util.Map.of("query", QUERY, "documents", DOCS));
        for (String path : List.of("/v1/rerank", "/rerank")) {
            Reply r = post(rerankServer, path, body);
            assertThat(r.status()).as(path + ": " + r.json()).isEqualTo(200);
            JsonNode results = r.json().get("results");
            assertThat(results).hasSize(DOCS.size());
            double previous = Double.POSITIVE_INFINITY;
            for (JsonNode result : results) {
                int index = result.get("index").asInt();
                double score = result.get("relevance_score").asDouble();
                assertThat(score).as("sorted by relevance").isLessThanOrEqualTo(previous);
                assertThat(score).as("document %d", index).isCloseTo(expected.get(index).score(), within(1e-4));
                assertThat(result.has("document")).isFalse();
                previous = score;
            }
            assertThat(r.json().at("/usage/prompt_tokens").asInt())
                    .isEqualTo(expected.stream().mapToInt(RerankScore::tokens).sum());
            assertThat(r.json().get("model").asText()).isEqualTo("reranker");
        }
        Reply top = post(rerankServer, "/v1/rerank", JSON.writeValueAsString(java.util.Map.of("query", QUERY,
                "documents", DOCS, "top_n", 2, "return_documents", true)));
        assertThat(top.status()).isEqualTo(200);
        assertThat(top.json().get("results")).hasSize(2);
        JsonNode best = top.json().at("/results/0");
        int bestIndex = expected.stream().max(java.util.Comparator.comparingDouble(RerankScore::score)).orElseThrow().index();
        assertThat(best.get("index").asInt()).isEqualTo(bestIndex);
        assertThat(best.at("/document/text").asText()).isEqualTo(DOCS.get(bestIndex));
        // documents as {"text": ...} objects, as Cohere v1 and Jina accept
        Reply objects = post(rerankServer, "/v1/rerank", "{\"query\":\"" + QUERY + "\",\"documents\":[{\"text\":\""
                + DOCS.get(1) + "\"}]}");
        assertThat(objects.json().at("/results/0/relevance_score").asDouble())
                .isCloseTo(expected.get(1).score(), within(1e-4));
    }

    @Test
    void rerankRefusesBadRequestsClearly() throws Exception {
        record Bad(String body, String param) {}
        for (Bad bad : List.of(new Bad("{\"documents\":[\"d\"]}", "query"),
                new Bad("{\"query\":\"\",\"documents\":[\"d\"]}", "query"),
                new Bad("{\"query\":\"q\",\"documents\":[]}", "documents"),
                new Bad("{\"query\":\"q\",\"documents\":[\"a\", 3]}", "documents"),
                new Bad("{\"query\":\"q\",\"documents\":[\"a\", \"\"]}", "documents"),
                new Bad("{\"query\":\"q\",\"documents\":[\"" + "word ".repeat(3000) + "\"]}", "documents"),
                new Bad("{\"query\":\"q\",\"documents\":[\"a\"],\"top_n\":0}", "top_n"),
                new Bad("{\"query\":\"q\",\"documents\":[\"a\"],\"return_documents\":\"yes\"}", "return_documents"))) {
            Reply r = post(rerankServer, "/v1/rerank", bad.body());
            assertThat(r.status()).as(bad.body()).isEqualTo(400);
            assertThat(r.json().at("/error/param").asText()).as(bad.body()).isEqualTo(bad.param());
        }
        // the reranker's server does not embed
        Reply embed = post(rerankServer, "/v1/embeddings", "{\"input\":\"x\"}");
        assertThat(embed.status()).isEqualTo(400);
        assertThat(embed.json().at("/error/message").asText()).contains("/v1/rerank");
        // and still answers
        assertThat(post(rerankServer, "/v1/rerank", "{\"query\":\"q\",\"documents\":[\"a\"]}").status()).isEqualTo(200);
    }
}
