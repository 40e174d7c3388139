package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.model.scoring.ScoringModel;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.Pooling;
import io.github.llamaffm.RerankScore;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A LangChain4j {@link ScoringModel} running a reranker GGUF (bge-reranker, jina-reranker, Qwen3-Reranker: pooling
 * rank) in process, over {@link LlamaContext#rerank(String, List)}: each segment is scored against the query with the
 * model's own rerank prompt, several pairs per decode; the scores are the model's (a probability for Qwen3-style
 * rerankers, a logit for BERT-style ones). Calls from several threads take turns on the one context.
 *
 * {@snippet :
 * try (LlamaFfmScoringModel reranker = LlamaFfmScoringModel.builder()
 *         .modelPath(Path.of("bge-reranker-v2-m3-Q8_0.gguf")).build()) {
 *     ContentAggregator aggregator = ReRankingContentAggregator.builder().scoringModel(reranker).minScore(0.5).build();
 *     List<Double> scores = reranker.scoreAll(segments, "What is a panda?").content();
 * }
 * }
 */
public final class LlamaFfmScoringModel implements ScoringModel, AutoCloseable {
    private final EmbeddingsContext owner;
    private final LlamaContext context;
    private final String modelName;

    private LlamaFfmScoringModel(Builder b) {
        this.owner = EmbeddingsContext.of(b.modelPath, b.context, b.modelOptions, b.contextOptions,
                LlamaFfmScoringModel::requireReranker);
        this.context = owner.context;
        this.modelName = b.modelName != null ? b.modelName : Engine.defaultName(context.model());
    }

    private static void requireReranker(LlamaContext ctx) {
        if (!ctx.options().embeddings() || ctx.pooling() != Pooling.RANK) {
            throw new IllegalArgumentException("a scoring model needs a reranker (pooling rank) and an embeddings "
                    + "context; " + ctx.model().path().getFileName() + " gives pooling " + ctx.pooling()
                    + (ctx.options().embeddings() ? "" : " and the context was not created with embeddings(true)"));
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Scores each segment's text against the query, in order; token usage counts the decoded pairs.
     *
     * @throws IllegalArgumentException if the query or a segment is empty, or a pair is too long for the context
     */
    @Override
    public Response<List<Double>> scoreAll(List<TextSegment> segments, String query) {
        Objects.requireNonNull(segments, "segments");
        Objects.requireNonNull(query, "query");
        if (segments.isEmpty()) {
            return Response.from(List.of(), new TokenUsage(0));
        }
        List<RerankScore> scores =
                owner.locked(() -> context.rerank(query, segments.stream().map(TextSegment::text).toList()));
        int tokens = scores.stream().mapToInt(RerankScore::tokens).sum();
        return Response.from(scores.stream().map(s -> (double) s.score()).toList(), new TokenUsage(tokens));
    }

    /** The name of the model (its file name unless {@link Builder#modelName(String)} set one). */
    public String modelName() {
        return modelName;
    }

    /** The embeddings context this model uses. */
    public LlamaContext context() {
        return context;
    }

    /** Frees the model and context if this model loaded them ({@link Builder#modelPath}). */
    @Override
    public void close() {
        owner.close();
    }

    /**
     * Builds a {@link LlamaFfmScoringModel} from either {@link #modelPath(Path)} (loaded and owned) or
     * {@link #context(LlamaContext)} (an embeddings context of a loaded reranker, shared: not closed by it).
     */
    public static final class Builder {
        private Path modelPath;
        private LlamaContext context;
        private ModelOptions modelOptions = ModelOptions.defaults();
        private ContextOptions contextOptions = ContextOptions.builder().sequences(8).build();
        private String modelName;

        private Builder() {}

        /** A reranker GGUF (pooling rank) to load; closed with this model. */
        public Builder modelPath(Path modelPath) {
            this.modelPath = Objects.requireNonNull(modelPath, "modelPath");
            return this;
        }

        /** An embeddings context ({@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}) of a reranker. */
        public Builder context(LlamaContext context) {
            this.context = Objects.requireNonNull(context, "context");
            return this;
        }

        /** Load options for {@link #modelPath}; defaults to {@link ModelOptions#defaults()}. */
        public Builder modelOptions(ModelOptions modelOptions) {
            this.modelOptions = Objects.requireNonNull(modelOptions, "modelOptions");
            return this;
        }

        /**
         * Context options for {@link #modelPath}; embeddings and a unified KV cache are always turned on. Defaults to
         * {@link ContextOptions#defaults()} with 8 sequences (pairs scored per decode, if they fit the micro-batch).
         */
        public Builder contextOptions(ContextOptions contextOptions) {
            this.contextOptions = Objects.requireNonNull(contextOptions, "contextOptions");
            return this;
        }

        /** The name {@link #modelName()} reports; defaults to the model's file name. */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        public LlamaFfmScoringModel build() {
            return new LlamaFfmScoringModel(this);
        }
    }
}
