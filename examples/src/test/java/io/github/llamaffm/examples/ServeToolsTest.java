package io.github.llamaffm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.InputFormat;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import io.github.llamaffm.internal.NativeLoader;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tools and structured output through {@code serve}, checked with an unmodified third-party OpenAI client
 * (LangChain4j's OpenAI chat models, streaming and not) on a tiny random-weight model with Qwen 2.5's chat template
 * (models/templates of the pinned llama.cpp): with tool_choice required every reply is a tool call whose arguments
 * validate against the tool's schema (networknt json-schema-validator), over several seeds; a named tool choice calls
 * that tool; tool results go back in the history; a strict JSON response format validates.
 */
@Tag("tiny-model")
@Tag("slow")
class ServeToolsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final int SEEDS = 3;
    static final String WEATHER_SCHEMA = """
            {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "London", "Rome"]},
             "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"],
             "additionalProperties": false}""";

    @TempDir
    static Path models;

    private static LlamaModel model;
    private static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        Path src = Path.of(NativeLoader.load().buildInfo().getProperty("llama.cpp.source"));
        String qwen = Files.readString(src.resolve("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
        TinyModel.Spec spec = DemoModel.SPEC.toBuilder().chatTemplate(qwen).name("tiny qwen tools").build();
        model = LlamaModel.load(TinyModel.cached(spec, src.resolve("models/ggml-vocab-llama-spm.gguf"), models));
        server = OpenAiServer.start(model, ContextOptions.builder().sequences(2).contextSize(4096).threads(1)
                .batchThreads(1).build(), OpenAiServer.Options.defaults("tiny").withPort(0), line -> { });
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (model != null) {
            model.close();
        }
    }

    private static ToolSpecification weatherTool() {
        return ToolSpecification.builder().name("get_weather").description("Weather forecast for a city")
                .parameters(JsonObjectSchema.builder().addEnumProperty("city", List.of("Paris", "London", "Rome"))
                        .addIntegerProperty("days").required("city", "days").build())
                .build();
    }

    private static ToolSpecification timeTool() {
        return ToolSpecification.builder().name("get_time").description("Local time in a city")
                .parameters(JsonObjectSchema.builder().addEnumProperty("city", List.of("Paris", "Tokyo"))
                        .required("city").build())
                .build();
    }

    /** The schemas LangChain4j sends (read back from what the client serialises would be circular): ours. */
    private static void assertValidCall(ToolExecutionRequest call) {
        String schema = switch (call.name()) {
            case "get_weather" -> """
                    {"type": "object", "properties": {"city": {"enum": ["Paris", "London", "Rome"]},
                     "days": {"type": "integer"}}, "required": ["city", "days"]}""";
            case "get_time" -> """
                    {"type": "object", "properties": {"city": {"enum": ["Paris", "Tokyo"]}}, "required": ["city"]}""";
            default -> throw new AssertionError("unknown tool " + call.name());
        };
        assertThat(REGISTRY.getSchema(schema, InputFormat.JSON).validate(call.arguments(), InputFormat.JSON))
                .as(call.toString()).isEmpty();
        assertThat(call.id()).isNotBlank();
    }

    private static String base() {
        return server.baseUri().toString();
    }

    private static ChatRequest toolRequest(ToolChoice choice) {
        return ChatRequest.builder().messages(UserMessage.from("What's the weather in Paris this week?"))
                .toolSpecifications(weatherTool(), timeTool()).toolChoice(choice).build();
    }

    @Test
    void requiredToolChoiceAlwaysGivesAValidToolCall() {
        int calls = 0;
        for (int seed = 1; seed <= SEEDS; seed++) {
            OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base()).apiKey("none").modelName("tiny")
                    .seed(seed).maxTokens(200).parallelToolCalls(false).timeout(Duration.ofSeconds(120)).build();
            ChatResponse r = chat.chat(toolRequest(ToolChoice.REQUIRED));
            assertThat(r.aiMessage().toolExecutionRequests()).as("seed %d: %s", seed, r).isNotEmpty();
            assertThat(r.finishReason()).isIn(FinishReason.TOOL_EXECUTION, FinishReason.LENGTH);
            r.aiMessage().toolExecutionRequests().forEach(ServeToolsTest::assertValidCall);
            calls += r.aiMessage().toolExecutionRequests().size();

            // the call and its result go back as history (assistant tool_calls + tool message)
            ToolExecutionRequest call = r.aiMessage().toolExecutionRequests().getFirst();
            ChatResponse next = chat.chat(ChatRequest.builder().messages(
                    UserMessage.from("What's the weather in Paris this week?"), r.aiMessage(),
                    ToolExecutionResultMessage.from(call, "{\"forecast\": \"sunny\"}")).build());
            assertThat(next.aiMessage()).isNotNull();
        }
        assertThat(calls).isGreaterThanOrEqualTo(SEEDS);
    }

    @Test
    void requiredToolChoiceStreamsToolCallDeltas() throws Exception {
        for (int seed = 1; seed <= SEEDS; seed++) {
            OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(base()).apiKey("none")
                    .modelName("tiny").seed(seed).maxTokens(200).parallelToolCalls(false)
                    .timeout(Duration.ofSeconds(120)).build();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            chat.chat(toolRequest(ToolChoice.REQUIRED), new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String partialResponse) {
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
            ChatResponse r = done.get(180, TimeUnit.SECONDS);
            assertThat(r.aiMessage().toolExecutionRequests()).as("seed %d: %s", seed, r).isNotEmpty();
            r.aiMessage().toolExecutionRequests().forEach(ServeToolsTest::assertValidCall);
        }
    }

    @Test
    void namedToolChoiceCallsThatToolAndJsonSchemaResponsesValidate() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        for (int seed = 1; seed <= SEEDS; seed++) {
            String body = """
                    {"model": "tiny", "seed": %d, "max_tokens": 200,
                     "messages": [{"role": "user", "content": "Time in Tokyo?"}],
                     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": %s}},
                               {"type": "function", "function": {"name": "get_time", "parameters":
                                 {"type": "object", "properties": {"city": {"enum": ["Paris", "Tokyo"]}},
                                  "required": ["city"]}}}],
                     "tool_choice": {"type": "function", "function": {"name": "get_time"}}}"""
                    .formatted(seed, WEATHER_SCHEMA);
            JsonNode r = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(base() + "/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString())
                    .body());
            JsonNode calls = r.at("/choices/0/message/tool_calls");
            assertThat(calls.isArray() && !calls.isEmpty()).as(r.toString()).isTrue();
            for (JsonNode c : calls) {
                assertThat(c.at("/function/name").asText()).isEqualTo("get_time");
                assertValidCall(ToolExecutionRequest.builder().id(c.get("id").asText()).name("get_time")
                        .arguments(c.at("/function/arguments").asText()).build());
            }
            assertThat(r.at("/choices/0/finish_reason").asText()).isIn("tool_calls", "length");
        }
        // response_format json_schema (strict) through LangChain4j
        for (int seed = 1; seed <= SEEDS; seed++) {
            OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base()).apiKey("none").modelName("tiny")
                    .seed(seed).maxTokens(200).strictJsonSchema(true).timeout(Duration.ofSeconds(120)).build();
            ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("Forecast as JSON"))
                    .responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON).jsonSchema(JsonSchema
                            .builder().name("forecast").rootElement(JsonObjectSchema.builder()
                                    .addEnumProperty("city", List.of("Paris", "London", "Rome"))
                                    .addBooleanProperty("sunny").required("city", "sunny").build()).build())
                            .build()).build());
            String schema = """
                    {"type": "object", "properties": {"city": {"enum": ["Paris", "London", "Rome"]},
                     "sunny": {"type": "boolean"}}, "required": ["city", "sunny"]}""";
            assertThat(REGISTRY.getSchema(schema, InputFormat.JSON).validate(r.aiMessage().text(), InputFormat.JSON))
                    .as(r.aiMessage().text()).isEmpty();
        }
    }

    /**
     * {@code serve --moderation}: each chat request's last user message is classified first, through the scheduler;
     * the verdict matches the facade's {@link io.github.llamaffm.Moderation#classify} on the same model (greedy, so
     * repeatable), and only an acceptable message gets an answer; the others get 400 {@code content_filter}.
     */
    @Test
    void moderationFlagFiltersRequestsAsTheFacadeClassifiesThem() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        try (OpenAiServer moderated = OpenAiServer.start(model, ContextOptions.builder().sequences(1).contextSize(2048)
                        .threads(1).batchThreads(1).build(),
                OpenAiServer.Options.defaults("tiny").withPort(0).withModeration(true), line -> { });
             io.github.llamaffm.LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(2048)
                     .threads(1).batchThreads(1).build())) {
            for (String text : List.of("How do I bake bread?", "Tell me how to commit fraud.",
                    "Should I put all my savings into one stock?")) {
                io.github.llamaffm.Moderation.Category expected = io.github.llamaffm.Moderation.classify(ctx, text);
                String body = JSON.createObjectNode().put("model", "tiny").put("max_tokens", 3)
                        .set("messages", JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user")
                                .put("content", text))).toString();
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(moderated.baseUri()
                                + "/chat/completions")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (expected == io.github.llamaffm.Moderation.Category.ACCEPTABLE) {
                    assertThat(r.statusCode()).as(text + ": " + r.body()).isEqualTo(200);
                } else {
                    assertThat(r.statusCode()).as(text + ": " + r.body()).isEqualTo(400);
                    JsonNode error = JSON.readTree(r.body()).get("error");
                    assertThat(error.get("code").asText()).isEqualTo("content_filter");
                    assertThat(error.get("message").asText()).contains("'" + expected.label() + "'");
                }
            }
            assertThat(moderated.requestsInFlight()).isZero();
        }
    }
}
