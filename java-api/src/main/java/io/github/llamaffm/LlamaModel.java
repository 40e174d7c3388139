package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_model_kv_override;
import io.github.llamaffm.bindings.llama_model_params;
import io.github.llamaffm.bindings.llama_progress_callback;
import io.github.llamaffm.gguf.GgufFile;
import io.github.llamaffm.internal.NativeHandle;
import io.github.llamaffm.internal.NativeRuntime;
import io.github.llamaffm.internal.RpcBackend;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A loaded GGUF model: weights, vocabulary, metadata. Create contexts from it with {@link #newContext}.
 *
 * <p><b>Threading:</b> a model is immutable once loaded and may be shared by any number of threads and contexts.
 * <b>Lifetime:</b> {@link #close()} is idempotent; afterwards the model's methods throw
 * {@link IllegalStateException}, but contexts already created keep the weights alive until they are closed too.
 */
public final class LlamaModel implements AutoCloseable {
    private final Path path;
    private final NativeHandle handle;
    private final MemorySegment model;
    private final Vocabulary vocabulary;
    private final ModelInfo info;
    private final ModelOptions options;
    /** Chat formats of this model's chat sessions, by template ("" = the model's own); closed with the model. */
    private final java.util.Map<String, ChatFormat> chatFormats = new java.util.concurrent.ConcurrentHashMap<>();

    private LlamaModel(Path path, MemorySegment model, ModelOptions options) {
        this.path = path;
        this.model = model;
        this.options = options;
        List<String> rpc = options.rpcServers();
        RpcBackend.acquire(model, !rpc.isEmpty() || options.devices().stream().anyMatch(d -> d.startsWith("RPC")), rpc);
        // The free action captures the native pointer (the parameter) and the endpoint list, never this model.
        this.handle = new NativeHandle(this, "LlamaModel " + path, () -> {
            Llama.llama_model_free(model);
            RpcBackend.release(model, rpc);
        });
        this.vocabulary = new Vocabulary(this, Llama.llama_model_get_vocab(model));
        this.info = readInfo();
    }

    /** Loads a model with {@link ModelOptions#defaults()}. */
    public static LlamaModel load(Path path) {
        return load(path, ModelOptions.defaults());
    }

    /**
     * Loads a GGUF model.
     *
     * @throws ModelLoadException if the file is missing, unreadable, not a model llama.cpp can load, the load was
     *                            cancelled by the progress listener, or an RPC server is unreachable, silent or of
     *                            another protocol version
     * @throws IllegalArgumentException if {@code options} name a device that does not exist
     */
    public static LlamaModel load(Path path, ModelOptions options) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        Path abs = path.toAbsolutePath().normalize();
        if (!Files.exists(abs)) {
            throw new ModelLoadException(abs, "model file does not exist");
        }
        if (!Files.isRegularFile(abs)) {
            throw new ModelLoadException(abs, "model path is not a regular file");
        }
        if (!Files.isReadable(abs)) {
            throw new ModelLoadException(abs, "model file is not readable");
        }
        Map<String, Object> overrides = new LinkedHashMap<>(options.metadataOverrides());
        if (options.slidingWindow().isPresent()) {
            overrides.put(architectureOf(abs) + ".attention.sliding_window", (long) options.slidingWindow().getAsInt());
        }
        checkRpcServers(abs, options); // before any native call: llama.cpp's client would block or fail later
        NativeRuntime.ensureInitialized();
        if (!options.rpcServers().isEmpty()) {
            RpcBackend.setIoTimeout(options.rpcReplyTimeout()); // the connections this load makes (patch 0011)
        }
        for (String endpoint : options.rpcServers()) {
            try {
                RpcBackend.register(endpoint);
            } catch (IllegalStateException e) {
                throw new ModelLoadException(abs, "RPC server " + endpoint + ": " + e.getMessage());
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = Llama.llama_model_default_params(arena);
            llama_model_params.n_gpu_layers(params, options.gpuLayers());
            llama_model_params.main_gpu(params, options.mainGpu());
            llama_model_params.split_mode(params, options.splitMode().nativeValue());
            llama_model_params.load_mode(params, options.mmap()
                    ? (options.mlock() ? Llama.LLAMA_LOAD_MODE_MMAP_MLOCK() : Llama.LLAMA_LOAD_MODE_MMAP())
                    : (options.mlock() ? Llama.LLAMA_LOAD_MODE_MLOCK() : Llama.LLAMA_LOAD_MODE_NONE()));
            llama_model_params.vocab_only(params, options.vocabOnly());
            llama_model_params.check_tensors(params, options.checkTensors());
            if (!overrides.isEmpty()) {
                llama_model_params.kv_overrides(params, kvOverrides(arena, overrides));
            }
            if (!options.devices().isEmpty()) {
                llama_model_params.devices(params, devices(arena, options.devices()));
            } else if (!options.rpcServers().isEmpty() || anyRpcDeviceRegistered()) {
                // ggml registers RPC servers for the whole process: name this model's devices so it does not use
                // servers another model asked for
                llama_model_params.devices(params, devices(arena, defaultDevices(options.rpcServers())));
            }
            float[] split = options.tensorSplit();
            if (split.length > 0) {
                long max = Llama.llama_max_devices();
                if (split.length > max) {
                    throw new IllegalArgumentException("tensorSplit has " + split.length + " values; this llama.cpp "
                            + "supports at most " + max + " devices");
                }
                MemorySegment ts = arena.allocate(ValueLayout.JAVA_FLOAT, max);
                MemorySegment.copy(split, 0, ts, ValueLayout.JAVA_FLOAT, 0, split.length);
                llama_model_params.tensor_split(params, ts);
            }
            ProgressBridge progress = null;
            if (options.progressListener() != null) {
                progress = new ProgressBridge(options.progressListener());
                llama_model_params.progress_callback(params, llama_progress_callback.allocate(progress::onProgress, arena));
            }
            NativeRuntime.clearLastError();
            MemorySegment m;
            NativeRuntime.beginActivity("loading model " + abs);
            try {
                m = Llama.llama_model_load_from_file(arena.allocateFrom(abs.toString()), params);
            } finally {
                NativeRuntime.endActivity();
            }
            if (m.equals(MemorySegment.NULL)) {
                if (progress != null && progress.cancelled) {
                    ModelLoadException e = new ModelLoadException(abs, "model load cancelled by the progress listener");
                    if (progress.failure != null) {
                        e.addSuppressed(progress.failure);
                    }
                    throw e;
                }
                throw new ModelLoadException(abs, "llama.cpp could not load the model" + NativeRuntime.firstErrorSuffix());
            }
            return new LlamaModel(abs, m, options);
        }
    }

    /** Bridges llama.cpp's progress callback to the listener; never throws into native code. */
    private static final class ProgressBridge {
        final ModelOptions.LoadProgressListener listener;
        volatile boolean cancelled;
        volatile Throwable failure;

        ProgressBridge(ModelOptions.LoadProgressListener listener) {
            this.listener = listener;
        }

        boolean onProgress(float progress, MemorySegment userData) {
            try {
                boolean go = listener.onProgress(progress);
                cancelled |= !go;
                return go;
            } catch (Throwable t) {
                failure = t;
                cancelled = true;
                return false;
            }
        }
    }

    private static String architectureOf(Path file) {
        try {
            return GgufFile.read(file).getString("general.architecture");
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(file, "cannot read general.architecture to apply slidingWindow (" + e.getMessage() + ")");
        }
    }

    private static MemorySegment kvOverrides(Arena arena, Map<String, Object> overrides) {
        // llama.cpp reads the array until an entry whose key is empty, so allocate one extra zeroed entry.
        MemorySegment array = arena.allocate(llama_model_kv_override.layout(), overrides.size() + 1);
        int i = 0;
        for (var e : overrides.entrySet()) {
            MemorySegment o = llama_model_kv_override.asSlice(array, i++);
            byte[] key = e.getKey().getBytes(StandardCharsets.UTF_8);
            MemorySegment.copy(key, 0, llama_model_kv_override.key(o), ValueLayout.JAVA_BYTE, 0, key.length);
            switch (e.getValue()) {
                case Long l -> {
                    llama_model_kv_override.tag(o, Llama.LLAMA_KV_OVERRIDE_TYPE_INT());
                    llama_model_kv_override.val_i64(o, l);
                }
                case Double d -> {
                    llama_model_kv_override.tag(o, Llama.LLAMA_KV_OVERRIDE_TYPE_FLOAT());
                    llama_model_kv_override.val_f64(o, d);
                }
                case Boolean b -> {
                    llama_model_kv_override.tag(o, Llama.LLAMA_KV_OVERRIDE_TYPE_BOOL());
                    llama_model_kv_override.val_bool(o, b);
                }
                case String s -> {
                    llama_model_kv_override.tag(o, Llama.LLAMA_KV_OVERRIDE_TYPE_STR());
                    byte[] v = s.getBytes(StandardCharsets.UTF_8);
                    MemorySegment.copy(v, 0, llama_model_kv_override.val_str(o), ValueLayout.JAVA_BYTE, 0, v.length);
                }
                default -> throw new IllegalArgumentException("unsupported override type for " + e.getKey());
            }
        }
        return array;
    }

    /** Probes every RPC endpoint not already in use by a model of this process (bounded, pure Java). */
    private static void checkRpcServers(Path abs, ModelOptions options) {
        for (String endpoint : options.rpcServers()) {
            if (RpcBackend.inUse(endpoint)) {
                continue; // our own open connection: a probe would wait behind it (one client at a time)
            }
            try {
                RpcBackend.probe(endpoint, options.rpcTimeout());
            } catch (IOException e) {
                throw new ModelLoadException(abs, "RPC server " + endpoint + ": " + e.getMessage());
            }
        }
    }

    private static boolean anyRpcDeviceRegistered() {
        for (long i = 0, n = Llama.ggml_backend_dev_count(); i < n; i++) {
            if (RpcBackend.isRpcDevice(Llama.ggml_backend_dev_get(i))) {
                return true;
            }
        }
        return false;
    }

    /**
     * llama.cpp's default device choice restricted to these RPC servers: their devices first (in the given order),
     * then the local GPUs (integrated GPUs only when there is no discrete one). The CPU is always used.
     */
    private static List<String> defaultDevices(List<String> rpcServers) {
        List<String> rpc = new ArrayList<>();
        List<String> gpus = new ArrayList<>();
        List<String> igpus = new ArrayList<>();
        for (String endpoint : rpcServers) {
            for (long i = 0, n = Llama.ggml_backend_dev_count(); i < n; i++) {
                MemorySegment dev = Llama.ggml_backend_dev_get(i);
                if (RpcBackend.isRpcDevice(dev) && endpoint.equals(NativeRuntime.cString(Llama.ggml_backend_dev_description(dev)))) {
                    rpc.add(NativeRuntime.cString(Llama.ggml_backend_dev_name(dev)));
                }
            }
        }
        for (long i = 0, n = Llama.ggml_backend_dev_count(); i < n; i++) {
            MemorySegment dev = Llama.ggml_backend_dev_get(i);
            if (RpcBackend.isRpcDevice(dev)) {
                continue;
            }
            String name = NativeRuntime.cString(Llama.ggml_backend_dev_name(dev));
            switch (BackendDevice.Type.of(Llama.ggml_backend_dev_type(dev))) {
                case GPU -> gpus.add(name);
                case INTEGRATED_GPU -> igpus.add(name);
                default -> { }
            }
        }
        rpc.addAll(gpus.isEmpty() ? igpus : gpus);
        return rpc;
    }

    private static MemorySegment devices(Arena arena, List<String> names) {
        MemorySegment list = arena.allocate(ValueLayout.ADDRESS, names.size() + 1); // NULL-terminated
        for (int i = 0; i < names.size(); i++) {
            MemorySegment dev = Llama.ggml_backend_dev_by_name(arena.allocateFrom(names.get(i)));
            if (dev.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("no device named '" + names.get(i) + "'; available: "
                        + LlamaRuntime.devices().stream().map(BackendDevice::name).toList());
            }
            list.setAtIndex(ValueLayout.ADDRESS, i, dev);
        }
        return list;
    }

    private ModelInfo readInfo() {
        Map<String, String> metadata = new LinkedHashMap<>();
        int n = Llama.llama_model_meta_count(model);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(4096);
            for (int i = 0; i < n; i++) {
                int index = i;
                String key = readString(buf, arena, (b, len) -> Llama.llama_model_meta_key_by_index(model, index, b, len));
                String value = readString(buf, arena, (b, len) -> Llama.llama_model_meta_val_str_by_index(model, index, b, len));
                metadata.put(key, value);
            }
            String desc = readString(buf, arena, (b, len) -> Llama.llama_model_desc(model, b, len));
            String template = NativeRuntime.cString(Llama.llama_model_chat_template(model, MemorySegment.NULL));
            MemorySegment vocab = Llama.llama_model_get_vocab(model);
            int layers = Llama.llama_model_n_layer(model);
            // llama.cpp aborts the process in n_head()/n_head_kv() when no layers were loaded (vocab-only).
            boolean hasLayers = layers > 0;
            String arch = metadata.getOrDefault("general.architecture", "unknown");
            return new ModelInfo(
                    arch,
                    desc,
                    Llama.llama_model_size(model),
                    Llama.llama_model_n_params(model),
                    Llama.llama_model_n_ctx_train(model),
                    Llama.llama_model_n_embd(model),
                    layers,
                    hasLayers ? Llama.llama_model_n_head(model) : intMetadata(metadata, arch + ".attention.head_count"),
                    hasLayers ? Llama.llama_model_n_head_kv(model) : intMetadata(metadata, arch + ".attention.head_count_kv"),
                    Llama.llama_model_n_swa(model),
                    Llama.llama_vocab_n_tokens(vocab),
                    Optional.ofNullable(template),
                    metadata);
        }
    }

    private static int intMetadata(Map<String, String> metadata, String key) {
        try {
            return Integer.parseInt(metadata.getOrDefault(key, "0"));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private interface StringCall {
        int call(MemorySegment buf, long size);
    }

    /** Calls a llama.cpp "write into buf, return needed length" function, growing the buffer when needed. */
    private static String readString(MemorySegment buf, Arena arena, StringCall call) {
        int len = call.call(buf, buf.byteSize());
        if (len < 0) {
            return "";
        }
        if (len >= buf.byteSize()) {
            buf = arena.allocate(len + 1L);
            len = call.call(buf, buf.byteSize());
        }
        return new String(buf.asSlice(0, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /** Creates a context (KV cache, threads) with {@link ContextOptions#defaults()}. */
    public LlamaContext newContext() {
        return newContext(ContextOptions.defaults());
    }

    /**
     * Creates a context. The context keeps this model alive until the context is closed.
     *
     * @throws IllegalStateException     if this model is closed or was loaded {@linkplain ModelOptions#vocabOnly() vocab-only}
     * @throws ContextCreationException  if llama.cpp cannot create it (e.g. out of memory)
     */
    public LlamaContext newContext(ContextOptions options) {
        Objects.requireNonNull(options, "options");
        handle.ensureOpen();
        if (this.options.vocabOnly()) {
            throw new IllegalStateException("model " + path + " was loaded vocab-only and cannot create contexts");
        }
        return new LlamaContext(this, options);
    }

    /**
     * Loads a LoRA adapter (GGUF, {@code general.type = adapter}) for this model; apply it per context with
     * {@link LlamaContext#setLoras(java.util.Map)}.
     *
     * @throws IllegalArgumentException if the file does not exist
     * @throws LlamaException           if llama.cpp refuses it, naming why (not an adapter, another architecture, a
     *                                  tensor the model lacks or of another shape)
     */
    public LoraAdapter loadLora(Path file) {
        Objects.requireNonNull(file, "file");
        handle.ensureOpen();
        return LoraAdapter.load(this, file);
    }

    /** Metadata and shape of the model. */
    public ModelInfo info() {
        handle.ensureOpen();
        return info;
    }

    /** The tokenizer. */
    public Vocabulary vocabulary() {
        handle.ensureOpen();
        return vocabulary;
    }

    /** The file this model was loaded from. */
    public Path path() {
        return path;
    }

    /** The options this model was loaded with. */
    public ModelOptions options() {
        return options;
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Releases the weights once no context uses them any more. Idempotent. */
    @Override
    public void close() {
        synchronized (chatFormats) {
            chatFormats.values().forEach(ChatFormat::close);
            chatFormats.clear();
        }
        handle.close();
    }

    @Override
    public String toString() {
        return "LlamaModel[" + path + (handle.isClosed() ? ", closed" : "") + "]";
    }

    // --- for the package's own owners ---

    NativeHandle handle() {
        return handle;
    }

    /** The shared chat format for {@code template} (null: the model's own), created once. */
    ChatFormat chatFormat(String template) {
        synchronized (chatFormats) {
            handle.ensureOpen();
            return chatFormats.computeIfAbsent(template == null ? "" : template,
                    t -> ChatFormat.of(this, t.isEmpty() ? null : t));
        }
    }

    MemorySegment segment() {
        return model;
    }
}
