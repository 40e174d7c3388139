package io.github.llamaffm.spring.boot;

import com.sun.net.httpserver.HttpServer;
import io.github.llamaffm.ChatMessage;
import io.github.llamaffm.ChatTemplate;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Generation;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelDownloadException;
import io.github.llamaffm.ModelDownloader;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.TestModels;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.context.ConfigurableApplicationContext;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * A Spring Boot application context with the starter on a generated tiny model, used through Spring AI's
 * {@link ChatClient}. Outside truth: the facade's greedy generation from the prompt the model's template renders.
 */
class LlamaFfmStarterTest {
    static final Path MODEL = TestModels.tiny();

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {
    }

    static ConfigurableApplicationContext start(String... properties) {
        return new SpringApplicationBuilder(App.class).web(WebApplicationType.NONE).properties(properties).run();
    }

    static String reference(List<ChatMessage> messages, int maxTokens) {
        return TestModels.greedyChatReply(MODEL, messages, maxTokens);
    }

    @Test
    void applicationPropertiesGiveAChatClientAnEmbeddingModelHealthAndMeters() {
        try (ConfigurableApplicationContext app = start("llama-ffm.model=" + MODEL, "llama-ffm.context-size=2048",
                "llama-ffm.parallel-sequences=2", "llama-ffm.chat.temperature=0", "llama-ffm.chat.max-tokens=16",
                "llama-ffm.embedding.enabled=true")) {
            GenerationService service = app.getBean(GenerationService.class);
            assertThat(service.sequences()).isEqualTo(2);
            assertThat(service.context().contextSize()).isEqualTo(2048);
            SimpleMeterRegistry meters = new SimpleMeterRegistry();
            app.getBean(LlamaFfmMetrics.class).bindTo(meters);

            ChatClient client = ChatClient.create(app.getBean(ChatModel.class));
            String expected = reference(List.of(ChatMessage.system("You are terse."), ChatMessage.user("Hi")), 16);
            assertThat(client.prompt().system("You are terse.").user("Hi").call().content()).isEqualTo(expected);

            List<ChatResponse> chunks = client.prompt().system("You are terse.").user("Hi").stream().chatResponse()
                    .collectList().block();
            StringBuilder streamed = new StringBuilder();
            chunks.forEach(c -> streamed.append(c.getResult().getOutput().getText()));
            assertThat(streamed.toString()).isEqualTo(expected);
            ChatResponse last = chunks.getLast();
            assertThat(last.getResult().getMetadata().getFinishReason()).isIn("LENGTH", "STOP");
            assertThat(last.getMetadata().getUsage().getPromptTokens()).isPositive();
            assertThat(last.getMetadata().getUsage().getCompletionTokens()).isLessThanOrEqualTo(16);

            ChatResponse full = client.prompt().user("Tell me a story")
                    .options(org.springframework.ai.chat.prompt.ChatOptions.builder().maxTokens(5))
                    .call().chatResponse();
            assertThat(full.getResult().getMetadata().getFinishReason()).isEqualTo("LENGTH");
            assertThat(full.getMetadata().getUsage().getCompletionTokens()).isEqualTo(5);

            EmbeddingModel embeddings = app.getBean(EmbeddingModel.class);
            List<float[]> vectors = embeddings.embed(List.of("llama", "alpaca"));
            assertThat(vectors).hasSize(2);
            assertThat(embeddings.dimensions()).isEqualTo(service.context().modelInfo().embeddingSize());
            try (LlamaContext one = service.context().model().newContext(ContextOptions.builder().embeddings(true)
                    .build())) {
                float[] llama = one.embed("llama", true);
                for (int i = 0; i < llama.length; i++) {
                    assertThat(vectors.get(0)[i]).isCloseTo(llama[i], within(1e-4f));
                }
            }

            Health health = app.getBean(LlamaFfmHealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UP);
            assertThat(health.getDetails()).containsEntry("sequences", 2).containsEntry("queued", 0)
                    .containsEntry("model", MODEL.getFileName().toString());

            assertThat(meters.get("llama.ffm.queue.depth").gauge().value()).isZero();
            assertThat(meters.get("llama.ffm.generated.tokens").functionCounter().count())
                    .isEqualTo((double) service.generatedTokens()).isPositive();
            assertThat(meters.get("llama.ffm.time.to.first.token").timer().count()).isEqualTo(3);
            assertThat(meters.get("llama.ffm.tokens.per.second").summary().mean()).isPositive();

            LlamaFfmServing serving = app.getBean(LlamaFfmServing.class);
            app.close();
            assertThat(serving.service().isClosed()).isTrue();
            assertThat(serving.model().isClosed()).isTrue();
        }
    }

