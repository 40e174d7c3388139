package io.github.llamaffm.langchain4j;

import com.networknt.schema.InputFormat;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.langchain4j.agent.tool.P;
import dev.langchain4j.agent.tool.ReturnBehavior;
import dev.langchain4j.agent.tool.Tool;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.internal.Json;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.PartialToolCall;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.Result;
import dev.langchain4j.service.tool.ToolExecution;
import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Tools and JSON output on the tiny model with Qwen 2.5's chat template (the pinned llama.cpp's
 * {@code models/templates}). Random weights would never choose a tool or write JSON by themselves, so every answer
 * here is what llama.cpp's grammar forced, parsed back by llama.cpp's chat parser; the outside truths are a real JSON
 * Schema validator (networknt) and LangChain4j's own AI services, which execute the tool and decode the record.
 * Schemas are bounded (enums, numbers, booleans): a random model may never close a free string within the token
 * limit. Every test has a time limit: a tool loop that never ends must fail, not hang the build.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LlamaFfmToolsAndJsonTest {
    private static final SchemaRegistry SCHEMAS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final ToolSpecification WEATHER = ToolSpecification.builder().name("getWeather")
            .description("the weather in a city")
            .parameters(JsonObjectSchema.builder().addEnumProperty("city", List.of("Munich", "Paris", "Berlin"))
                    .required("city").build()).build();
    private static final ToolSpecification CLOCK = ToolSpecification.builder().name("getTime")
            .description("the time in a time zone")
            .parameters(JsonObjectSchema.builder().addIntegerProperty("utcOffset").required("utcOffset").build())
            .build();
    private static LlamaFfmChatModel chat;
    private static LlamaFfmStreamingChatModel streaming;

    @BeforeAll
    static void start() {
        String qwen = chatTemplate();
        chat = LlamaFfmChatModel.builder().modelPath(LlamaFfmChatModelTest.MODEL).contextSize(4096)
                .parallelSequences(2).chatTemplate(qwen).seed(3L).maxOutputTokens(160).build();
        streaming = LlamaFfmStreamingChatModel.builder().service(chat.service()).chatTemplate(qwen).seed(3L)
                .maxOutputTokens(160).build();
    }

    @AfterAll
    static void stop() {
        if (streaming != null) {
            streaming.close();
        }
        if (chat != null) {
            chat.close();
        }
    }

    static void assertValid(String schemaJson, String json) {
        assertThat(SCHEMAS.getSchema(schemaJson, InputFormat.JSON).validate(json, InputFormat.JSON))
                .as("%s against %s", json, schemaJson).isEmpty();
    }

    static String schemaOf(JsonObjectSchema schema) {
        return Json.toJson(JsonSchemaElementUtils.toMap(schema));
    }

    static ChatRequest forced(String question, long seed, ToolSpecification... tools) {
        return ChatRequest.builder().messages(UserMessage.from(question))
                .parameters(LlamaFfmChatRequestParameters.builder().toolSpecifications(tools)
                        .toolChoice(ToolChoice.REQUIRED).seed(seed).build()).build();
    }

    @Test
    void aForcedToolChoiceYieldsToolCallsWhoseArgumentsValidate() {
        for (long seed = 1; seed <= 2; seed++) {
            ChatResponse r = chat.chat(forced("I live in Munich", seed, WEATHER, CLOCK));
            String what = "seed " + seed + ": " + r;
            assertThat(r.aiMessage().toolExecutionRequests()).as(what).isNotEmpty();
            for (ToolExecutionRequest call : r.aiMessage().toolExecutionRequests()) {
                assertThat(call.name()).as(what).isIn("getWeather", "getTime");
                assertThat(call.id()).as(what).isNotBlank();
                assertValid(schemaOf((call.name().equals("getWeather") ? WEATHER : CLOCK).parameters()),
                        call.arguments());
            }
            assertThat(r.metadata().finishReason()).as(what).isEqualTo(FinishReason.TOOL_EXECUTION);
            assertThat(r.metadata().tokenUsage().outputTokenCount()).isPositive();
        }
    }

    @Test
    void aToolResultGoesBackAndToolChoiceNoneAnswersWithText() {
        ChatResponse first = chat.chat(forced("Weather in Paris?", 7, WEATHER));
        ToolExecutionRequest call = first.aiMessage().toolExecutionRequests().getFirst();
        ChatResponse second = chat.chat(ChatRequest.builder()
                .messages(UserMessage.from("Weather in Paris?"), first.aiMessage(),
                        ToolExecutionResultMessage.from(call, "sunny, 21 C"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(WEATHER)
                        .toolChoice(ToolChoice.NONE).maxOutputTokens(8).build()).build());
        assertThat(second.aiMessage().hasToolExecutionRequests()).isFalse();
        assertThat(second.aiMessage().text()).isNotNull();
        assertThat(second.metadata().finishReason()).isNotEqualTo(FinishReason.TOOL_EXECUTION);
        // the call and its result were rendered into the prompt (Qwen's <tool_call> / <tool_response> blocks)
        assertThat(second.metadata().tokenUsage().inputTokenCount())
                .isGreaterThan(first.metadata().tokenUsage().inputTokenCount() + 10);
    }

    @Test
    void jsonResponseFormatsConstrainTheAnswer() {
        JsonObjectSchema answer = JsonObjectSchema.builder().addEnumProperty("city", List.of("Berlin", "Bonn"))
                .addIntegerProperty("population").addBooleanProperty("capital")
                .required("city", "population", "capital").build();
        String raw = """
                {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                 "required": ["zip"], "additionalProperties": false}""";
        for (long seed = 1; seed <= 2; seed++) {
            ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("The capital of Germany?"))
                    .parameters(LlamaFfmChatRequestParameters.builder().seed(seed).responseFormat(ResponseFormat
                            .builder().type(ResponseFormatType.JSON).jsonSchema(JsonSchema.builder().name("Answer")
                                    .rootElement(answer).build()).build()).build()).build());
            assertValid(schemaOf(answer), r.aiMessage().text());
            assertThat(r.metadata().finishReason()).isEqualTo(FinishReason.STOP);
            ChatResponse rawSchema = chat.chat(ChatRequest.builder().messages(UserMessage.from("A zip code"))
                    .parameters(LlamaFfmChatRequestParameters.builder().seed(seed).responseFormat(ResponseFormat
                            .builder().type(ResponseFormatType.JSON).jsonSchema(JsonSchema.builder().name("Zip")
                                    .rootElement(JsonRawSchema.from(raw)).build()).build()).build()).build());
            assertValid(raw, rawSchema.aiMessage().text());
        }
    }

    @Test
    void toolsOnATemplateWithoutAToolCallFormatFailClearly() {
        try (LlamaFfmChatModel chatml = LlamaFfmChatModel.builder().service(chat.service()).build()) {
            assertThatThrownBy(() -> chatml.chat(forced("I live in Munich", 1, WEATHER)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no tool-call format")
                    .hasMessageContaining("getWeather");
        }
    }

    enum Title { DR, PROF, NONE }

    record Person(Title title, long age, boolean member) {}

    interface Extractor {
        Person extract(String text);
    }

    @Test
    void aiServicesReturnARecordDecodedFromConstrainedJson() {
        List<ChatModelResponseContext> exchanges = new CopyOnWriteArrayList<>();
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onResponse(ChatModelResponseContext context) {
                exchanges.add(context);
            }
        };
        try (LlamaFfmChatModel listened = LlamaFfmChatModel.builder().service(chat.service())
                .chatTemplate(chatTemplate()).maxOutputTokens(160).listeners(List.of(listener)).build()) {
            Extractor extractor = AiServices.create(Extractor.class, listened);
            for (long seed = 1; seed <= 2; seed++) {
                Person p = extractor.extract("Dr. Ada, 36, member " + seed);
                assertThat(p).isNotNull();
                // AI services asked for JSON of the record's schema (the model declares RESPONSE_FORMAT_JSON_SCHEMA)
                ChatModelResponseContext exchange = exchanges.getLast();
                ResponseFormat format = exchange.chatRequest().parameters().responseFormat();
                assertThat(format.type()).isEqualTo(ResponseFormatType.JSON);
                String schema = Json.toJson(JsonSchemaElementUtils.toMap(format.jsonSchema().rootElement()));
                assertThat(schema).contains("\"DR\"", "\"age\"", "\"member\"");
                String text = exchange.chatResponse().aiMessage().text();
                assertValid(schema, text);
                assertThat(p).isEqualTo(Json.fromJson(text, Person.class));
            }
        }
    }

    enum City { MUNICH, PARIS }

    static final class WeatherTools {
        final List<City> cities = new CopyOnWriteArrayList<>();

        @Tool(value = "the weather in a city", returnBehavior = ReturnBehavior.IMMEDIATE)
        String getWeather(@P("the city") City city) {
            cities.add(city);
            return "sunny in " + city;
        }
    }

    interface WeatherAssistant {
        Result<String> ask(String question);
    }

    @Test
    void aiServicesExecuteAToolTheModelIsForcedToCall() {
        WeatherTools tools = new WeatherTools();
        try (LlamaFfmChatModel forced = LlamaFfmChatModel.builder().service(chat.service())
                .chatTemplate(chatTemplate()).seed(5L).maxOutputTokens(160)
                .defaultRequestParameters(ChatRequestParameters.builder().toolChoice(ToolChoice.REQUIRED).build())
                .build()) {
            // IMMEDIATE: the tools' results are the answer. A forced choice on every round trip would otherwise call
            // tools until LangChain4j's limit (100 round trips, minutes on 2 cores); the limit below bounds it too.
            WeatherAssistant assistant = AiServices.builder(WeatherAssistant.class).chatModel(forced).tools(tools)
                    .maxSequentialToolsInvocations(3).build();
            Result<String> answer = assistant.ask("What is the weather in Munich?");
            assertThat(answer.toolExecutions()).isNotEmpty().hasSameSizeAs(tools.cities);
            for (int i = 0; i < tools.cities.size(); i++) {
                ToolExecution execution = answer.toolExecutions().get(i);
                assertThat(execution.request().name()).isEqualTo("getWeather");
                assertThat(execution.result()).isEqualTo("sunny in " + tools.cities.get(i));
            }
            assertThat(answer.finishReason()).isEqualTo(FinishReason.TOOL_EXECUTION);
        }
    }

    private static String chatTemplate() {
        try {
            return Files.readString(TestModels.llamaSource().resolve("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void streamingAForcedToolCallEmitsPartialThenCompleteToolCalls() throws Exception {
        for (long seed = 1; seed <= 2; seed++) {
            List<Object> events = new CopyOnWriteArrayList<>();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat(forced("I live in Munich", seed, WEATHER, CLOCK), new StreamingChatResponseHandler() {
                @Override public void onPartialResponse(String t) { events.add(t); }
                @Override public void onPartialToolCall(PartialToolCall p) { events.add(p); }
                @Override public void onCompleteToolCall(CompleteToolCall c) { events.add(c); }
                @Override public void onCompleteResponse(ChatResponse r) { done.complete(r); }
                @Override public void onError(Throwable e) { done.completeExceptionally(e); }
            });
            ChatResponse r = done.get(2, TimeUnit.MINUTES);
            List<ToolExecutionRequest> calls = r.aiMessage().toolExecutionRequests();
            String what = "seed " + seed + ": " + events;
            assertThat(calls).as(what).isNotEmpty();
            assertThat(r.metadata().finishReason()).isEqualTo(FinishReason.TOOL_EXECUTION);
            // as LangChain4j's providers: partial calls of index i, then its complete call, then index i + 1
            List<CompleteToolCall> completes = events.stream().filter(e -> e instanceof CompleteToolCall)
                    .map(e -> (CompleteToolCall) e).toList();
            assertThat(completes).as(what).hasSize(calls.size());
            int index = 0;
            StringBuilder args = new StringBuilder();
            for (Object e : events) {
                if (e instanceof PartialToolCall p) {
                    assertThat(p.index()).as(what).isEqualTo(index);
                    if (index == calls.size()) { // a last call the token limit cut off: begun, never completed
                        assertThat(r.metadata().tokenUsage().outputTokenCount()).isEqualTo(160);
                        continue;
                    }
                    assertThat(p.name()).isEqualTo(calls.get(index).name());
                    assertThat(p.id()).isEqualTo(calls.get(index).id());
                    args.append(p.partialArguments());
                } else if (e instanceof CompleteToolCall c) {
                    assertThat(c.index()).isEqualTo(index);
                    assertThat(c.toolExecutionRequest()).isEqualTo(calls.get(index));
                    assertThat(args.toString()).as(what).isEqualTo(calls.get(index).arguments());
                    args.setLength(0);
                    index++;
                }
            }
            assertValid(schemaOf((calls.getFirst().name().equals("getWeather") ? WEATHER : CLOCK).parameters()),
                    calls.getFirst().arguments());
            // no text outside the calls: Qwen's format puts none before a required call
            assertThat(events).noneMatch(e -> e instanceof String s && !s.isBlank());
        }
    }

    @Test
    void streamingAJsonResponseFormatStreamsTheJsonAsText() throws Exception {
        JsonObjectSchema answer = JsonObjectSchema.builder().addEnumProperty("city", List.of("Berlin", "Bonn"))
                .required("city").build();
        List<String> parts = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat(ChatRequest.builder().messages(UserMessage.from("The capital of Germany?"))
                .parameters(ChatRequestParameters.builder().responseFormat(ResponseFormat.builder()
                        .type(ResponseFormatType.JSON).jsonSchema(JsonSchema.builder().name("Answer")
                                .rootElement(answer).build()).build()).build()).build(),
                new StreamingChatResponseHandler() {
                    @Override public void onPartialResponse(String t) { parts.add(t); }
                    @Override public void onCompleteResponse(ChatResponse r) { done.complete(r); }
                    @Override public void onError(Throwable e) { done.completeExceptionally(e); }
                });
        ChatResponse r = done.get(2, TimeUnit.MINUTES);
        assertValid(schemaOf(answer), r.aiMessage().text());
        assertThat(String.join("", parts)).isEqualTo(r.aiMessage().text());
    }
}
