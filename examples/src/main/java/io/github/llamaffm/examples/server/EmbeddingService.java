package io.github.llamaffm.examples.server;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;

/**
 * {@code /v1/embeddings}: a second, small context created with {@code embeddings(true)} on first use (so a server
 * that never embeds pays nothing for it), used by one request at a time (a context's one-thread rule; embedding is
 * a single short decode). Mean-pooled over the text's tokens and normalized to unit length, as OpenAI's are.
 */
final class EmbeddingService implements AutoCloseable {
    private final LlamaModel model;
    private final int threads;
    private LlamaContext context;
    private boolean closed;

    EmbeddingService(LlamaModel model, int threads) {
        this.model = model;
        this.threads = threads;
    }

    /** Most tokens one input may have: the embedding context's batch size. */
    static final int MAX_TOKENS = 2048;

    record Embedding(float[] vector, int tokens) {}

    synchronized Embedding embed(String text) {
        if (closed) {
            throw SchedulerLoop.shuttingDown();
        }
        if (context == null) {
            int size = Math.min(MAX_TOKENS, Math.max(1, model.info().trainingContext()));
            context = model.newContext(ContextOptions.builder().embeddings(true).contextSize(size).batchSize(size)
                    .microBatchSize(size).threads(threads).batchThreads(threads).build());
        }
        int tokens;
        try {
            tokens = model.vocabulary().tokenize(text, true, false).length;
        } catch (IllegalArgumentException e) { // e.g. a lone surrogate from a JSON escape
            throw ApiException.badRequest(e.getMessage(), "input");
        }
        if (tokens > context.contextSize()) {
            throw ApiException.badRequest("input has " + tokens + " tokens; at most " + context.contextSize()
                    + " can be embedded at once", "input", "context_length_exceeded");
        }
        if (tokens == 0) {
            throw ApiException.badRequest("input must not be empty", "input");
        }
        return new Embedding(context.embed(text, true), tokens);
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (context != null) {
            context.close();
            context = null;
        }
    }
}
