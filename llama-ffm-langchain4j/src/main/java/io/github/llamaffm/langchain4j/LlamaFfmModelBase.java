package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationService;

import java.util.List;
import java.util.Set;

/**
 * What {@link LlamaFfmChatModel} and {@link LlamaFfmStreamingChatModel} share: the engine, default parameters,
 * listeners, and the methods of LangChain4j's chat model interfaces that read them.
 */
public abstract sealed class LlamaFfmModelBase implements AutoCloseable
        permits LlamaFfmChatModel, LlamaFfmStreamingChatModel {
    final Engine engine;
    private final LlamaFfmChatRequestParameters defaults;
    private final List<ChatModelListener> listeners;

    LlamaFfmModelBase(ChatModelBuilder<?> builder) {
        LlamaFfmChatRequestParameters defaults = builder.parameters();
        List<ChatModelListener> listeners = builder.listeners();
        Engine engine = builder.engine();
        try {
            ChatMapping.options(defaults, engine.modelName, GenerateOptions.defaults()); // fail at build time
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        this.engine = engine;
        this.defaults = defaults;
        this.listeners = listeners;
    }

    /** A request rendered by the model's chat format, with the generation options it asks for. */
    record Rendered(ChatFormat.Prompt prompt, GenerateOptions options) {}

    /** Validates and renders a request (already merged with the defaults by LangChain4j). */
    Rendered render(ChatRequest request) {
        GenerateOptions options = ChatMapping.options(request.parameters(), engine.modelName, GenerateOptions.defaults());
        ChatFormat.Prompt prompt = ChatMapping.prompt(engine.format, request.messages(), request.parameters());
        return new Rendered(prompt, prompt.applyTo(options));
    }

    GenerationService.Request enqueue(Rendered rendered, GenerationService.TokenListener listener) {
        return engine.service.submit(rendered.prompt().text(), rendered.options(), listener);
    }

    /** JSON Schema output (LangChain4j's AI services then ask for records as JSON, constrained by a grammar). */
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    /** The builder's parameters: LangChain4j merges each request's parameters over them. */
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    public List<ChatModelListener> listeners() {
        return listeners;
    }

    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The service this model runs on: pass it to {@link ChatModelBuilder#service} to share the loaded model. */
    public GenerationService service() {
        return engine.service;
    }

    /**
     * Frees this model's chat format, and the model if this chat model loaded it ({@link ChatModelBuilder#modelPath});
     * a shared service stays open. Idempotent; a request after close throws {@link IllegalStateException}.
     */
    @Override
    public void close() {
        engine.close();
    }
}
