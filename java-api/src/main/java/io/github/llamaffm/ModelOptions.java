package io.github.llamaffm;

import io.github.llamaffm.internal.RpcBackend;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * How to load a model: an immutable value built with {@link #builder()}; {@link #defaults()} equals
 * {@code llama_model_default_params()} except where a setter says otherwise.
 *
 * {@snippet :
 * ModelOptions options = ModelOptions.builder().gpuLayers(99).slidingWindow(4096).build();
 * }
 */
public final class ModelOptions {
    /** Metadata keys are stored by llama.cpp in a fixed 128-byte buffer, string values likewise. */
    static final int MAX_OVERRIDE_LENGTH = 127;

    private static final ModelOptions DEFAULTS = builder().build();

    private final int gpuLayers;
    private final int mainGpu;
    private final SplitMode splitMode;
    private final boolean mmap;
    private final boolean mlock;
    private final boolean vocabOnly;
    private final boolean checkTensors;
    private final int slidingWindow;
    private final Map<String, Object> metadataOverrides;
    private final List<String> devices;
    private final List<String> rpcServers;
    /** Default of {@link Builder#rpcReplyTimeout}, in seconds. */
    public static final int DEFAULT_RPC_REPLY_TIMEOUT_SECONDS = 120;
    private static final Duration DEFAULT_RPC_REPLY_TIMEOUT = Duration.ofSeconds(DEFAULT_RPC_REPLY_TIMEOUT_SECONDS);
    private final Duration rpcTimeout;
    private final Duration rpcReplyTimeout;
    private final float[] tensorSplit;
    private final LoadProgressListener progressListener;

    private ModelOptions(Builder b) {
        this.gpuLayers = b.gpuLayers;
        this.mainGpu = b.mainGpu;
        this.splitMode = b.splitMode;
        this.mmap = b.mmap;
        this.mlock = b.mlock;
        this.vocabOnly = b.vocabOnly;
        this.checkTensors = b.checkTensors;
        this.slidingWindow = b.slidingWindow;
        this.metadataOverrides = Collections.unmodifiableMap(new LinkedHashMap<>(b.metadataOverrides));
        this.devices = List.copyOf(b.devices);
        this.rpcServers = List.copyOf(b.rpcServers);
        this.rpcTimeout = b.rpcTimeout;
        this.rpcReplyTimeout = b.rpcReplyTimeout;
        this.tensorSplit = b.tensorSplit.clone();
        this.progressListener = b.progressListener;
    }

    /** The defaults: same as {@code builder().build()}. */
    public static ModelOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.gpuLayers = gpuLayers;
        b.mainGpu = mainGpu;
        b.splitMode = splitMode;
        b.mmap = mmap;
        b.mlock = mlock;
        b.vocabOnly = vocabOnly;
        b.checkTensors = checkTensors;
        b.slidingWindow = slidingWindow;
        b.metadataOverrides.putAll(metadataOverrides);
        b.devices.addAll(devices);
        b.rpcServers.addAll(rpcServers);
        b.rpcTimeout = rpcTimeout;
        b.rpcReplyTimeout = rpcReplyTimeout;
        b.tensorSplit = tensorSplit.clone();
        b.progressListener = progressListener;
        return b;
    }

    public int gpuLayers() { return gpuLayers; }
    public int mainGpu() { return mainGpu; }
    public SplitMode splitMode() { return splitMode; }
    public boolean mmap() { return mmap; }
    public boolean mlock() { return mlock; }
    public boolean vocabOnly() { return vocabOnly; }
    public boolean checkTensors() { return checkTensors; }
    /**
     * Sliding window to force, or empty (unset) for the model's own, whatever its file says (see
     * {@link Builder#slidingWindow(int)}).
     */
    public OptionalInt slidingWindow() { return slidingWindow > 0 ? OptionalInt.of(slidingWindow) : OptionalInt.empty(); }
    /** Metadata overrides: values are {@link Long}, {@link Double}, {@link Boolean} or {@link String}. */
    public Map<String, Object> metadataOverrides() { return metadataOverrides; }
    /** Names of the devices to offload to (see {@link LlamaRuntime#devices()}); empty = all. */
    public List<String> devices() { return devices; }
    /** RPC servers ({@code host:port}) whose devices this model may use (see {@link Builder#rpcServers}). */
    public List<String> rpcServers() { return rpcServers; }
    /** Bound on connecting to, and the first answer of, each RPC server (see {@link Builder#rpcTimeout}). */
    public Duration rpcTimeout() { return rpcTimeout; }

    /** Bound on each send to and answer from a connected RPC server (see {@link Builder#rpcReplyTimeout}). */
    public Duration rpcReplyTimeout() { return rpcReplyTimeout; }
    /** Proportions of the offloaded model per device (see {@link Builder#tensorSplit}); empty = llama.cpp's default. */
    public float[] tensorSplit() { return tensorSplit.clone(); }
    /** The load-progress listener, or {@code null}. */
    public LoadProgressListener progressListener() { return progressListener; }

    @Override
    public String toString() {
        return "ModelOptions[gpuLayers=" + gpuLayers + ", mainGpu=" + mainGpu + ", splitMode=" + splitMode
                + ", mmap=" + mmap + ", mlock=" + mlock + ", vocabOnly=" + vocabOnly + ", checkTensors=" + checkTensors
                + ", slidingWindow=" + (slidingWindow > 0 ? Integer.toString(slidingWindow) : "unset") + ", metadataOverrides=" + metadataOverrides
                + ", devices=" + devices + ", rpcServers=" + rpcServers + ", rpcTimeout=" + rpcTimeout + ", rpcReplyTimeout=" + rpcReplyTimeout
                + ", tensorSplit=" + java.util.Arrays.toString(tensorSplit) + "]";
    }

    /** Receives load progress; return {@code false} to cancel the load (then {@code load} throws). */
    @FunctionalInterface
    public interface LoadProgressListener {
        /**
         * @param progress 0.0 to 1.0
         * @return {@code true} to continue, {@code false} to cancel
         */
        boolean onProgress(float progress);
    }

    /** Mutable builder; {@link #build()} validates nothing further, each setter validates its value. */
    public static final class Builder {
        private int gpuLayers = -1;
        private int mainGpu = 0;
        private SplitMode splitMode = SplitMode.LAYER;
        private boolean mmap = true;
        private boolean mlock = false;
        private boolean vocabOnly = false;
        private boolean checkTensors = false;
        private int slidingWindow = 0;
        private final Map<String, Object> metadataOverrides = new LinkedHashMap<>();
        private final List<String> devices = new ArrayList<>();
        private final List<String> rpcServers = new ArrayList<>();
        private Duration rpcTimeout = Duration.ofSeconds(5);
        private Duration rpcReplyTimeout = DEFAULT_RPC_REPLY_TIMEOUT;
        private float[] tensorSplit = new float[0];
        private LoadProgressListener progressListener;

        private Builder() {}

        /**
         * Layers to offload to the GPU; -1 means all. Defaults to -1 (all; ignored on a CPU-only build).
         * @throws IllegalArgumentException if below -1
         */
        public Builder gpuLayers(int gpuLayers) {
            if (gpuLayers < -1) {
                throw new IllegalArgumentException("gpuLayers must be >= -1 (-1 = all), was " + gpuLayers);
            }
            this.gpuLayers = gpuLayers;
            return this;
        }

        /** GPU index used when {@link SplitMode#NONE}. Defaults to 0. */
        public Builder mainGpu(int mainGpu) {
            if (mainGpu < 0) {
                throw new IllegalArgumentException("mainGpu must be >= 0, was " + mainGpu);
            }
            this.mainGpu = mainGpu;
            return this;
        }

        /** How to split across GPUs. Defaults to {@link SplitMode#LAYER}. */
        public Builder splitMode(SplitMode splitMode) {
            this.splitMode = Objects.requireNonNull(splitMode, "splitMode");
            return this;
        }

        /** Memory-map the file (fast start, shared page cache). Defaults to {@code true}. */
        public Builder mmap(boolean mmap) {
            this.mmap = mmap;
            return this;
        }

        /** Lock the weights in RAM (no swapping). Defaults to {@code false}. */
        public Builder mlock(boolean mlock) {
            this.mlock = mlock;
            return this;
        }

        /** Load only the vocabulary (tokenizer use, no weights, no contexts). Defaults to {@code false}. */
        public Builder vocabOnly(boolean vocabOnly) {
            this.vocabOnly = vocabOnly;
            return this;
        }

        /** Validate tensor data while loading (slow). Defaults to {@code false}. */
        public Builder checkTensors(boolean checkTensors) {
            this.checkTensors = checkTensors;
            return this;
        }

        /**
         * Forces sliding-window attention with this window (tokens) by overriding the metadata key
         * {@code <arch>.attention.sliding_window}. Mistral 7B v0.1 was trained with a 4096-token window, but its
         * common GGUF files lack the key, so llama.cpp runs it with full attention; {@code slidingWindow(4096)}
         * restores the model's design. Mistral 7B v0.2/v0.3 have no window: leave this at 0 for them.
         * Defaults to unset (use whatever the file says); 0 sets it back to unset.
         * @throws IllegalArgumentException if negative
         */
        public Builder slidingWindow(int slidingWindow) {
            if (slidingWindow < 0) {
                throw new IllegalArgumentException("slidingWindow must be >= 0 (0 = the model's own), was " + slidingWindow);
            }
            this.slidingWindow = slidingWindow;
            return this;
        }

        /** Overrides an integer metadata value (e.g. {@code llama.context_length}). */
        public Builder overrideMetadata(String key, long value) {
            return putOverride(key, value);
        }

        /** Overrides a floating-point metadata value. */
        public Builder overrideMetadata(String key, double value) {
            return putOverride(key, value);
        }

        /** Overrides a boolean metadata value. */
        public Builder overrideMetadata(String key, boolean value) {
            return putOverride(key, value);
        }

        /** Overrides a string metadata value (at most 127 bytes of UTF-8). */
        public Builder overrideMetadata(String key, String value) {
            Objects.requireNonNull(value, "value");
            if (value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_OVERRIDE_LENGTH) {
                throw new IllegalArgumentException("metadata override value for '" + key + "' is longer than "
                        + MAX_OVERRIDE_LENGTH + " bytes");
            }
            return putOverride(key, value);
        }

        private Builder putOverride(String key, Object value) {
            Objects.requireNonNull(key, "key");
            int len = key.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (len == 0 || len > MAX_OVERRIDE_LENGTH) {
                throw new IllegalArgumentException("metadata override key must be 1.." + MAX_OVERRIDE_LENGTH
                        + " bytes, was '" + key + "'");
            }
            metadataOverrides.put(key, value);
            return this;
        }

        /**
         * Restricts offloading to these devices, by name as listed by {@link LlamaRuntime#devices()}.
         * Defaults to none named, meaning all available devices.
         */
        public Builder devices(List<String> deviceNames) {
            devices.clear();
            for (String d : deviceNames) {
                devices.add(Objects.requireNonNull(d, "device name"));
            }
            return this;
        }

        /**
         * Remote devices: llama.cpp RPC servers ({@code ggml-rpc-server}, or {@code llama-ffm rpc-server}) as
         * {@code host:port} (IPv4 address or host name). Their devices join the local GPUs: they appear in
         * {@link LlamaRuntime#devices()} as {@code RPC<n>[host:port]} once a model used them, and take offloaded
         * layers under {@link #gpuLayers}, {@link #splitMode} and {@link #tensorSplit} like local GPUs (upstream
         * puts them first, before local GPUs; the CPU keeps what is not offloaded). Before llama.cpp sees an endpoint,
         * llama-ffm connects to it and checks the protocol version within {@link #rpcTimeout}: a dead, silent or
         * foreign endpoint fails the load with a {@link ModelLoadException}. The protocol has no authentication or
         * encryption: use only servers on a network you trust (README, "Several machines"). Defaults to none.
         *
         * @throws IllegalArgumentException if an endpoint is not {@code host:port} with a port 1..65535, or repeats
         */
        public Builder rpcServers(List<String> endpoints) {
            List<String> checked = new ArrayList<>();
            for (String e : endpoints) {
                String ok = RpcBackend.checkEndpoint(e);
                if (checked.contains(ok)) {
                    throw new IllegalArgumentException("RPC endpoint " + ok + " is listed twice");
                }
                checked.add(ok);
            }
            rpcServers.clear();
            rpcServers.addAll(checked);
            return this;
        }

        /**
         * How long to wait for each RPC server to accept the connection and answer the protocol handshake.
         * Defaults to 5 seconds.
         *
         * @throws IllegalArgumentException if not positive
         */
        public Builder rpcTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "rpcTimeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("rpcTimeout must be positive, was " + timeout);
            }
            this.rpcTimeout = timeout;
            return this;
        }

        /**
         * How long a connected RPC server may take to accept a request or to answer it (each send and receive on
         * the connection, patch 0011) before the step fails with a {@link DecodeException} (or the load with a
         * {@link ModelLoadException}) and the connection is dropped: a server that stopped answering fails requests
         * instead of hanging them. Raise it for slow servers computing large batches. Applies to the connections
         * made by this load; a connection another model of this process already holds keeps its own bound (one
         * connection per endpoint per process). Defaults to {@value #DEFAULT_RPC_REPLY_TIMEOUT_SECONDS} seconds.
         *
         * @throws IllegalArgumentException if not positive or over 24 days
         */
        public Builder rpcReplyTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "rpcReplyTimeout");
            if (timeout.isNegative() || timeout.isZero() || timeout.toMillis() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("rpcReplyTimeout must be positive and at most 24 days, was " + timeout);
            }
            this.rpcReplyTimeout = timeout;
            return this;
        }

        /**
         * How much of the offloaded model each device gets, in the order of the model's devices (RPC servers first
         * in {@link #rpcServers} order, then local GPUs; or the order of {@link #devices}): layers with
         * {@link SplitMode#LAYER}, rows with {@link SplitMode#ROW}. Values are proportions, e.g. {@code 3, 1}.
         * Defaults to none: llama.cpp splits by each device's free memory.
         *
         * @throws IllegalArgumentException if a value is negative or not finite, or all are 0
         */
        public Builder tensorSplit(float... proportions) {
            Objects.requireNonNull(proportions, "tensorSplit");
            float sum = 0;
            for (float p : proportions) {
                if (!Float.isFinite(p) || p < 0) {
                    throw new IllegalArgumentException("tensorSplit values must be finite and >= 0, was "
                            + java.util.Arrays.toString(proportions));
                }
                sum += p;
            }
            if (proportions.length > 0 && sum == 0) {
                throw new IllegalArgumentException("tensorSplit must have a value > 0");
            }
            this.tensorSplit = proportions.clone();
            return this;
        }

        /** Called with load progress; may cancel the load. Defaults to none. */
        public Builder progressListener(LoadProgressListener listener) {
            this.progressListener = listener;
            return this;
        }

        public ModelOptions build() {
            return new ModelOptions(this);
        }
    }
}
