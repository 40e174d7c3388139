package io.github.llamaffm.examples.server;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Pooling;
import io.github.llamaffm.RerankScore;

import java.util.List;
import java.util.function.Function;

/**
 * {@code /v1/embeddings} and {@code /v1/rerank}: a second, small context created with {@code embeddings(true)} on
 * first use (so a server that never embeds pays nothing for it), used by one request at a time (a context's
 * one-thread rule); a request's inputs are decoded together, {@value #SEQUENCES} per decode. Vectors are pooled the
 * model's way (mean for models that name no pooling) and normalized to unit length, as OpenAI's are; a reranker
 * model (pooling rank) scores query/document pairs instead.
 */
final class EmbeddingService implements AutoCloseable {
    /** Most tokens one input may have: the embedding context's (micro-)batch size. */
    static final int MAX_TOKENS = 2048;
    /** Inputs decoded together. */
    static final int SEQUENCES = 8;

    private final LlamaModel model;
    private final int threads;
    private LlamaContext context;
    private boolean closed;

    EmbeddingService(LlamaModel model, int threads) {
        this.model = model;
        this.threads = threads;
    }

    /** An input of {@code /v1/embeddings}: text, or token ids. */
    sealed interface Input {
        record Text(String text) implements Input {}

        record Tokens(int[] tokens) implements Input {}
    }

    record Embedding(float[] vector, int tokens) {}

    /** Embeds the inputs (all texts or all token arrays), in order. */
    synchronized List<Embedding> embed(List<Input> inputs) {
        LlamaContext ctx = context();
        if (ctx.pooling() == Pooling.RANK) {
            throw ApiException.badRequest("the model is a reranker (pooling rank): use POST /v1/rerank", "input",
                    "model_is_reranker");
        }
        return facade("input", () -> {
            if (inputs.getFirst() instanceof Input.Text) {
                List<String> texts = inputs.stream().map(i -> ((Input.Text) i).text()).toList();
                List<float[]> vectors = ctx.embed(texts, true);
                return zip(vectors, i -> model.vocabulary().tokenize(texts.get(i), true, false).length);
            }
            List<int[]> tokens = inputs.stream().map(i -> ((Input.Tokens) i).tokens()).toList();
            return zip(ctx.embedTokens(tokens, true), i -> tokens.get(i).length);
        });
    }

    /** Scores each document against the query, in input order. */
    synchronized List<RerankScore> rerank(String query, List<String> documents) {
        LlamaContext ctx = context();
        if (ctx.pooling() != Pooling.RANK) {
            throw new ApiException(501, "not_supported_error", "the model is not a reranker (its pooling is "
                    + ctx.pooling() + "; a reranker GGUF names pooling type rank and has a classification head)",
                    null, "model_not_reranker");
        }
        return facade("documents", () -> ctx.rerank(query, documents));
    }

    /** Facade argument errors (too many tokens, empty input, bad token ids) become 400 naming {@code param}. */
    private static <T> T facade(String param, java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (IllegalArgumentException e) {
            String code = e.getMessage() != null && e.getMessage().contains("embeds at most")
                    ? "context_length_exceeded" : null;
            throw ApiException.badRequest(e.getMessage(), param, code);
        }
    }

    private static List<Embedding> zip(List<float[]> vectors, Function<Integer, Integer> tokens) {
        return java.util.stream.IntStream.range(0, vectors.size())
                .mapToObj(i -> new Embedding(vectors.get(i), tokens.apply(i))).toList();
    }

    private LlamaContext context() {
        if (closed) {
            throw SchedulerLoop.shuttingDown();
        }
        if (context == null) {
            // a multiple of SEQUENCES (llama.cpp's pooled graphs need it), within the training context
            int size = Math.max(SEQUENCES, Math.min(MAX_TOKENS, model.info().trainingContext()) / SEQUENCES * SEQUENCES);
            context = model.newContext(ContextOptions.builder().embeddings(true).contextSize(size).batchSize(size)
                    .microBatchSize(size).sequences(SEQUENCES).kvUnified(true).threads(threads).batchThreads(threads)
                    .build());
        }
        return context;
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
