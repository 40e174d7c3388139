package io.github.llamaffm.langchain4j;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelOptions;

import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The embeddings context behind {@link LlamaFfmEmbeddingModel} and {@link LlamaFfmScoringModel}: either one the caller
 * gives (shared, not closed here) or one on a model loaded from a path (owned: both closed by {@link #close()}), with
 * the lock that makes the adapters' calls take turns on it.
 */
final class EmbeddingsContext implements AutoCloseable {
    final LlamaContext context;
    private final ReentrantLock lock = new ReentrantLock();
    private final LlamaModel ownedModel;

    private EmbeddingsContext(LlamaContext context, LlamaModel ownedModel) {
        this.context = context;
        this.ownedModel = ownedModel;
    }

    /**
     * Exactly one of {@code modelPath} and {@code context}; {@code check} validates the context (given or created)
     * and throws {@link IllegalArgumentException} naming what is wrong.
     */
    static EmbeddingsContext of(Path modelPath, LlamaContext context, ModelOptions modelOptions,
                                ContextOptions contextOptions, Consumer<LlamaContext> check) {
        if ((context == null) == (modelPath == null)) {
            throw new IllegalArgumentException("set exactly one of modelPath(...) and context(...)");
        }
        if (context != null) {
            check.accept(context);
            return new EmbeddingsContext(context, null);
        }
        return Engine.loadWithContext(modelPath, modelOptions,
                contextOptions.toBuilder().embeddings(true).kvUnified(true).build(), (model, ctx) -> {
                    check.accept(ctx);
                    return new EmbeddingsContext(ctx, model);
                });
    }

    /** Runs {@code call} on the context while holding the lock (the adapters' calls take turns). */
    <T> T locked(Supplier<T> call) {
        lock.lock();
        try {
            return call.get();
        } finally {
            lock.unlock();
        }
    }

    /** Frees the model and context if they were loaded here. */
    @Override
    public void close() {
        if (ownedModel != null) {
            lock.lock();
            try {
                context.close();
                ownedModel.close();
            } finally {
                lock.unlock();
            }
        }
    }
}
