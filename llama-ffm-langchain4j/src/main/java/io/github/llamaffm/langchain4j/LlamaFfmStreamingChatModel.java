package io.github.llamaffm.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.PartialThinking;
import dev.langchain4j.model.chat.response.PartialThinkingContext;
import dev.langchain4j.model.chat.response.PartialToolCall;
import dev.langchain4j.model.chat.response.PartialToolCallContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.ReplyDeltas;

import java.util.List;
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
 * <p>With tools or a JSON response format, what streams is what llama.cpp's parser makes of the text so far: content
 * as partial responses, each tool call's arguments as partial tool calls, then one {@code onCompleteToolCall} per
 * call. Requests that cannot be served (image content, another model name) throw LangChain4j's
 * {@code UnsupportedFeatureException} from {@code chat(...)} itself.
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
        Rendered rendered;
        try {
            rendered = render(request);
        } catch (UnsupportedFeatureException e) {
            throw e; // what this model never serves: refused at once, as LangChain4j's providers do
        } catch (RuntimeException e) {
            error(handler, e); // e.g. the chat template cannot render these messages
            return;
        }
        AtomicReference<GenerationService.Request> started = new AtomicReference<>();
        Handle handle = new Handle(started);
        Stream stream = new Stream(rendered.prompt(), handler, new PartialResponseContext(handle),
                rendered.prompt().grammar().isPresent() || (request.parameters().toolSpecifications() != null
                        && !request.parameters().toolSpecifications().isEmpty()));
        GenerationService.Request r;
        try {
            r = enqueue(rendered, token -> {
                if (!handle.isCancelled()) {
                    stream.token(token.text());
                }
            });
        } catch (RuntimeException e) {
            error(handler, e);
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
            stream.complete(result);
        });
    }

    /**
     * One reply's callbacks. A plain-text reply streams the released text of each token; a structured one (tools or
     * a response format: the format constrains and parses it) streams what llama.cpp's parser makes of the text so
     * far ({@link ReplyDeltas}), as LangChain4j's own providers stream (its {@code ToolCallBuilder}): new reasoning as
     * partial thinking, new content as partial responses, new argument text of the call being written as partial tool
     * calls, and one {@code onCompleteToolCall} per call once the next call has begun or the reply has ended (a call
     * the token limit cut off is never completed).
     */
    private final class Stream {
        private final ChatFormat.Prompt prompt;
        private final StreamingChatResponseHandler handler;
        private final PartialResponseContext context;
        private final boolean structured;
        private final StringBuilder raw = new StringBuilder();
        private final ReplyDeltas deltas = new ReplyDeltas();

        Stream(ChatFormat.Prompt prompt, StreamingChatResponseHandler handler, PartialResponseContext context,
               boolean structured) {
            this.prompt = prompt;
            this.handler = handler;
            this.context = context;
            this.structured = structured;
        }

        void token(String text) {
            if (!structured) {
                content(text);
                return;
            }
            raw.append(text);
            ChatReply partial;
            try {
                partial = prompt.parsePartial(raw.toString());
            } catch (RuntimeException e) {
                return; // not parseable yet: the next token may complete it
            }
            emit(deltas.next(partial));
        }

        private void emit(ReplyDeltas.Delta delta) {
            if (!delta.reasoning().isEmpty()) {
                callback(() -> handler.onPartialThinking(new PartialThinking(delta.reasoning()),
                        new PartialThinkingContext(context.streamingHandle())));
            }
            content(delta.content());
            for (ReplyDeltas.ToolCallDelta c : delta.toolCalls()) {
                if (!c.arguments().isEmpty()) {
                    callback(() -> handler.onPartialToolCall(PartialToolCall.builder().index(c.index())
                            .id(c.call().id()).name(c.call().name()).partialArguments(c.arguments()).build(),
                            new PartialToolCallContext(context.streamingHandle())));
                }
                if (c.complete()) {
                    ToolExecutionRequest request = ChatMapping.toolRequests(List.of(c.call())).getFirst();
                    callback(() -> handler.onCompleteToolCall(new CompleteToolCall(c.index(), request)));
                }
            }
        }

        private void content(String text) {
            if (!text.isEmpty()) {
                callback(() -> handler.onPartialResponse(new PartialResponse(text), context));
            }
        }

        /**
         * Calls the handler; what it throws goes to its {@code onError}, an {@link Error} too (e.g. a test's
         * AssertionError): it must not end the service thread that every request shares.
         */
        private void callback(Runnable call) {
            try {
                call.run();
            } catch (VirtualMachineError e) {
                throw e;
            } catch (RuntimeException | Error e) {
                error(handler, e);
            }
        }

        void complete(GenerationResult result) {
            ChatReply reply = prompt.parse(result);
            if (structured) {
                emit(deltas.finish(reply));
            }
            callback(() -> handler.onCompleteResponse(ChatMapping.response(reply, engine.modelName)));
        }
    }

    private static void error(StreamingChatResponseHandler handler, Throwable error) {
        try {
            handler.onError(error);
        } catch (VirtualMachineError e) {
            throw e;
        } catch (RuntimeException | Error ignored) {
            // as LangChain4j's providers do: an exception from onError is ignored (an Error too: it must not end the
            // service thread that every request shares)
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