    @Test
    void withoutAModelNothingIsConfiguredAndABadOneFailsClearly() {
        try (ConfigurableApplicationContext app = start()) {
            assertThat(app.getBeanNamesForType(ChatModel.class)).isEmpty();
        }
        assertThatThrownBy(() -> start("llama-ffm.model=/no/such/model.gguf"))
                .rootCause().hasMessageContaining("no such file");
        assertThatThrownBy(() -> start("llama-ffm.model=ftp://example.invalid/y.gguf"))
                .rootCause().hasMessageContaining("unsupported URL");
    }

    /**
     * {@code hf:} references go through the library's one downloader (the CLI's): a local stand-in for Hugging Face's
     * resolve endpoint serves the tiny model with its sha256 as {@code X-Linked-Etag}, as Hugging Face does for LFS
     * files; the second start uses the cached file with the server gone.
     */
    @Test
    void anHfReferenceIsDownloadedOnceVerifiedAndThenUsedOffline(@TempDir Path cache) throws Exception {
        byte[] gguf = Files.readAllBytes(MODEL);
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(gguf));
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        List<String> requested = new CopyOnWriteArrayList<>();
        server.createContext("/", exchange -> {
            requested.add(exchange.getRequestURI().getPath());
            if (exchange.getRequestURI().getPath().equals("/owner/repo/resolve/main/tiny.gguf")) {
                exchange.getResponseHeaders().add("X-Linked-Etag", "\"" + sha + "\"");
                exchange.sendResponseHeaders(200, gguf.length);
                exchange.getResponseBody().write(gguf);
            } else {
                exchange.sendResponseHeaders(404, -1);
            }
            exchange.close();
        });
        server.start();
        String endpoint = "http://127.0.0.1:" + server.getAddress().getPort();
        System.setProperty(ModelDownloader.HF_ENDPOINT_PROPERTY, endpoint);
        try {
            String[] properties = {"llama-ffm.model=hf:owner/repo/tiny.gguf", "llama-ffm.model-cache=" + cache,
                    "llama-ffm.context-size=1024", "llama-ffm.chat.temperature=0", "llama-ffm.chat.max-tokens=8"};
            String expected = reference(List.of(ChatMessage.user("Hi")), 8);
            try (ConfigurableApplicationContext app = start(properties)) {
                assertThat(ChatClient.create(app.getBean(ChatModel.class)).prompt().user("Hi").call().content())
                        .isEqualTo(expected);
                Path loaded = app.getBean(LlamaFfmServing.class).model().path();
                assertThat(loaded.getParent()).isEqualTo(cache.toAbsolutePath().normalize());
                assertThat(Files.readAllBytes(loaded)).isEqualTo(gguf);
            }
            assertThat(requested).containsExactly("/owner/repo/resolve/main/tiny.gguf");
            assertThatThrownBy(() -> start("llama-ffm.model=hf:owner/repo/missing.gguf",
                    "llama-ffm.model-cache=" + cache)).rootCause().isInstanceOf(ModelDownloadException.class)
                    .hasMessageContaining("HTTP 404").hasMessageContaining("hf:owner/repo/missing.gguf");
        } finally {
            server.stop(0);
        }
        try (ConfigurableApplicationContext app = start("llama-ffm.model=hf:owner/repo/tiny.gguf",
                "llama-ffm.model-cache=" + cache, "llama-ffm.context-size=1024")) {
            assertThat(app.getBean(LlamaFfmServing.class).model().isClosed()).isFalse(); // offline: the cached file
        } finally {
            System.clearProperty(ModelDownloader.HF_ENDPOINT_PROPERTY);
        }
    }
}
