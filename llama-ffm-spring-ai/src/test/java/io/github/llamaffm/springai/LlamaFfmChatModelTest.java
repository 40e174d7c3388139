package io.github.llamaffm.springai;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The Spring AI chat model on the tiny model: options mapping, call, stream, cancellation, what is refused. */
class LlamaFfmChatModelTest {
    private static LlamaModel model;
    private static LlamaContext context;
    private static GenerationService service;
    private static LlamaFfmChatModel chat;

    @BeforeAll
    static void start() {
        model = LlamaModel.load(TestModels.tiny());
        context = model.newContext(ContextOptions.builder().contextSize(1024).sequences(2).build());
        service = GenerationService.start(context);
        chat = LlamaFfmChatModel.builder().service(service)
                .defaultOptions(ChatOptions.builder().temperature(0.0).maxTokens(12).build()).build();
    }

    @AfterAll
    static void stop() {
        service.close();
        context.close();
        model.close();
    }

    @Test
    void optionsMapOntoTheSamplerPromptOverDefaults() {
        GenerateOptions o = LlamaFfmChatModel.options(
                ChatOptions.builder().temperature(0.3).topK(5).maxTokens(9).build(),
                ChatOptions.builder().topK(7).topP(0.9).frequencyPenalty(0.5).presencePenalty(0.25)
                        .stopSequences(List.of("END")).build());
        Sampler s = o.sampler();
        assertThat(List.<Object>of(s.temperature(), s.topK(), s.topP(), s.penalties().frequency(), s.penalties().presence(),
                o.maxTokens(), o.stopStrings())).containsExactly(0.3f, 7, 0.9f, 0.5f, 0.25f, 9, List.of("END"));
        assertThat(LlamaFfmChatModel.options(ChatOptions.builder().build(), null).sampler())
                .isEqualTo(Sampler.defaults());
    }

    @Test
    void callAndStreamAgreeAndReportUsage() {
        Prompt prompt = new Prompt(List.of(new SystemMessage("You are terse."), new UserMessage("Hi"),
                new AssistantMessage("Hello."), new UserMessage("And then?")));
        ChatResponse called = chat.call(prompt);
        assertThat(called.getResult().getMetadata().getFinishReason()).isIn("LENGTH", "STOP");
        assertThat(called.getMetadata().getUsage().getCompletionTokens()).isLessThanOrEqualTo(12).isPositive();
        List<ChatResponse> chunks = chat.stream(prompt).collectList().block();
        StringBuilder sb = new StringBuilder();
        chunks.forEach(c -> sb.append(c.getResult().getOutput().getText()));
        assertThat(sb.toString()).isEqualTo(called.getResult().getOutput().getText());
        assertThat(chunks.getLast().getMetadata().getUsage().getTotalTokens())
                .isEqualTo(called.getMetadata().getUsage().getTotalTokens());
    }

    @Test
    void cancellingTheSubscriptionEndsTheGeneration() throws Exception {
        long before = service.generatedTokens();
        List<ChatResponse> three = chat.stream(new Prompt("Tell me a long story",
                ChatOptions.builder().maxTokens(300).build())).take(3).collectList().block();
        assertThat(three).hasSize(3);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (service.active() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(service.active()).isZero();
        assertThat(service.generatedTokens() - before).isLessThan(20);
    }

    @Test
    void mediaIsRefusedBeforeGenerating() {
        long before = service.generatedTokens();
        assertThatThrownBy(() -> chat.call(new Prompt(UserMessage.builder().text("What is this?")
                .media(List.of(new org.springframework.ai.content.Media(org.springframework.util.MimeTypeUtils.IMAGE_PNG,
                        new org.springframework.core.io.ByteArrayResource(new byte[] {1, 2, 3})))).build())))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("media");
        assertThat(service.generatedTokens()).isEqualTo(before);
    }
}
