package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.ModelOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A LangChain4j {@link EmbeddingModel} running a GGUF model in process: {@link #embedAll} embeds many segments per
 * {@code llama_decode} ({@link LlamaContext#embed(List, boolean)}), pooled the way the model's file says (mean for
 * models without a pooling type), normalised to unit length unless {@link Builder#normalize(boolean)} says otherwise.
 * Calls from several threads take turns on the one embeddings context.
 *
 * {@snippet :
 * try (LlamaFfmEmbeddingModel embeddings = LlamaFfmEmbeddingModel.builder()
 *         .modelPath(Path.of("nomic-embed-text-v1.5.Q8_0.gguf")).build()) {
 *     List<Embedding> vectors = embeddings.embedAll(List.of(TextSegment.from("a"), TextSegment.from("b"))).content();
 * }
 * }
 */
public final class LlamaFfmEmbeddingModel implements EmbeddingModel, AutoCloseable {
    private final EmbeddingsContext owner;
    private final LlamaContext context;
    private final boolean normalize;
    private final String modelName;
    private final List<EmbeddingModelListener> listeners;

    private LlamaFfmEmbeddingModel(Builder b) {
        this.owner = EmbeddingsContext.of(b.modelPath, b.context, b.modelOptions, b.contextOptions, ctx -> {
            if (!ctx.options().embeddings()) {
                throw new IllegalArgumentException("the context must be created with ContextOptions.embeddings(true)");
            }
        });
        this.context = owner.context;
        this.normalize = b.normalize;
        this.listeners = List.copyOf(b.listeners);
        this.modelName = b.modelName != null ? b.modelName : Engine.defaultName(context.model());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        Objects.requireNonNull(segments, "segments");
        List<String> texts = segments.stream().map(TextSegment::text).toList();
        List<float[]> vectors = owner.locked(() -> context.embed(texts, normalize));
        int tokens = 0;
        for (String t : texts) {
            tokens += context.vocabulary().tokenize(t, true, false).length;
        }
        List<Embedding> out = new ArrayList<>(vectors.size());
        vectors.forEach(v -> out.add(Embedding.from(v)));
        return Response.from(out, new TokenUsage(tokens));
    }

    @Override
    public int dimension() {
        return context.modelInfo().embeddingSize();
    }

    @Override
    public String modelName() {
        return modelName;
    }

    @Override
    public List<EmbeddingModelListener> listeners() {
        return listeners;
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
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
     * Builds a {@link LlamaFfmEmbeddingModel} from either {@link #modelPath(Path)} (loaded and owned) or
     * {@link #context(LlamaContext)} (an embeddings context of a loaded model, shared: not closed by it).
     */
    public static final class Builder {
        private Path modelPath;
        private LlamaContext context;
        private ModelOptions modelOptions = ModelOptions.defaults();
        private ContextOptions contextOptions = ContextOptions.builder().sequences(8).build();
        private boolean normalize = true;
        private String modelName;
        private List<EmbeddingModelListener> listeners = List.of();

        private Builder() {}

        /** Listeners of every request (LangChain4j's {@code EmbeddingModelListener}). Defaults to none. */
        public Builder listeners(List<EmbeddingModelListener> listeners) {
            this.listeners = List.copyOf(listeners);
            return this;
        }

        public Builder modelPath(Path modelPath) {
            this.modelPath = Objects.requireNonNull(modelPath, "modelPath");
            return this;
        }

        /** An embeddings context ({@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}). */
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
         * {@link ContextOptions#defaults()} with 8 sequences (texts embedded per decode, if they fit the batch).
         */
        public Builder contextOptions(ContextOptions contextOptions) {
            this.contextOptions = Objects.requireNonNull(contextOptions, "contextOptions");
            return this;
        }

        /** Scale vectors to unit length (for cosine similarity). Defaults to {@code true}. */
        public Builder normalize(boolean normalize) {
            this.normalize = normalize;
            return this;
        }

        /** The name {@link #modelName()} reports; defaults to the model's file name. */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        public LlamaFfmEmbeddingModel build() {
            return new LlamaFfmEmbeddingModel(this);
        }
    }
}
