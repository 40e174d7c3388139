package io.github.llamaffm.langchain4j;

import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelOptions;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

/**
 * What a chat model runs on: a {@link GenerationService} (shared, or loaded and owned by this model), the chat
 * template and the name reported in responses.
 */
final class Engine implements AutoCloseable {
    final GenerationService service;
    final ChatFormat format;
    final String modelName;
    private final LlamaModel ownedModel;
    private final LlamaContext ownedContext;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Engine(GenerationService service, LlamaModel ownedModel, LlamaContext ownedContext, String template,
                   String modelName) {
        this.service = service;
        this.ownedModel = ownedModel;
        this.ownedContext = ownedContext;
        LlamaContext ctx = service.context();
        this.format = ChatFormat.of(ctx.model(), template);
        this.modelName = modelName != null ? modelName : defaultName(ctx.model());
    }

    static String defaultName(LlamaModel model) {
        return model.path().getFileName().toString();
    }

    static Engine shared(GenerationService service, String template, String modelName) {
        return new Engine(service, null, null, template, modelName);
    }

    static Engine load(Path path, ModelOptions modelOptions, ContextOptions contextOptions, String template,
                       String modelName) {
        return loadWithContext(path, modelOptions, contextOptions,
                (model, ctx) -> new Engine(GenerationService.start(ctx), model, ctx, template, modelName));
    }

    /**
     * Loads a model, creates one context on it and hands both to {@code then}; if loading, the context or
     * {@code then} fails, nothing stays open. (The adapters that load their own model: chat, embeddings, scoring.)
     */
    static <T> T loadWithContext(Path path, ModelOptions modelOptions, ContextOptions contextOptions,
                                 BiFunction<LlamaModel, LlamaContext, T> then) {
        LlamaModel model = LlamaModel.load(path, modelOptions);
        LlamaContext ctx = null;
        try {
            ctx = model.newContext(contextOptions);
            return then.apply(model, ctx);
        } catch (RuntimeException | Error e) {
            if (ctx != null) {
                ctx.close();
            }
            model.close();
            throw e;
        }
    }

    /** Closes what this engine loaded (a shared service stays open). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            format.close();
            if (ownedModel != null) {
                try {
                    service.close();
                } finally {
                    ownedContext.close();
                    ownedModel.close();
                }
            }
        }
    }
}
