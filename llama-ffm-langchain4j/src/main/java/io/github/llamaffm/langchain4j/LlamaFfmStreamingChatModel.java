package io.github.llamaffm.langchain4j;

import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import io.github.llamaffm.GenerationService;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A LangChain4j {@link StreamingChatModel} running a GGUF model in process through llama-ffm. As LangChain4j's own
 * providers do, it returns at once and calls the handler on another thread (the {@link GenerationService}'s): one
 * {@code onPartialResponse} per token that releases text (UTF-8 sequences and possible stop strings are held back
 * and released together), then {@code onCompleteResponse} with the whole text, token usage and finish reason, or
 * {@code onError}. An exception thrown by {@code onPartialResponse} or {@code onCompleteResponse} goes to
 * {@code onError} and streaming goes on. {@link StreamingHandle#cancel()} (from the {@link PartialResponseContext})
 * ends the generation: no further callback is made, not even {@code onCompleteResponse}.
 *
 * {@snippet :
 * LlamaFfmChatModel chat = LlamaFfmChatModel.builder().modelPath(path).parallelSequences(4).build();
 * LlamaFfmStreamingChatModel streaming = LlamaFfmStreamingChatModel.builder().service(chat.service()).build();
 * streaming.chat("Tell me a story", new StreamingChatResponseHandler() {
 *     public void onPartialResponse(String text) { System.out.print(text); }
 *     public void onCompleteResponse(ChatResponse response) { System.out.println(); }
 *     public void onError(Throwable error) { error.printStackTrace(); }
 * });
 * }
 *
 * <p>Requests that cannot be served (tool calling, JSON response formats, image content, another model name) throw
 * LangChain4j's {@code UnsupportedFeatureException} from {@code chat(...)} itself.
 */
public final class LlamaFfmStreamingChatModel extends LlamaFfmModelBase implements StreamingChatModel {
    private LlamaFfmStreamingChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        AtomicReference<GenerationService.Request> started = new AtomicReference<>();
        Handle handle = new Handle(started);
        PartialResponseContext context = new PartialResponseContext(handle);
        GenerationService.Request r;
        try {
            r = submit(request, token -> {
                if (!token.text().isEmpty() && !handle.isCancelled()) {
                    try {
                        handler.onPartialResponse(new PartialResponse(token.text()), context);
                    } catch (RuntimeException e) {
                        error(handler, e);
                    }
                }
            });
        } catch (UnsupportedFeatureException e) {
            throw e; // what this model never serves: refused at once, as LangChain4j's providers do
        } catch (RuntimeException e) {
            error(handler, e); // e.g. the chat template cannot render these messages
            return;
        }
        started.set(r);
        if (handle.isCancelled()) {
            r.cancel();
        }
        r.completion().whenComplete((result, failure) -> {
            if (handle.isCancelled()) {
                return;
            }
            if (failure != null) {
                error(handler, failure instanceof CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure);
                return;
            }
            if (result.finishReason() == io.github.llamaffm.FinishReason.CANCELLED) { // the service was closed
                error(handler, new CancellationException("the generation was cancelled: the model was closed"));
                return;
            }
            ChatResponse response = ChatMapping.response(result, engine.modelName);
            try {
                handler.onCompleteResponse(response);
            } catch (RuntimeException e) {
                error(handler, e);
            }
        });
    }

    private static void error(StreamingChatResponseHandler handler, Throwable error) {
        try {
            handler.onError(error);
        } catch (RuntimeException ignored) {
            // as LangChain4j's providers do: an exception from onError is ignored
        }
    }

    /** Cancels the request it belongs to; callable from any thread, idempotent. */
    private static final class Handle implements StreamingHandle {
        private final AtomicReference<GenerationService.Request> request;
        private volatile boolean cancelled;

        Handle(AtomicReference<GenerationService.Request> request) {
            this.request = request;
        }

        @Override
        public void cancel() {
            cancelled = true;
            GenerationService.Request r = request.get();
            if (r != null) {
                r.cancel();
            }
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }

    /** Builds a {@link LlamaFfmStreamingChatModel}; see {@link ChatModelBuilder}. */
    public static final class Builder extends ChatModelBuilder<Builder> {
        private Builder() {}

        /** Loads the model (for {@link #modelPath}) and starts serving. */
        public LlamaFfmStreamingChatModel build() {
            return new LlamaFfmStreamingChatModel(this);
        }
    }
}
