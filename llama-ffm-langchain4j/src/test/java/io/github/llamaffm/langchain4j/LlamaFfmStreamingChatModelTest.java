package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import io.github.llamaffm.ChatMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** The streaming handler contract as LangChain4j's own providers keep it, on the tiny model. */
class LlamaFfmStreamingChatModelTest {
    private static LlamaFfmChatModel chat;
    private static LlamaFfmStreamingChatModel streaming;

    @BeforeAll
    static void start() {
        chat = LlamaFfmChatModel.builder().modelPath(LlamaFfmChatModelTest.MODEL).contextSize(2048)
                .parallelSequences(2).temperature(0.0).maxOutputTokens(24).build();
        streaming = LlamaFfmStreamingChatModel.builder().service(chat.service()).temperature(0.0)
                .maxOutputTokens(24).build();
    }

    @AfterAll
    static void stop() {
        streaming.close();
        chat.close();
    }

    /** Records every callback. */
    static final class Recorder implements StreamingChatResponseHandler {
        final List<String> partials = new CopyOnWriteArrayList<>();
        final Set<Thread> threads = new CopyOnWriteArraySet<>();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();
        final AtomicInteger completions = new AtomicInteger();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();

        @Override
        public void onPartialResponse(String text) {
            partials.add(text);
            threads.add(Thread.currentThread());
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            threads.add(Thread.currentThread());
            completions.incrementAndGet();
            done.complete(response);
        }

        @Override
        public void onError(Throwable error) {
            threads.add(Thread.currentThread());
            errors.add(error);
        }
    }

    @Test
    void partialsOnOneOtherThreadAddUpToTheCompleteResponse() throws Exception {
        Recorder r = new Recorder();
        streaming.chat("Once upon a time", r);
        ChatResponse response = r.done.get(60, TimeUnit.SECONDS);
        assertThat(String.join("", r.partials)).isEqualTo(response.aiMessage().text())
                .isEqualTo(LlamaFfmChatModelTest.reference(List.of(ChatMessage.user("Once upon a time")), 24));
        assertThat(r.partials).allMatch(p -> !p.isEmpty());
        assertThat(r.partials.size()).isBetween(1, 24);
        assertThat(r.threads).hasSize(1).doesNotContain(Thread.currentThread());
        assertThat(response.metadata().finishReason()).isIn(FinishReason.LENGTH, FinishReason.STOP);
        assertThat(response.metadata().tokenUsage().inputTokenCount()).isPositive();
        assertThat(r.errors).isEmpty();
        Thread.sleep(100);
        assertThat(r.completions).hasValue(1);
        // the same as the blocking model on the same service
        assertThat(response.aiMessage().text()).isEqualTo(chat.chat("Once upon a time"));
    }

    @Test
    void cancellingFromTheHandlerStopsEveryFurtherCallback() throws Exception {
        List<String> partials = new CopyOnWriteArrayList<>();
        AtomicInteger completions = new AtomicInteger();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        long before = chat.service().generatedTokens();
        streaming.chat(ChatRequest.builder().messages(UserMessage.from("Tell me a long story"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(200).build()).build(),
                new StreamingChatResponseHandler() {
                    @Override
                    public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                        partials.add(partial.text());
                        if (partials.size() == 3) {
                            context.streamingHandle().cancel();
                            context.streamingHandle().cancel(); // idempotent
                            assertThat(context.streamingHandle().isCancelled()).isTrue();
                            cancelled.complete(null);
                        }
                    }

                    @Override
                    public void onCompleteResponse(ChatResponse response) {
                        completions.incrementAndGet();
                    }

                    @Override
                    public void onError(Throwable error) {
                        errors.add(error);
                    }
                });
        cancelled.get(60, TimeUnit.SECONDS);
        // the generation ends: the service goes idle well before 200 tokens
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (chat.service().active() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(chat.service().active()).isZero();
        assertThat(chat.service().generatedTokens() - before).isLessThan(10);
        Thread.sleep(200);
        assertThat(partials).hasSize(3);
        assertThat(completions).hasValue(0);
        assertThat(errors).isEmpty();
    }

    @Test
    void exceptionsFromTheHandlerGoToOnErrorAndStreamingGoesOn() throws Exception {
        RuntimeException boom = new RuntimeException("user code failed");
        AtomicInteger partialCalls = new AtomicInteger();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        CompletableFuture<Void> lastError = new CompletableFuture<>();
        streaming.chat("Hi", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                partialCalls.incrementAndGet();
                throw boom;
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
                throw boom;
            }

            @Override
            public void onError(Throwable error) {
                errors.add(error);
                if (done.isDone()) {
                    lastError.complete(null);
                }
                throw new IllegalStateException("ignored by the model");
            }
        });
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        lastError.get(60, TimeUnit.SECONDS);
        assertThat(response.aiMessage().text()).isEqualTo(chat.chat("Hi"));
        assertThat(partialCalls.get()).isPositive();
        assertThat(errors).hasSize(partialCalls.get() + 1).allMatch(e -> e == boom);
    }

    /** An Error from user code (a test's failed assertion) goes to onError and does not end the shared service. */
    @Test
    void anErrorFromTheHandlerDoesNotEndTheSharedService() throws Exception {
        AssertionError failed = new AssertionError("a handler's assertion failed");
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat("Hi", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                throw failed;
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                errors.add(error);
                throw new AssertionError("and onError failed too");
            }
        });
        assertThat(done.get(60, TimeUnit.SECONDS).aiMessage().text()).isEqualTo(chat.chat("Hi"));
        assertThat(errors).isNotEmpty().allMatch(e -> e == failed);
        assertThat(chat.service().isClosed()).isFalse();
    }

    interface StreamingAssistant {
        TokenStream chat(String message);
    }

    @Test
    void aiServicesTokenStream() throws Exception {
        StreamingAssistant assistant = AiServices.builder(StreamingAssistant.class).streamingChatModel(streaming)
                .build();
        StringBuilder sb = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        assistant.chat("Once upon a time").onPartialResponse(sb::append).onCompleteResponse(done::complete)
                .onError(done::completeExceptionally).start();
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        assertThat(sb.toString()).isEqualTo(response.aiMessage().text()).isEqualTo(chat.chat("Once upon a time"));
    }
}
