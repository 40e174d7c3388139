package io.github.llamaffm.langchain4j;

import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelOptions;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

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
        LlamaModel model = LlamaModel.load(path, modelOptions);
        LlamaContext ctx = null;
        try {
            ctx = model.newContext(contextOptions);
            return new Engine(GenerationService.start(ctx), model, ctx, template, modelName);
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
