package io.github.llamaffm.springai;

import com.networknt.schema.InputFormat;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.converter.BeanOutputConverter;
import org.springframework.ai.tool.annotation.Tool;
import org.springframework.ai.tool.annotation.ToolParam;
import org.springframework.ai.tool.function.FunctionToolCallback;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Spring AI's tool calling (ChatClient's auto-registered tool-calling advisor and its ToolCallingManager executing a
 * {@code @Tool} method) and native structured output ({@code entity(...)} with provider structured output) on the
 * tiny model with Qwen 2.5's chat template (the pinned llama.cpp's {@code models/templates}). Random weights never
 * choose a tool or write JSON, so what is checked is what llama.cpp's grammar forced and its parser returned, against
 * a JSON Schema validator (networknt) and Spring AI's own converter. Schemas are bounded (enums, numbers, booleans):
 * a random model may never close a free string within the token limit.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LlamaFfmToolsAndStructuredOutputTest {
    private static final SchemaRegistry SCHEMAS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static LlamaModel model;
    private static LlamaContext context;
    private static GenerationService service;
    private static LlamaFfmChatModel chat;

    @BeforeAll
    static void start() {
        model = LlamaModel.load(TestModels.tiny());
        context = model.newContext(ContextOptions.builder().contextSize(4096).sequences(2).build());
        service = GenerationService.start(context);
        chat = LlamaFfmChatModel.builder().service(service).chatTemplate(qwen())
                .defaultOptions(LlamaFfmChatOptions.builder().seed(3L).maxTokens(160).build()).build();
    }

    static String qwen() {
        try {
            return Files.readString(TestModels.llamaSource().resolve("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void stop() {
        chat.close();
        service.close();
        context.close();
        model.close();
    }

    static void assertValid(String schemaJson, String json) {
        assertThat(SCHEMAS.getSchema(schemaJson, InputFormat.JSON).validate(json, InputFormat.JSON))
                .as("%s against %s", json, schemaJson).isEmpty();
    }

    enum City { MUNICH, PARIS }

    record Place(City city) {}

    @Test
    void aForcedToolChoiceReturnsToolCallsWhoseArgumentsValidate() {
        FunctionToolCallback<Place, String> weather = FunctionToolCallback
                .builder("getWeather", (Function<Place, String>) c -> "sunny").inputType(Place.class)
                .description("the weather in a city").build();
        for (long seed = 1; seed <= 2; seed++) {
            ChatResponse r = chat.call(new Prompt("I live in Munich", LlamaFfmChatOptions.builder()
                    .toolCallbacks(weather).toolChoice("required").seed(seed).build()));
            assertThat(r.hasToolCalls()).as("%s", r).isTrue();
            for (AssistantMessage.ToolCall call : r.getResult().getOutput().getToolCalls()) {
                assertThat(call.name()).isEqualTo("getWeather");
                assertThat(call.id()).isNotBlank();
                assertValid(weather.getToolDefinition().inputSchema(), call.arguments());
            }
            assertThat(r.getResult().getMetadata().getFinishReason()).isEqualTo("TOOL_CALLS");
            // streamed with the same seed: the same calls, in the last chunk, with the finish reason
            ChatResponse last = chat.stream(new Prompt("I live in Munich", LlamaFfmChatOptions.builder()
                    .toolCallbacks(weather).toolChoice("required").seed(seed).build())).blockLast();
            assertThat(last.getResult().getOutput().getToolCalls())
                    .extracting(AssistantMessage.ToolCall::name, AssistantMessage.ToolCall::arguments)
                    .isEqualTo(r.getResult().getOutput().getToolCalls().stream()
                            .map(c -> org.assertj.core.groups.Tuple.tuple(c.name(), c.arguments())).toList());
            assertThat(last.getResult().getMetadata().getFinishReason()).isEqualTo("TOOL_CALLS");
        }
    }

    static final class WeatherTools {
        final List<City> cities = new CopyOnWriteArrayList<>();

        @Tool(description = "the weather in a city", returnDirect = true)
        String getWeather(@ToolParam(description = "the city") City city) {
            cities.add(city);
            return "sunny in " + city;
        }
    }

    @Test
    void chatClientExecutesTheToolThroughSpringAisToolCallingManager() {
        WeatherTools tools = new WeatherTools();
        String answer = ChatClient.create(chat).prompt().user("What is the weather in Munich?").tools(tools)
                .options(LlamaFfmChatOptions.builder().toolChoice("required")).call().content();
        assertThat(tools.cities).isNotEmpty();
        // returnDirect: the tool's result is the answer (several calls: Spring AI joins their results)
        assertThat(answer).contains("sunny in " + tools.cities.getFirst());
    }

    @Test
    void toolsOnATemplateWithoutAToolCallFormatFailInsteadOfBeingIgnored() {
        try (LlamaFfmChatModel chatml = LlamaFfmChatModel.builder().service(service).build()) {
            assertThatThrownBy(() -> ChatClient.create(chatml).prompt().user("Weather?").tools(new WeatherTools())
                    .call().content()).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no tool-call format").hasMessageContaining("getWeather");
        }
    }

    enum Title { DR, PROF, NONE }

    record Person(Title title, long age, boolean member) {}

    @Test
    void nativeStructuredOutputIsConstrainedByTheRecordsSchema() {
        String schema = new BeanOutputConverter<>(Person.class).getJsonSchema();
        for (long seed = 1; seed <= 2; seed++) {
            ChatResponse r = chat.call(new Prompt("Dr. Ada, 36, member",
                    LlamaFfmChatOptions.builder().outputSchema(schema).seed(seed).build()));
            assertValid(schema, r.getResult().getOutput().getText());
            Person p = ChatClient.create(chat).prompt().user("Dr. Ada, 36, member")
                    .options(LlamaFfmChatOptions.builder().seed(seed)).call()
                    .entity(Person.class, spec -> spec.useProviderStructuredOutput());
            assertThat(p).isNotNull();
            assertThat(p.title()).isNotNull();
        }
    }
}
