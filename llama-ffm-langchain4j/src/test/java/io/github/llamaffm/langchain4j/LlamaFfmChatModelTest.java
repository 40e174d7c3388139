package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.agent.tool.ToolSpecification;
import io.github.llamaffm.ChatMessage;
import io.github.llamaffm.ChatTemplate;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Generation;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The chat model on a generated tiny model (random weights: gibberish, but deterministic). Outside truth: the facade's
 * own greedy generation from the prompt that the model's chat template renders (itself checked against upstream
 * llama.cpp by the facade's tests), and LangChain4j's own AiServices machinery as the caller.
 */
class LlamaFfmChatModelTest {
    static final Path MODEL = TestModels.tiny();
    private static LlamaFfmChatModel chat;

    @BeforeAll
    static void start() {
        chat = LlamaFfmChatModel.builder().modelPath(MODEL).contextSize(2048).parallelSequences(2)
                .temperature(0.0).maxOutputTokens(16).build();
    }

    @AfterAll
    static void stop() {
        chat.close();
    }

    /** Greedy text the facade generates from {@code messages} rendered with the model's template. */
    static String reference(List<ChatMessage> messages, int maxTokens) {
        return TestModels.greedyChatReply(MODEL, messages, maxTokens);
    }

    @Test
    void messagesOfEveryRoleGoThroughTheModelsTemplate() {
        ChatResponse r = chat.chat(SystemMessage.from("You are terse."), UserMessage.from("Hi"),
                AiMessage.from("Hello."), UserMessage.from(TextContent.from("What is"), TextContent.from("2+2?")));
        String expected = reference(List.of(ChatMessage.system("You are terse."), ChatMessage.user("Hi"),
                ChatMessage.assistant("Hello."), ChatMessage.user("What is\n2+2?")), 16);
        assertThat(r.aiMessage().text()).isEqualTo(expected);
        assertThat(r.metadata().modelName()).isEqualTo(MODEL.getFileName().toString());
        assertThat(r.metadata().id()).isNotBlank();
    }

