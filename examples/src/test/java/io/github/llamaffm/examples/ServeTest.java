package io.github.llamaffm.examples;

import org.junit.jupiter.api.Tag;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiEmbeddingModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code serve} checked by clients nobody here wrote: LangChain4j's OpenAI chat, streaming and embedding models, and
 * plain {@code java.net.http} for the rest of the protocol and the hardening. Runs the demo model on loopback.
 */
@Tag("tiny-model")
@Tag("slow")
class ServeTest {
    private static final String KEY = "test-key-123";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path demoCache;

    static LlamaModel model;
    static OpenAiServer server;
    static final List<String> serverLog = new CopyOnWriteArrayList<>();
    private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeAll
    static void start() throws Exception {
        model = LlamaModel.load(DemoModel.path(demoCache, new PrintWriter(new StringWriter())));
        startServer();
    }

    /** Serves {@link #model}; subclasses (RpcServeTest) load it their way and run every check here on it. */
    static void startServer() throws Exception {
        server = OpenAiServer.start(model, contextOptions(4, 2048),
                OpenAiServer.Options.defaults("demo").withPort(0).withApiKey(KEY).withMaxBodyBytes(16 * 1024)
                        .withMaxQueue(4),
                serverLog::add);
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (model != null) {
            model.close();
        }
        assertThat(serverLog).as("server-side problems").isEmpty();
    }

    private static ContextOptions contextOptions(int sequences, int contextSize) {
        return ContextOptions.builder().sequences(sequences).contextSize(contextSize).threads(2).batchThreads(2).build();
    }

    private static String base() {
        return server.baseUri().toString();
    }

    // --- LangChain4j --------------------------------------------------------------------------------------

    @Test
    void langChain4jChatModelGetsAReplyWithFinishReasonAndUsage() {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base()).apiKey(KEY).modelName("demo")
                .maxTokens(12).temperature(0.0).timeout(Duration.ofSeconds(60)).build();

        ChatResponse r = chat.chat(SystemMessage.from("Answer briefly."), UserMessage.from("Hello, who are you?"));

