package io.github.llamaffm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LoraAdapter;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import io.github.llamaffm.internal.TinyModel;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * LoRA adapters in {@code serve}: the server's own set (what {@code --lora} gives) applies to requests without a
 * {@code lora} field; llama-server's per-request {@code "lora": [{"id", "scale"}]} picks among them (an empty list:
 * the base model), also for requests running at the same time; {@code GET /lora-adapters} lists them. The outside
 * truth is the facade's greedy text with the same adapter set on a context of its own.
 */
@Tag("tiny-model")
@Tag("slow")
class ServeLoraTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "Once upon a time";

    @TempDir
    static Path dir;

    @Test
    void requestsPickAmongTheServersAdapters() throws Exception {
        Path modelFile = DemoModel.path(dir, new PrintWriter(new StringWriter()));
        Path loraFile = dir.resolve("lora.gguf");
        TinyModel.writeLora(modelFile, loraFile, "llama", List.of("blk.0.attn_q.weight", "blk.1.ffn_up.weight"), 4, 8f,
                0.4, 11);
        GenerateOptions greedy = GenerateOptions.builder().maxTokens(12).sampler(Sampler.greedy()).build();
        try (LlamaModel model = LlamaModel.load(modelFile); LoraAdapter adapter = model.loadLora(loraFile)) {
            String plain;
            String adapted;
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).threads(1).build())) {
                plain = ctx.generate(PROMPT, greedy).text();
                adapted = ctx.generate(PROMPT, greedy.toBuilder().loras(Map.of(adapter, 1f)).build()).text();
            }
            assertThat(adapted).isNotEqualTo(plain);
            try (OpenAiServer server = OpenAiServer.start(model, ContextOptions.builder().sequences(2).contextSize(1024)
                            .threads(1).batchThreads(1).build(), OpenAiServer.Options.defaults("demo").withPort(0),
                    line -> { }, ctx -> ctx.setLoras(Map.of(adapter, 1f)))) {
                HttpClient http = HttpClient.newHttpClient();
                JsonNode list = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(server.baseUri()
                        + "/lora-adapters")).build(), HttpResponse.BodyHandlers.ofString()).body());
                assertThat(list).hasSize(1);
                assertThat(list.get(0).get("id").asInt()).isZero();
                assertThat(list.get(0).get("path").asText()).isEqualTo(loraFile.toString());
                assertThat(list.get(0).get("scale").asDouble()).isEqualTo(1.0);

                assertThat(text(http, server, "")).as("the server's own set").isEqualTo(adapted);
                assertThat(text(http, server, ",\"lora\":[]")).as("none: the base model").isEqualTo(plain);
                assertThat(text(http, server, ",\"lora\":[{\"id\":0,\"scale\":1.0}]")).isEqualTo(adapted);
                // Different sets at the same time: decoded in separate batches, each as on its own.
                CompletableFuture<String> a = CompletableFuture.supplyAsync(() -> text(http, server, ",\"lora\":[]"));
                CompletableFuture<String> b = CompletableFuture.supplyAsync(() -> text(http, server, ""));
                assertThat(a.get()).isEqualTo(plain);
                assertThat(b.get()).isEqualTo(adapted);

                HttpResponse<String> bad = post(http, server, ",\"lora\":[{\"id\":3,\"scale\":1}]");
                assertThat(bad.statusCode()).isEqualTo(400);
                assertThat(JSON.readTree(bad.body()).at("/error/message").asText()).contains("lora id 3");
                assertThat(post(http, server, ",\"lora\":[{\"id\":0}]").statusCode()).isEqualTo(400);
                assertThat(server.requestsInFlight()).isZero();
            }
        }
    }

    private static HttpResponse<String> post(HttpClient http, OpenAiServer server, String extra) {
        String body = "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":12,\"temperature\":0" + extra + "}";
        try {
            return http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/completions"))
                    .timeout(Duration.ofMinutes(2)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static String text(HttpClient http, OpenAiServer server, String extra) {
        HttpResponse<String> r = post(http, server, extra);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        try {
            return JSON.readTree(r.body()).at("/choices/0/text").asText();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
