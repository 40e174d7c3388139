package io.github.llamaffm;

import io.github.llamaffm.internal.CpuInfo;

import java.util.Objects;
import java.util.OptionalInt;

/**
 * How to create a {@link LlamaContext}: an immutable value built with {@link #builder()}.
 * Defaults follow {@code llama_context_default_params()} except where a setter says otherwise (notably threads,
 * which default to this machine's physical cores instead of llama.cpp's fixed 4).
 *
 * <p>Options whose default depends on the model or the machine ({@link #contextSize()}, {@link #threads()},
 * {@link #batchThreads()}) are <em>unset</em> (an empty {@link OptionalInt}) unless a value was given, so an explicit
 * value is always used as given. The values a context really runs with are in {@link LlamaContext#settings()}.
 */
public final class ContextOptions {
    /** The context size used when none is set, capped at the model's training context. */
    public static final int DEFAULT_CONTEXT_SIZE = 4096;
    private static final int UNSET = -1;
    private static final ContextOptions DEFAULTS = builder().build();

    private final int contextSize;
    private final int batchSize;
    private final int microBatchSize;
    private final boolean microBatchSizeSet;
    private final int sequences;
    private final int threads;
    private final int batchThreads;
    private final FlashAttention flashAttention;
    private final KvCacheType keyType;
    private final KvCacheType valueType;
    private final boolean swaFull;
    private final boolean offloadKqv;
    private final boolean embeddings;
    private final boolean kvUnified;
    private final boolean warmup;
    private final ContextOverflow overflow;
    private final int shiftKeepTokens;
    private final Boolean backendSampling;
    private final Pooling pooling;

    private ContextOptions(Builder b) {
        this.contextSize = b.contextSize;
        this.batchSize = b.batchSize;
        // Unset: 512, or for embeddings the whole batch (as llama-server does): a pooled input must fit one
        // micro-batch, so 512 would refuse every text longer than that.
        int micro = b.microBatchSize != UNSET ? b.microBatchSize : b.embeddings ? b.batchSize : 512;
        this.microBatchSize = Math.min(micro, b.batchSize);
        this.microBatchSizeSet = b.microBatchSize != UNSET;
        this.sequences = b.sequences;
        this.threads = b.threads;
        this.batchThreads = b.batchThreads;
        this.flashAttention = b.flashAttention;
        this.keyType = b.keyType;
        this.valueType = b.valueType;
        this.swaFull = b.swaFull;
        this.offloadKqv = b.offloadKqv;
        this.embeddings = b.embeddings;
        this.kvUnified = b.kvUnified;
        this.warmup = b.warmup;
        this.overflow = b.overflow;
        this.shiftKeepTokens = b.shiftKeepTokens;
        this.backendSampling = b.backendSampling;
        this.pooling = b.pooling;
    }

