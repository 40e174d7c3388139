package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationService;

import java.util.List;

/** What the chat and the streaming chat model share: the engine, default parameters, listeners. */
final class ChatCore implements AutoCloseable {
    final Engine engine;
    final LlamaFfmChatRequestParameters defaults;
    final List<ChatModelListener> listeners;

    ChatCore(ChatModelBuilder<?> builder) {
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

    /** Validates and queues a request (already merged with the defaults by LangChain4j). */
    GenerationService.Request submit(ChatRequest request, GenerationService.TokenListener listener) {
        GenerateOptions options = ChatMapping.options(request.parameters(), engine.modelName, GenerateOptions.defaults());
        String prompt = ChatMapping.prompt(engine.template, request.messages());
        return engine.service.submit(prompt, options, listener);
    }

    ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    @Override
    public void close() {
        engine.close();
    }
}
