package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.github.llamaffm.GenerationService;

import java.util.List;
import io.github.llamaffm.LlamaException;

import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;

/**
 * A LangChain4j {@link ChatModel} running a GGUF model in process through llama-ffm: messages rendered with the
 * model's chat template, LangChain4j's request parameters mapped onto llama.cpp's sampler, token usage and finish
 * reason reported. Calls from many threads are served together through a {@link GenerationService} (continuous
 * batching over {@link ChatModelBuilder#parallelSequences(int)} sequences).
 *
 * {@snippet :
 * try (LlamaFfmChatModel model = LlamaFfmChatModel.builder()
 *         .modelPath(Path.of("mistral-7b-instruct-v0.2.Q4_K_M.gguf"))
 *         .contextSize(8192).parallelSequences(4).temperature(0.7)
 *         .build()) {
 *     String answer = model.chat("Summarise sliding window attention in one line.");
 * }
 * }
 *
 * <p>Not supported (yet): tool calling, JSON response formats, image/audio content — such requests fail with
 * LangChain4j's {@code UnsupportedFeatureException} before anything is generated.
 */
public final class LlamaFfmChatModel implements ChatModel, AutoCloseable {
    private final ChatCore core;

    private LlamaFfmChatModel(Builder builder) {
        this.core = new ChatCore(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        GenerationService.Request r = core.submit(request, token -> { });
        try {
            return ChatMapping.response(r.completion().get(), core.engine.modelName);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new LlamaException("generation failed", e.getCause());
        } catch (InterruptedException e) {
            r.cancel();
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while generating");
        }
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return core.defaultRequestParameters();
    }

    @Override
    public List<ChatModelListener> listeners() {
        return core.listeners;
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The service this model runs on: pass it to {@link ChatModelBuilder#service} to share the loaded model. */
    public GenerationService service() {
        return core.engine.service;
    }

    /** Frees the model if this chat model loaded it ({@link ChatModelBuilder#modelPath}); a shared service stays open. */
    @Override
    public void close() {
        core.close();
    }

    /** Builds a {@link LlamaFfmChatModel}; see {@link ChatModelBuilder}. */
    public static final class Builder extends ChatModelBuilder<Builder> {
        private Builder() {}

        /** Loads the model (for {@link #modelPath}) and starts serving. */
        public LlamaFfmChatModel build() {
            return new LlamaFfmChatModel(this);
        }
    }
}
