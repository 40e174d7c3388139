package io.github.llamaffm.springai;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.annotation.Tool;
import org.springframework.ai.tool.annotation.ToolParam;
import org.springframework.ai.tool.function.FunctionToolCallback;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Spring AI's tool calling (ChatClient's tool-calling advisor and ToolCallingManager executing a {@code @Tool}
 * method) and native structured output ({@code entity(...)}) on the tiny model: random weights never choose a tool or
 * write JSON, so what is checked here is what llama.cpp's grammar forced and its parser returned.
 */
class LlamaFfmToolsAndStructuredOutputTest {
    private static LlamaModel model;
    private static LlamaContext context;
    private static GenerationService service;
    private static LlamaFfmChatModel chat;

    @BeforeAll
    static void start() {
        model = LlamaModel.load(TestModels.tiny());
        context = model.newContext(ContextOptions.builder().contextSize(4096).sequences(2).build());
        service = GenerationService.start(context);
        chat = LlamaFfmChatModel.builder().service(service)
                .defaultOptions(LlamaFfmChatOptions.builder().seed(3L).maxTokens(200).build()).build();
    }

    @AfterAll
    static void stop() {
        chat.close();
        service.close();
        context.close();
        model.close();
    }

    record City(String city) {}

    @Test
    void aForcedToolChoiceReturnsAToolCall() {
        FunctionToolCallback<City, String> weather = FunctionToolCallback
                .builder("getWeather", (Function<City, String>) c -> "sunny").inputType(City.class)
                .description("the weather in a city").build();
        ChatResponse r = chat.call(new Prompt("I live in Munich", LlamaFfmChatOptions.builder()
                .toolCallbacks(weather).toolChoice("required").build()));
        assertThat(r.hasToolCalls()).isTrue();
        AssistantMessage.ToolCall call = r.getResult().getOutput().getToolCalls().getFirst();
        assertThat(call.name()).isEqualTo("getWeather");
        assertThat(call.arguments()).contains("\"city\"");
        assertThat(r.getResult().getMetadata().getFinishReason()).isEqualTo("TOOL_CALLS");
    }

    static final class WeatherTools {
        final List<String> cities = new CopyOnWriteArrayList<>();

        @Tool(description = "the weather in a city", returnDirect = true)
        String getWeather(@ToolParam(description = "the city") String city) {
            cities.add(city);
            return "sunny in " + city;
        }
    }

    @Test
    void chatClientExecutesTheToolThroughSpringAisToolCallingManager() {
        WeatherTools tools = new WeatherTools();
        String answer = ChatClient.create(chat).prompt().user("What is the weather in Munich?").tools(tools)
                .options(LlamaFfmChatOptions.builder().toolChoice("required")).call().content();
        assertThat(tools.cities).hasSize(1);
        assertThat(answer).contains("sunny in " + tools.cities.getFirst());
    }

    record Person(String name, int age, List<String> hobbies) {}

    @Test
    void nativeStructuredOutputReturnsARecord() {
        Person p = ChatClient.create(chat).prompt().user("Ada, 36, likes chess").call()
                .entity(Person.class, spec -> spec.useProviderStructuredOutput());
        assertThat(p).isNotNull();
        assertThat(p.name()).isNotNull();
        assertThat(p.hobbies()).isNotNull();
    }
}