        assertThat(r.aiMessage().text()).isNotNull().isNotEmpty();
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenUsage().inputTokenCount()).isGreaterThan(5);
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(12);
        assertThat(r.tokenUsage().totalTokenCount())
                .isEqualTo(r.tokenUsage().inputTokenCount() + r.tokenUsage().outputTokenCount());
        assertThat(r.modelName()).isEqualTo("demo");
        assertThat(r.id()).startsWith("chatcmpl-");
    }

    @Test
    void langChain4jStopSequencesEndTheReplyWithStop() {
        OpenAiChatModel.OpenAiChatModelBuilder builder = OpenAiChatModel.builder().baseUrl(base()).apiKey(KEY)
                .modelName("demo").temperature(0.0).seed(7).timeout(Duration.ofSeconds(60));
        String full = builder.maxTokens(24).build().chat(UserMessage.from("Tell me a story")).aiMessage().text();
        assertThat(full.strip().length()).isGreaterThan(12);
        // Greedy is deterministic: stop at a piece of the middle of the same reply.
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        assertThat(stop.strip()).isNotEmpty();

        ChatResponse r = builder.maxTokens(24).stop(List.of(stop)).build().chat(UserMessage.from("Tell me a story"));

        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(r.aiMessage().text()).isEqualTo(full.substring(0, full.indexOf(stop)));
    }

    @Test
    void langChain4jStreamingChatModelStreamsPartialsAndCompletes() throws Exception {
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(base()).apiKey(KEY)
                .modelName("demo").maxTokens(16).temperature(0.7).seed(42).timeout(Duration.ofSeconds(60)).build();
        Streamed s = stream(chat, "Write a haiku about llamas");

        ChatResponse r = s.done.get(60, TimeUnit.SECONDS);

        assertThat(s.partials).isNotEmpty();
        assertThat(String.join("", s.partials)).isEqualTo(r.aiMessage().text());
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenUsage()).isNotNull();
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(16);
        assertThat(r.tokenUsage().inputTokenCount()).isPositive();
    }

    @Test
    void concurrentStreamingRequestsShareDecodeSteps() throws Exception {
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(base()).apiKey(KEY)
                .modelName("demo").maxTokens(48).temperature(0.0).timeout(Duration.ofSeconds(60)).build();
        long before = server.decodeCalls();
        List<Streamed> all = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            all.add(stream(chat, "Request number " + i + " about the weather"));
        }
        int tokens = 0;
        for (Streamed s : all) {
            ChatResponse r = s.done.get(120, TimeUnit.SECONDS);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(String.join("", s.partials)).isEqualTo(r.aiMessage().text());
            tokens += r.tokenUsage().outputTokenCount();
        }
        assertThat(tokens).isEqualTo(4 * 48);
        // Alone, each token costs one decode; sharing steps needs clearly fewer (other tests may add a few).
        assertThat(server.decodeCalls() - before).isLessThan(tokens * 3L / 4);
    }

    @Test
    void langChain4jEmbeddingModelGetsUnitVectors() {
        EmbeddingModel embeddings = OpenAiEmbeddingModel.builder().baseUrl(base()).apiKey(KEY).modelName("demo")
                .timeout(Duration.ofSeconds(60)).build();

        float[] v = embeddings.embed("sliding window attention").content().vector();

        assertThat(v).hasSize(DemoModel.SPEC.embeddingSize());
        double norm = 0;
        for (float f : v) {
            norm += f * f;
        }
        assertThat(Math.sqrt(norm)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-3));
    }

    private record Streamed(List<String> partials, CompletableFuture<ChatResponse> done) {}

    private static Streamed stream(OpenAiStreamingChatModel chat, String message) {
        List<String> partials = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        chat.chat(message, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partialResponse) {
                partials.add(partialResponse);
            }

            @Override
            public void onCompleteResponse(ChatResponse completeResponse) {
                done.complete(completeResponse);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        return new Streamed(partials, done);
    }

    // --- plain HTTP ---------------------------------------------------------------------------------------

    private record Reply(int status, String body) {
        JsonNode json() throws Exception {
            return JSON.readTree(body);
        }

        JsonNode error() throws Exception {
            JsonNode e = json().get("error");
            assertThat(e).as("OpenAI-style error in %s", body).isNotNull();
            assertThat(e.has("message") && e.has("type") && e.has("param") && e.has("code")).as(body).isTrue();
            assertThat(body).doesNotContain("Exception", "\tat ");
            return e;
        }
    }

    private static Reply post(String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    private static Reply get(String url, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60)).GET();
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    @Test
    void completionsNonStreaming() throws Exception {
        Reply r = post("/completions", "{\"model\":\"demo\",\"prompt\":\"Once upon a time\",\"max_tokens\":6,"
                + "\"temperature\":0,\"top_p\":0.9,\"seed\":3}", KEY);

        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode json = r.json();
        assertThat(json.get("object").asText()).isEqualTo("text_completion");
        assertThat(json.get("id").asText()).startsWith("cmpl-");
        assertThat(json.get("model").asText()).isEqualTo("demo");
        JsonNode choice = json.get("choices").get(0);
        assertThat(choice.get("text").asText()).isNotEmpty();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        JsonNode usage = json.get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(model.vocabulary().tokenize("Once upon a time", true, true).length);
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(6);
        assertThat(usage.get("total_tokens").asInt()).isEqualTo(usage.get("prompt_tokens").asInt() + 6);

        // Token-id prompts work too, and greedy is reproducible.
        int[] ids = model.vocabulary().tokenize("Once upon a time", true, true);
        Reply again = post("/completions", "{\"prompt\":" + java.util.Arrays.toString(ids)
                + ",\"max_tokens\":6,\"temperature\":0}", KEY);
        assertThat(again.json().get("choices").get(0).get("text").asText()).isEqualTo(choice.get("text").asText());
    }

    /**
     * The legacy completions shape of logprobs ({@code logprobs: N} alternatives): parallel arrays whose tokens make
     * up the text, greedy picks the most likely alternative, and the values equal the facade's for the same greedy
     * generation; streaming sends the same values chunk by chunk with running text offsets.
     */
    @Test
    void completionsLogprobsInTheLegacyShape() throws Exception {
        String request = "{\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0,\"logprobs\":3";
        Reply r = post("/completions", request + "}", KEY);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode choice = r.json().get("choices").get(0);
        JsonNode lp = choice.get("logprobs");
        StringBuilder joined = new StringBuilder();
        List<Double> values = new ArrayList<>();
        for (int i = 0; i < lp.get("tokens").size(); i++) {
            assertThat(lp.get("text_offset").get(i).asInt()).isEqualTo(joined.length());
            joined.append(lp.get("tokens").get(i).asText());
            double chosen = lp.get("token_logprobs").get(i).asDouble();
            values.add(chosen);
            JsonNode top = lp.get("top_logprobs").get(i);
            assertThat(top.size()).isBetween(1, 3);
            top.properties().forEach(e -> assertThat(e.getValue().asDouble()).isLessThanOrEqualTo(chosen + 1e-6));
        }
        assertThat(joined.toString()).isEqualTo(choice.get("text").asText());
        assertThat(values).hasSize(6);

        // The facade's values for the same greedy generation.
        try (io.github.llamaffm.LlamaContext ctx = model.newContext(contextOptions(1, 2048));
             io.github.llamaffm.Generation g = ctx.generate("Once upon a time", io.github.llamaffm.GenerateOptions
                     .builder().maxTokens(6).sampler(io.github.llamaffm.Sampler.greedy()).probabilities(true)
                     .topProbabilities(3).build())) {
            List<Double> facade = new ArrayList<>();
            g.forEach(t -> facade.add((double) t.logprob()));
            assertThat(values).zipSatisfy(facade, (a, b) -> assertThat(a).isCloseTo(b, org.assertj.core.data.Offset.offset(1e-4)));
        }

        HttpResponse<String> s = http.send(HttpRequest.newBuilder(URI.create(base() + "/completions"))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(request + ",\"stream\":true}")).build(),
                HttpResponse.BodyHandlers.ofString());
        List<Double> streamed = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (String event : s.body().split("\n\n")) {
            if (!event.startsWith("data: {")) {
                continue;
            }
            JsonNode c = JSON.readTree(event.substring(6)).get("choices").get(0);
            JsonNode l = c.get("logprobs");
            for (int i = 0; l != null && !l.isNull() && i < l.get("tokens").size(); i++) {
                assertThat(l.get("text_offset").get(i).asInt()).isEqualTo(text.length());
                streamed.add(l.get("token_logprobs").get(i).asDouble());
            }
            text.append(c.get("text").asText());
        }
        assertThat(text.toString()).isEqualTo(choice.get("text").asText());
        // (the same values up to float noise: this request reuses the cached prompt, so its batches differ)
        assertThat(streamed).zipSatisfy(values, (a, b) -> assertThat(a).isCloseTo(b, org.assertj.core.data.Offset.offset(1e-4)));

        assertThat(post("/completions", request.replace("\"logprobs\":3", "\"logprobs\":true") + "}", KEY).status())
                .isEqualTo(400);
    }

    @Test
    void completionsStreamingSendsServerSentEventsThenDone() throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(base() + "/completions"))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hello\",\"max_tokens\":5,\"stream\":true,"
                        + "\"stream_options\":{\"include_usage\":true},\"temperature\":0}"))
                .build();
        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        String[] events = r.body().split("\n\n");
        assertThat(events[events.length - 1]).isEqualTo("data: [DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (int i = 0; i < events.length - 1; i++) {
            assertThat(events[i]).startsWith("data: {");
            JsonNode e = JSON.readTree(events[i].substring(6));
            if (e.hasNonNull("usage")) {
                usage = e.get("usage");
                continue;
            }
            JsonNode c = e.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertThat(finish).isEqualTo("length");
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(5);
        Reply plain = post("/completions", "{\"prompt\":\"Hello\",\"max_tokens\":5,\"temperature\":0}", KEY);
        assertThat(text.toString()).isEqualTo(plain.json().get("choices").get(0).get("text").asText());
    }

    @Test
    void modelsAndHealth() throws Exception {
        Reply models = get(base() + "/models", KEY);
        assertThat(models.status()).isEqualTo(200);
        assertThat(models.json().get("object").asText()).isEqualTo("list");
        assertThat(models.json().get("data").get(0).get("id").asText()).isEqualTo("demo");
        assertThat(models.json().get("data").get(0).get("object").asText()).isEqualTo("model");
        assertThat(get(base() + "/models/demo", KEY).status()).isEqualTo(200);
        assertThat(get(base() + "/models/other", KEY).status()).isEqualTo(404);

        String root = base().substring(0, base().length() - "/v1".length());
        Reply health = get(root + "/health", null); // no key needed
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.json().get("status").asText()).isEqualTo("ok");
        assertThat(health.json().get("sequences").asInt()).isEqualTo(4);
        assertThat(health.json().get("sequence_context_size").asInt()).isEqualTo(512);
    }

    @Test
    void embeddingsFloatAndBase64Agree() throws Exception {
        Reply f = post("/embeddings", "{\"input\":[\"a llama\",\"an alpaca\"]}", KEY);
        Reply b = post("/embeddings", "{\"input\":\"a llama\",\"encoding_format\":\"base64\"}", KEY);

        assertThat(f.status()).as(f.body()).isEqualTo(200);
        JsonNode data = f.json().get("data");
        assertThat(data).hasSize(2);
        assertThat(data.get(1).get("index").asInt()).isOne();
        assertThat(data.get(0).get("embedding")).hasSize(DemoModel.SPEC.embeddingSize());
        assertThat(f.json().get("usage").get("prompt_tokens").asInt()).isPositive();
        ByteBuffer raw = ByteBuffer.wrap(Base64.getDecoder().decode(b.json().get("data").get(0).get("embedding").asText()))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < DemoModel.SPEC.embeddingSize(); i++) {
            assertThat(raw.getFloat()).isEqualTo(data.get(0).get("embedding").get(i).floatValue());
        }
    }

    @Test
    void badRequestsGetOpenAiStyleErrors() throws Exception {
        Reply badJson = post("/chat/completions", "{\"messages\": [", KEY);
        assertThat(badJson.status()).isEqualTo(400);
        assertThat(badJson.error().get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(badJson.error().get("message").asText()).contains("not valid JSON");

        Reply noMessages = post("/chat/completions", "{\"model\":\"demo\"}", KEY);
        assertThat(noMessages.status()).isEqualTo(400);
        assertThat(noMessages.error().get("param").asText()).isEqualTo("messages");

        Reply hotTemp = post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":5}", KEY);
        assertThat(hotTemp.status()).isEqualTo(400);
        assertThat(hotTemp.error().get("param").asText()).isEqualTo("temperature");

        Reply badRole = post("/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", KEY);
        assertThat(badRole.error().get("param").asText()).isEqualTo("messages[0].role");

        // tools are served now (ServeToolsTest); the legacy 'functions' field is still refused
        Reply tools = post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"functions\":[{\"name\":\"f\"}]}", KEY);
        assertThat(tools.error().get("param").asText()).isEqualTo("functions");

        Reply n2 = post("/completions", "{\"prompt\":\"x\",\"n\":2}", KEY);
        assertThat(n2.error().get("param").asText()).isEqualTo("n");

        Reply badToken = post("/completions", "{\"prompt\":[1, 99999999]}", KEY);
        assertThat(badToken.status()).isEqualTo(400);

        Reply tooLong = post("/completions", "{\"prompt\":\"" + "word ".repeat(600) + "\"}", KEY);
        assertThat(tooLong.status()).isEqualTo(400);
        assertThat(tooLong.error().get("code").asText()).isEqualTo("context_length_exceeded");

        Reply notObject = post("/completions", "[1,2]", KEY);
        assertThat(notObject.status()).isEqualTo(400);

        assertThat(post("/nothing-here", "{}", KEY).status()).isEqualTo(404);
        Reply wrongMethod = get(base() + "/chat/completions", KEY);
        assertThat(wrongMethod.status()).isEqualTo(405);
        wrongMethod.error();
    }

    @Test
    void wrongOrMissingKeyIs401() throws Exception {
        Reply missing = post("/chat/completions", "{}", null);
        assertThat(missing.status()).isEqualTo(401);
        assertThat(missing.error().get("type").asText()).isEqualTo("authentication_error");
        Reply wrong = post("/chat/completions", "{}", "not-the-key");
        assertThat(wrong.status()).isEqualTo(401);
        assertThat(wrong.error().get("code").asText()).isEqualTo("invalid_api_key");
        assertThat(get(base() + "/models", "nope").status()).isEqualTo(401);

        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base()).apiKey("wrong").modelName("demo")
                .maxTokens(2).maxRetries(0).build();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> chat.chat("hi"))
                .hasMessageContaining("incorrect API key");
    }

    @Test
    void oversizedBodyIs413() throws Exception {
        String big = "{\"prompt\":\"" + "x".repeat(20 * 1024) + "\"}";
        Reply r = post("/completions", big, KEY);
        assertThat(r.status()).isEqualTo(413);
        assertThat(r.error().get("code").asText()).isEqualTo("request_too_large");
    }

    /**
     * An error answered before the body was read must leave the connection usable or say {@code Connection: close}:
     * the JDK server closes a connection with unread request bytes silently, and HTTP clients that pooled it then
     * fail the next request ("header parser received no bytes", seen in SoakTest). Checked on one raw socket.
     */
    @Test
    void errorsBeforeTheBodyIsReadKeepTheConnectionHonest() throws Exception {
        URI u = server.baseUri();
        try (java.net.Socket s = new java.net.Socket(u.getHost(), u.getPort())) {
            s.setSoTimeout(30_000);
            var out = s.getOutputStream();
            var in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
            String body = "{\"model\":\"demo\"}";
            // Unknown path (404), wrong method (405), no key (401): each with a small body the handler never reads.
            for (String target : List.of("/nope", "/v1/models", "/v1/chat/completions")) {
                String method = target.equals("/v1/models") ? "DELETE" : "POST";
                String auth = target.equals("/v1/chat/completions") ? "" : "Authorization: Bearer " + KEY + "\r\n";
                out.write((method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String head = readHead(in);
                assertThat(head).as(method + " " + target).matches("(?s)HTTP/1.1 4\\d\\d .*");
                assertThat(head.toLowerCase()).doesNotContain("connection: close");
                Matcher m = Pattern.compile("(?i)content-length: (\\d+)").matcher(head);
                assertThat(m.find()).isTrue();
                in.readNBytes(Integer.parseInt(m.group(1)));
            }
            // The same connection still answers.
            out.write(("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(readHead(in)).startsWith("HTTP/1.1 200");
        }
        // A declared body over the limit is not read: the 413 says the connection closes.
        try (java.net.Socket s = new java.net.Socket(u.getHost(), u.getPort())) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Length: 1000000\r\n\r\n{").getBytes(StandardCharsets.US_ASCII));
            String head = readHead(new java.io.DataInputStream(s.getInputStream()));
            assertThat(head).startsWith("HTTP/1.1 413");
            assertThat(head.toLowerCase()).contains("connection: close");
        }
    }

    private static String readHead(InputStream in) throws java.io.IOException {
        StringBuilder sb = new StringBuilder();
        while (!sb.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                throw new java.io.EOFException("connection closed after: " + sb);
            }
            sb.append((char) c);
        }
        return sb.toString();
    }

    // --- prompt cache --------------------------------------------------------------------------------------

    /**
     * A multi-turn chat re-sends its history: the server routes each turn to the sequence holding the longest common
     * prefix and decodes only the rest; usage.prompt_tokens_details.cached_tokens says how many were reused. Prints
     * the prompt tokens decoded per turn (without the cache every turn decodes all of prompt_tokens).
     */
    @Test
    void multiTurnChatDecodesOnlyTheNewTurn() throws Exception {
        var messages = JSON.createArrayNode();
        messages.addObject().put("role", "system").put("content", "You are a helpful assistant. Answer briefly.");
        int previousTotal = 0;
        for (int turn = 1; turn <= 4; turn++) {
            messages.addObject().put("role", "user").put("content", "Question number " + turn + ": tell me more.");
            var body = JSON.createObjectNode().put("max_tokens", 16).put("temperature", 0.0);
            body.set("messages", messages);
            Reply r = post("/chat/completions", JSON.writeValueAsString(body), KEY);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            JsonNode usage = r.json().get("usage");
            int prompt = usage.get("prompt_tokens").asInt();
            int cached = usage.get("prompt_tokens_details").get("cached_tokens").asInt();
            System.out.printf("prompt cache: turn %d: prompt_tokens=%d cached_tokens=%d decoded=%d%n",
                    turn, prompt, cached, prompt - cached);
            if (turn == 1) {
                // Earlier tests on this server may have left a sequence sharing the template's opening tokens.
                assertThat(cached).isLessThan(prompt);
            } else {
                // Everything the previous turn decoded (its prompt and reply) up to where the re-rendered history
                // differs is reused: at least the previous prompt.
                assertThat(cached).as("turn %d", turn).isGreaterThanOrEqualTo(previousTotal - 16).isLessThan(prompt);
            }
            previousTotal = prompt;
            messages.addObject().put("role", "assistant")
                    .put("content", r.json().get("choices").get(0).get("message").get("content").asText());
        }
    }

    // --- busy, disconnects, embeddings off ----------------------------------------------------------------

    @Test
    void busyServerSays429AndADisconnectedStreamFreesItsSequence() throws Exception {
        try (OpenAiServer small = OpenAiServer.start(model, contextOptions(1, 4096),
                OpenAiServer.Options.defaults("demo").withPort(0).withMaxQueue(0).withEmbeddings(false),
                serverLog::add)) {
            String url = small.baseUri() + "/completions";
            HttpRequest longStream = HttpRequest.newBuilder(URI.create(url))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Go on and on\",\"max_tokens\":4000,"
                            + "\"stream\":true}"))
                    .build();
            HttpResponse<InputStream> running = http.send(longStream, HttpResponse.BodyHandlers.ofInputStream());
            assertThat(running.statusCode()).isEqualTo(200);
            BufferedReader reader = new BufferedReader(new InputStreamReader(running.body(), StandardCharsets.UTF_8));
            assertThat(reader.readLine()).startsWith("data: {");
            assertThat(small.requestsInFlight()).isOne();

            HttpResponse<String> busy = http.send(HttpRequest.newBuilder(URI.create(url))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Me too\",\"max_tokens\":2}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(busy.statusCode()).isEqualTo(429);
            assertThat(busy.headers().firstValue("Retry-After")).isPresent();
            Reply busyReply = new Reply(busy.statusCode(), busy.body());
            assertThat(busyReply.error().get("code").asText()).isEqualTo("server_busy");

            reader.close(); // the client goes away mid-stream
            await(() -> small.disconnectedStreams() == 1 && small.requestsInFlight() == 0, Duration.ofSeconds(20));

            HttpResponse<String> after = http.send(HttpRequest.newBuilder(URI.create(url))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Me too\",\"max_tokens\":2}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(after.statusCode()).as(after.body()).isEqualTo(200);

            HttpResponse<String> noEmbeddings = http.send(HttpRequest.newBuilder(URI.create(small.baseUri() + "/embeddings"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"x\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(noEmbeddings.statusCode()).isEqualTo(400);
            assertThat(noEmbeddings.body()).contains("embeddings_disabled");
        }
    }

    private static void await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within %s", timeout).isLessThan(end);
            Thread.sleep(20);
        }
    }

    // --- the command --------------------------------------------------------------------------------------

    @Test
    void serveCommandListensUntilInterrupted() throws Exception {
        StringWriter err = new StringWriter();
        int[] code = {-1};
        Thread t = Thread.ofPlatform().start(() -> code[0] = Cli.commandLine(new Cli(InputStream.nullInputStream()),
                new PrintWriter(new StringWriter(), true), new PrintWriter(err, true))
                .execute("serve", "--port", "0", "-np", "2", "-c", "512", "-t", "2", "--alias", "cli-demo",
                        "--demo-cache", demoCache.toString()));
        Pattern listening = Pattern.compile("listening on (http://127\\.0\\.0\\.1:\\d+/v1)[^\\n]*\\n");
        // The whole line: printf reaches the StringWriter piece by piece, so wait for its end.
        await(() -> listening.matcher(err.toString()).find() || !t.isAlive(), Duration.ofSeconds(60));
        Matcher m = listening.matcher(err.toString());
        assertThat(m.find()).as(err.toString()).isTrue();
        assertThat(err.toString()).contains("2 parallel sequences of 256 tokens");

        Reply models = get(m.group(1) + "/models", null);
        assertThat(models.json().get("data").get(0).get("id").asText()).isEqualTo("cli-demo");

        t.interrupt();
        t.join(30_000);
        assertThat(t.isAlive()).isFalse();
        assertThat(code[0]).as(err.toString()).isZero();
        assertThat(err.toString()).contains("stopping");
    }

    @Test
    void serveRejectsBadFlags() {
        StringWriter err = new StringWriter();
        int code = Cli.commandLine(new Cli(InputStream.nullInputStream()), new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true)).execute("serve", "--parallel", "0", "--demo-cache", demoCache.toString());
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("--parallel must be in 1..256");
    }

    @Test
    void benchServeRunsABriefLoad() throws Exception {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Cli.commandLine(new Cli(InputStream.nullInputStream()), new PrintWriter(out, true),
                new PrintWriter(err, true)).execute("bench-serve", "--clients", "2", "--duration", "1", "-n", "8",
                "--warmup", "1", "-np", "2", "-c", "512", "-t", "2", "--json", "--demo-cache", demoCache.toString());
        assertThat(code).as(err.toString()).isZero();
        JsonNode json = JSON.readTree(out.toString());
        assertThat(json.get("errors").asInt()).isZero();
        assertThat(json.get("requests").asInt()).isPositive();
        assertThat(json.get("completionTokens").asLong()).isEqualTo(8L * json.get("requests").asInt());
        assertThat(json.get("tokensPerSecond").asDouble()).isPositive();
        assertThat(json.get("ttftMillis").get("p50").asDouble()).isPositive();
    }
}