    public static ContextOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.contextSize = contextSize;
        b.batchSize = batchSize;
        b.microBatchSize = microBatchSizeSet ? microBatchSize : UNSET;
        b.sequences = sequences;
        b.threads = threads;
        b.batchThreads = batchThreads;
        b.flashAttention = flashAttention;
        b.keyType = keyType;
        b.valueType = valueType;
        b.swaFull = swaFull;
        b.offloadKqv = offloadKqv;
        b.embeddings = embeddings;
        b.kvUnified = kvUnified;
        b.warmup = warmup;
        b.overflow = overflow;
        b.shiftKeepTokens = shiftKeepTokens;
        b.backendSampling = backendSampling;
        b.pooling = pooling;
        return b;
    }

    /**
     * The context size that was set, in tokens ({@code 0} = the model's training context); empty when unset, which
     * means {@value #DEFAULT_CONTEXT_SIZE} capped at the model's training context.
     */
    public OptionalInt contextSize() { return optional(contextSize); }
    /** Most tokens per decode call. */
    public int batchSize() { return batchSize; }
    /** Tokens per compute graph (at most {@link #batchSize()}). */
    public int microBatchSize() { return microBatchSize; }
    /** Parallel sequences. */
    public int sequences() { return sequences; }
    /** Threads for generation that were set; empty when unset, which means {@link #defaultThreads()}. */
    public OptionalInt threads() { return optional(threads); }
    /** Threads for prompt processing that were set; empty when unset, which means the same as the threads. */
    public OptionalInt batchThreads() { return optional(batchThreads); }

    /** This machine's default thread count: its physical cores. */
    public static int defaultThreads() {
        return CpuInfo.physicalCores();
    }

    // --- resolution of unset values: the one place ------------------------------------------------------------

    /** The {@code n_ctx} to ask llama.cpp for: the set value, else the default capped at the training context. */
    int resolveContextSize(int trainingContext) {
        if (contextSize != UNSET) {
            return contextSize;
        }
        return trainingContext > 0 ? Math.min(DEFAULT_CONTEXT_SIZE, trainingContext) : DEFAULT_CONTEXT_SIZE;
    }

    int resolveThreads() {
        return threads != UNSET ? threads : defaultThreads();
    }

    int resolveBatchThreads() {
        return batchThreads != UNSET ? batchThreads : resolveThreads();
    }

    /**
     * Backend sampling as set, else on when every layer (the output layer included) is offloaded and a device other
     * than the CPU is present to take it (a GPU or an RPC server).
     */
    boolean resolveBackendSampling(ModelOptions model, int layers, java.util.List<BackendDevice> devices) {
        if (backendSampling != null) {
            return backendSampling;
        }
        boolean allOffloaded = model.gpuLayers() < 0 || model.gpuLayers() > layers;
        // An RPC server's device stays registered once any model used it: it counts only for models loaded with it.
        return allOffloaded && devices.stream().anyMatch(d -> (d.type() == BackendDevice.Type.GPU
                || d.type() == BackendDevice.Type.INTEGRATED_GPU)
                && (!d.name().startsWith("RPC") || model.rpcServers().contains(d.description())));
    }

    private static OptionalInt optional(int value) {
        return value == UNSET ? OptionalInt.empty() : OptionalInt.of(value);
    }
    public FlashAttention flashAttention() { return flashAttention; }
    public KvCacheType keyType() { return keyType; }
    public KvCacheType valueType() { return valueType; }
    public boolean swaFull() { return swaFull; }
    public boolean offloadKqv() { return offloadKqv; }
    public boolean embeddings() { return embeddings; }
    public boolean kvUnified() { return kvUnified; }
    /** Whether creating the context runs a warm-up generation (see {@link Builder#warmup(boolean)}). */
    public boolean warmup() { return warmup; }
    /** What a generation does when its sequence is full. */
    public ContextOverflow overflow() { return overflow; }
    /** Tokens kept at the start by a context shift (besides the BOS token); -1 = the whole prompt. */
    public int shiftKeepTokens() { return shiftKeepTokens; }
    /**
     * Whether sampling runs inside the decode graph, as set; empty when unset, which means on exactly when the model's
     * output layer is offloaded to a GPU (see {@link Builder#backendSampling(boolean)}).
     */
    public java.util.Optional<Boolean> backendSampling() { return java.util.Optional.ofNullable(backendSampling); }
    /**
     * The pooling of an embeddings context that was set; empty when unset, which means the model's own (its file's
     * {@code <arch>.pooling_type}), or {@link Pooling#MEAN} for a model that names none.
     */
    public java.util.Optional<Pooling> pooling() { return java.util.Optional.ofNullable(pooling); }

    @Override
    public String toString() {
        return "ContextOptions[contextSize=" + text(contextSize) + ", batchSize=" + batchSize + ", microBatchSize="
                + microBatchSize + ", sequences=" + sequences + ", threads=" + text(threads) + ", batchThreads="
                + text(batchThreads)
                + ", flashAttention=" + flashAttention + ", keyType=" + keyType + ", valueType=" + valueType
                + ", swaFull=" + swaFull + ", offloadKqv=" + offloadKqv + ", embeddings=" + embeddings
                + ", kvUnified=" + kvUnified + ", warmup=" + warmup + ", overflow=" + overflow + ", shiftKeepTokens=" + shiftKeepTokens
                + ", backendSampling=" + (backendSampling == null ? "unset" : backendSampling)
                + ", pooling=" + (pooling == null ? "unset" : pooling) + "]";
    }

    private static String text(int value) {
        return value == UNSET ? "unset" : Integer.toString(value);
    }

    /** Mutable builder; each setter validates its value and names it in the exception. */
    public static final class Builder {
        private int contextSize = UNSET;
        private int batchSize = 2048;
        private int microBatchSize = UNSET;
        private int sequences = 1;
        private int threads = UNSET;
        private int batchThreads = UNSET;
        private FlashAttention flashAttention = FlashAttention.AUTO;
        private KvCacheType keyType = KvCacheType.F16;
        private KvCacheType valueType = KvCacheType.F16;
        private boolean swaFull = false;
        private boolean offloadKqv = true;
        private boolean embeddings = false;
        private boolean kvUnified = false;
        private boolean warmup = true;
        private ContextOverflow overflow = ContextOverflow.FAIL;
        private int shiftKeepTokens = 0;
        private Boolean backendSampling;
        private Pooling pooling;

        private Builder() {}

        /**
         * Context size in tokens (KV cache capacity across all sequences), used as given; 0 means the model's
         * training context. Defaults to unset: {@value ContextOptions#DEFAULT_CONTEXT_SIZE}, reduced to the model's
         * training context when that is smaller.
         */
        public Builder contextSize(int tokens) {
            this.contextSize = nonNegative("contextSize", tokens);
            return this;
        }

        /** Back to the default context size (see {@link #contextSize(int)}). */
        public Builder unsetContextSize() {
            this.contextSize = UNSET;
            return this;
        }

        /** Most tokens submitted to one decode call (prompt chunk). Defaults to 2048. */
        public Builder batchSize(int tokens) {
            this.batchSize = positive("batchSize", tokens);
            return this;
        }

        /**
         * Physical batch size (tokens per compute graph). Defaults to 512, or for an {@link #embeddings(boolean)}
         * context to the batch size (a pooled input must fit one micro-batch; llama-server does the same); capped at
         * the batch size.
         */
        public Builder microBatchSize(int tokens) {
            this.microBatchSize = positive("microBatchSize", tokens);
            return this;
        }

        /** Independent sequences (parallel conversations) sharing this context. Defaults to 1. */
        public Builder sequences(int sequences) {
            if (sequences < 1 || sequences > 256) {
                throw new IllegalArgumentException("sequences must be in 1..256, was " + sequences);
            }
            this.sequences = sequences;
            return this;
        }

        /**
         * Threads for generating one token at a time. Defaults to unset: the number of physical CPU cores of this
         * machine ({@link ContextOptions#defaultThreads()}; llama.cpp's own default is a fixed 4, which
         * oversubscribes small machines and halves speed).
         */
        public Builder threads(int threads) {
            this.threads = threadCount("threads", threads);
            return this;
        }

        /** Back to the default threads (see {@link #threads(int)}). */
        public Builder unsetThreads() {
            this.threads = UNSET;
            return this;
        }

        /** Threads for prompt (batch) processing. Defaults to unset: the same as {@link #threads(int)}. */
        public Builder batchThreads(int threads) {
            this.batchThreads = threadCount("batchThreads", threads);
            return this;
        }

        /** Back to the default batch threads (see {@link #batchThreads(int)}). */
        public Builder unsetBatchThreads() {
            this.batchThreads = UNSET;
            return this;
        }

        /** Flash Attention use. Defaults to {@link FlashAttention#AUTO}. */
        public Builder flashAttention(FlashAttention mode) {
            this.flashAttention = Objects.requireNonNull(mode, "flashAttention");
            return this;
        }

        /** K cache type. Defaults to {@link KvCacheType#F16}. Quantized V needs Flash Attention. */
        public Builder keyType(KvCacheType type) {
            this.keyType = Objects.requireNonNull(type, "keyType");
            return this;
        }

        /** V cache type. Defaults to {@link KvCacheType#F16}. */
        public Builder valueType(KvCacheType type) {
            this.valueType = Objects.requireNonNull(type, "valueType");
            return this;
        }

        /**
         * For sliding-window models: {@code false} keeps only a rolling buffer of window + micro-batch cells per
         * sequence (Mistral's design; e.g. ~8x less KV memory at 32k context with a 4096 window), {@code true}
         * keeps a full-size cache, which costs that memory but allows reusing any earlier prefix and shifting the
         * context. Defaults to {@code false} (llama.cpp's own default is {@code true}). No effect on models
         * without a window.
         */
        public Builder swaFull(boolean swaFull) {
            this.swaFull = swaFull;
            return this;
        }

        /** Keep the KV cache and attention on the GPU. Defaults to {@code true}. */
        public Builder offloadKqv(boolean offloadKqv) {
            this.offloadKqv = offloadKqv;
            return this;
        }

        /** Produce embeddings instead of logits ({@link LlamaContext#embed}). Defaults to {@code false}. */
        public Builder embeddings(boolean embeddings) {
            this.embeddings = embeddings;
            return this;
        }

        /** One KV buffer shared by all sequences. Defaults to {@code false}. */
        public Builder kvUnified(boolean kvUnified) {
            this.kvUnified = kvUnified;
            return this;
        }

        /**
         * Whether creating the context runs one warm-up generation: one token from the BOS token with the default
         * sampler, then the cache is emptied, as llama.cpp's own tools warm up at load ({@code --no-warmup} turns
         * theirs off). It moves the one-time costs of the first generation (the first decode's graph allocation,
         * linking each native function on its first call, loading and initialising the generation classes) into
         * context creation, so that the first real generation runs at steady speed: on the benchmarks' tiny model
         * the fresh JVM's first token took about 150 ms without it and 15 ms with it (BENCHMARKS.md). Embeddings
         * contexts never warm up. Defaults to {@code true}.
         */
        public Builder warmup(boolean warmup) {
            this.warmup = warmup;
            return this;
        }

        /**
         * What a generation ({@link LlamaContext#generate}, {@link ChatSession}, {@link SequenceScheduler}) does when
         * its sequence is full: end ({@link ContextOverflow#FAIL}, the default, as llama.cpp's tools by default) or
         * shift the context ({@link ContextOverflow#SHIFT}).
         */
        public Builder overflow(ContextOverflow overflow) {
            this.overflow = Objects.requireNonNull(overflow, "overflow");
            return this;
        }

        /**
         * With {@link ContextOverflow#SHIFT}: how many tokens at the start of the sequence a shift keeps, not counting
         * the BOS token, which is always kept (llama.cpp's {@code --keep}); -1 keeps the whole prompt. At most the
         * prompt is kept, and never more than the sequence size minus 4. Defaults to 0. A {@link ChatSession} keeps
         * its system prompt by itself.
         */
        public Builder shiftKeepTokens(int tokens) {
            if (tokens < -1) {
                throw new IllegalArgumentException("shiftKeepTokens must be >= -1 (-1 = the whole prompt), was " + tokens);
            }
            this.shiftKeepTokens = tokens;
            return this;
        }

        /**
         * Backend sampling (llama.cpp's experimental {@code llama_set_sampler}): the sampler chain runs inside the
         * decode graph, so the device returns the sampled token instead of the whole vocabulary's logits to sample on
         * the host. It applies to a generation whose chain llama.cpp can run there (greedy, top-k, top-p, min-p,
         * temperature, penalties, logit bias, the seeded random pick; stages it cannot run continue on the host) and
         * that has no grammar, custom sampler or requested probabilities; others sample on the host as usual. Output
         * is the same as host sampling (as upstream's {@code llama-completion --backend-sampling}). Defaults to unset:
         * on when the model's layers are all offloaded to a GPU (where copying logits to the host is the cost this
         * saves), off otherwise.
         */
        public Builder backendSampling(boolean enabled) {
            this.backendSampling = enabled;
            return this;
        }

        /** Back to the default of {@link #backendSampling(boolean)} (unset: on when fully offloaded to a GPU). */
        public Builder defaultBackendSampling() {
            this.backendSampling = null;
            return this;
        }

        /**
         * How an embeddings context pools a text's token vectors: {@link Pooling#NONE} for one vector per token
         * ({@link LlamaContext#tokenEmbeddings}), {@link Pooling#MEAN}/{@link Pooling#CLS}/{@link Pooling#LAST} for
         * one per text ({@link LlamaContext#embed}), {@link Pooling#RANK} for a reranker's scores
         * ({@link LlamaContext#rerank}). Defaults to unset: the model's own pooling (its file's
         * {@code <arch>.pooling_type}), or {@link Pooling#MEAN} for a model that names none. Ignored by contexts
         * without {@link #embeddings(boolean) embeddings(true)}.
         */
        public Builder pooling(Pooling pooling) {
            this.pooling = Objects.requireNonNull(pooling, "pooling");
            return this;
        }

        /** Back to the model's own pooling (see {@link #pooling(Pooling)}). */
        public Builder unsetPooling() {
            this.pooling = null;
            return this;
        }

        public ContextOptions build() {
            return new ContextOptions(this);
        }

        /** ggml's GGML_MAX_N_THREADS: its thread pool holds at most this many workers. */
        private static final int MAX_THREADS = 512;

        private static int threadCount(String name, int value) {
            if (value < 1 || value > MAX_THREADS) {
                throw new IllegalArgumentException(name + " must be in 1.." + MAX_THREADS + ", was " + value);
            }
            return value;
        }

        private static int positive(String name, int value) {
            if (value <= 0) {
                throw new IllegalArgumentException(name + " must be > 0, was " + value);
            }
            return value;
        }

        private static int nonNegative(String name, int value) {
            if (value < 0) {
                throw new IllegalArgumentException(name + " must be >= 0, was " + value);
            }
            return value;
        }
    }
}