    @Test
    void maxOutputTokensStopsWithLengthAndReportsUsage() {
        ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("Tell me a story"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(5).build()).build());
        assertThat(r.metadata().finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.metadata().tokenUsage().outputTokenCount()).isEqualTo(5);
        try (LlamaModel model = LlamaModel.load(MODEL)) {
            String prompt = ChatTemplate.apply(chat.service().context().chatTemplate(),
                    List.of(ChatMessage.user("Tell me a story")), true);
            assertThat(r.metadata().tokenUsage().inputTokenCount())
                    .isEqualTo(model.vocabulary().tokenize(prompt, true, true).length);
        }
        assertThat(r.metadata().tokenUsage().totalTokenCount())
                .isEqualTo(r.metadata().tokenUsage().inputTokenCount() + 5);
    }

    @Test
    void stopSequencesEndTheTextBeforeThemWithStop() {
        String full = chat.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(16).build()).build()).aiMessage().text();
        String stop = full.substring(full.length() / 2, full.length() / 2 + 2);
        ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(16).stopSequences(List.of(stop)).build())
                .build());
        assertThat(r.aiMessage().text()).isEqualTo(full.substring(0, full.indexOf(stop)));
        assertThat(r.metadata().finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void seedMakesSamplingReproducibleAndParametersReachTheSampler() {
        ChatRequest seeded = ChatRequest.builder().messages(UserMessage.from("Once upon a time"))
                .parameters(LlamaFfmChatRequestParameters.builder().temperature(1.5).topK(0).topP(1.0).minP(0.0)
                        .seed(7L).maxOutputTokens(24).build()).build();
        String a = chat.chat(seeded).aiMessage().text();
        String b = chat.chat(seeded).aiMessage().text();
        ChatRequest other = ChatRequest.builder().messages(UserMessage.from("Once upon a time"))
                .parameters(LlamaFfmChatRequestParameters.builder().temperature(1.5).topK(0).topP(1.0).minP(0.0)
                        .seed(8L).maxOutputTokens(24).build()).build();
        assertThat(a).isEqualTo(b).isNotEqualTo(chat.chat(other).aiMessage().text());
        // temperature 0 (the builder's default here) is greedy
        assertThat(chat.chat("Once upon a time")).isEqualTo(reference(List.of(ChatMessage.user("Once upon a time")), 16));
        // every LangChain4j parameter lands in the facade's sampler and options; unset ones keep llama.cpp's defaults
        GenerateOptions o = ChatMapping.options(LlamaFfmChatRequestParameters.builder().temperature(0.3).topP(0.8)
                .topK(12).minP(0.02).seed(99L).repeatPenalty(1.1).frequencyPenalty(0.4).presencePenalty(0.6)
                .maxOutputTokens(33).stopSequences(List.of("END")).build(), "m", GenerateOptions.defaults());
        Sampler s = o.sampler();
        assertThat(List.<Object>of(s.temperature(), s.topP(), s.topK(), s.minP(), s.seed(), s.penalties().repeat(),
                s.penalties().frequency(), s.penalties().presence(), o.maxTokens(), o.stopStrings()))
                .containsExactly(0.3f, 0.8f, 12, 0.02f, 99L, 1.1f, 0.4f, 0.6f, 33, List.of("END"));
        Sampler d = ChatMapping.options(ChatRequestParameters.builder().build(), "m", GenerateOptions.defaults()).sampler();
        assertThat(d).isEqualTo(Sampler.defaults());
    }

    @Test
    void whatCannotBeServedFailsClearlyBeforeGenerating() {
        long before = chat.service().generatedTokens();
        assertThatThrownBy(() -> chat.chat(UserMessage.from(TextContent.from("What is this?"),
                ImageContent.from("https://example.invalid/cat.jpg"))))
                .isExactlyInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("image");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(UserMessage.from("x"))
                .parameters(ChatRequestParameters.builder().modelName("gpt-4o").build()).build()))
                .isExactlyInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("modelName");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(UserMessage.from("x"))
                .parameters(ChatRequestParameters.builder().temperature(-1.0).build()).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
        assertThat(chat.service().generatedTokens()).isEqualTo(before);
        assertThatThrownBy(() -> LlamaFfmChatModel.builder().modelPath(MODEL).service(chat.service()).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exactly one");
    }

    @Test
    void concurrentCallersShareTheModelAndGetWhatTheyWouldAlone() throws Exception {
        List<String> prompts = List.of("Hi", "Once upon a time", "The Mistral 7B paper", "Sliding windows", "Java");
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        try {
            List<Future<String>> answers = new ArrayList<>();
            for (String p : prompts) {
                answers.add(pool.submit((Callable<String>) () -> chat.chat(p)));
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(answers.get(i).get()).isEqualTo(reference(List.of(ChatMessage.user(prompts.get(i))), 16));
            }
        } finally {
            pool.shutdownNow();
        }
        // a second model on the same service: the loaded model is shared, not loaded again
        try (LlamaFfmChatModel second = LlamaFfmChatModel.builder().service(chat.service()).maxOutputTokens(16)
                .temperature(0.0).build()) {
            assertThat(second.service().context().model()).isSameAs(chat.service().context().model());
            assertThat(second.chat("Hi")).isEqualTo(chat.chat("Hi"));
        }
        assertThat(chat.service().isClosed()).isFalse(); // closing the sharer left the service open
    }

    interface Assistant {
        String chat(String message);
    }

    @Test
    void aiServicesWithChatMemorySendTheWholeConversation() {
        MessageWindowChatMemory memory = MessageWindowChatMemory.withMaxMessages(10);
        Assistant assistant = AiServices.builder(Assistant.class).chatModel(chat).chatMemory(memory)
                .systemMessageProvider(id -> "You are terse.").build();
        String first = assistant.chat("Hi");
        String second = assistant.chat("And then?");
        assertThat(first).isEqualTo(reference(List.of(ChatMessage.system("You are terse."), ChatMessage.user("Hi")), 16));
        assertThat(second).isEqualTo(reference(List.of(ChatMessage.system("You are terse."), ChatMessage.user("Hi"),
                ChatMessage.assistant(first), ChatMessage.user("And then?")), 16));
        assertThat(memory.messages()).hasSize(5);
    }
}
