package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_batch;
import io.github.llamaffm.bindings.llama_context_params;
import io.github.llamaffm.bindings.llama_perf_context_data;
import io.github.llamaffm.internal.NativeHandle;
import io.github.llamaffm.internal.NativeLoader;
import io.github.llamaffm.internal.NativeRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An inference session over a {@link LlamaModel}: the KV cache, threads and the token sequence decoded so far.
 *
 * <p><b>Threading:</b> a context is used by one thread at a time; a call while another thread is inside this
 * context throws {@link IllegalStateException}. Only {@link #cancel()} may be called from any thread.
 * <b>Lifetime:</b> the context keeps its model alive; {@link #close()} is idempotent and afterwards every method
 * throws {@link IllegalStateException}.
 *
 * <p><b>Prefix reuse:</b> {@link #generate} compares the new prompt with the tokens already in the KV cache
 * (sequence 0) and decodes only what differs, so a chat that re-sends its history decodes only the new turn.
 *
 * <p><b>Parallel sequences:</b> a context created with {@link ContextOptions.Builder#sequences(int) sequences(N)}
 * can serve N generations at once through {@link #newScheduler()} (continuous batching). While a scheduler is open
 * it owns the KV cache: {@link #generate}, {@link #evaluate}, {@link #embed}, {@link #clear()} and the state methods
 * throw {@link IllegalStateException}.
 */
public final class LlamaContext implements AutoCloseable {
    private static final int STATE_MAGIC = 0x4C464653; // "LFFS": llama-ffm state, version 1

    private final LlamaModel model;
    private Vocabulary vocabulary;
    private final ContextOptions options;
    private final Arena arena;
    private final MemorySegment ctx;
    private final MemorySegment memory;
    private final MemorySegment batch;
    private final MemorySegment batchTokens;
    private final MemorySegment batchPositions;
    private final MemorySegment batchSeqCounts;
    private final MemorySegment batchSeqIds;
    private final MemorySegment batchOutputs;
    private final MemorySegment abortFlag;
    private final NativeHandle handle;
    private final int contextSize;
    private final int batchCapacity;
    private final int slidingWindow;
    private final ModelInfo modelInfo;
    private final long kvCacheBytes;
    private final AtomicReference<Thread> user = new AtomicReference<>();

    /** Tokens of sequence 0 currently in the KV cache, in position order. */
    private int[] history = new int[256];
    private int historyLength;
    private Generation active;
    /** The open scheduler, which owns the KV cache while set. */
    private SequenceScheduler scheduler;

    LlamaContext(LlamaModel model, ContextOptions options) {
        this.model = model;
        this.vocabulary = model.vocabulary();
        this.options = options;
        ModelInfo info = model.info();
        this.modelInfo = info;
        int requested = options.contextSize() == 0 ? info.trainingContext()
                : (options.contextSize() == ContextOptions.defaults().contextSize()
                        ? Math.min(options.contextSize(), info.trainingContext()) : options.contextSize());
        model.handle().retain();
        Arena a = Arena.ofShared();
        try {
            MemorySegment params = Llama.llama_context_default_params(a);
            llama_context_params.n_ctx(params, requested);
            llama_context_params.n_batch(params, options.batchSize());
            llama_context_params.n_ubatch(params, options.microBatchSize());
            llama_context_params.n_seq_max(params, options.sequences());
            llama_context_params.n_threads(params, options.threads());
            llama_context_params.n_threads_batch(params, options.batchThreads());
            llama_context_params.flash_attn_type(params, options.flashAttention().nativeValue());
            llama_context_params.type_k(params, options.keyType().ggmlType());
            llama_context_params.type_v(params, options.valueType().ggmlType());
            llama_context_params.swa_full(params, options.swaFull());
            llama_context_params.offload_kqv(params, options.offloadKqv());
            llama_context_params.embeddings(params, options.embeddings());
            if (options.embeddings()) {
                llama_context_params.pooling_type(params, Llama.LLAMA_POOLING_TYPE_MEAN());
            }
            llama_context_params.kv_unified(params, options.kvUnified());
            llama_context_params.no_perf(params, false);
            // Cancellation: a native function reads this byte, so no Java upcall runs per graph node.
            MemorySegment flag = a.allocate(1);
            llama_context_params.abort_callback(params, NativeLoader.glueFunction("llamaffm_abort_requested"));
            llama_context_params.abort_callback_data(params, flag);
            NativeRuntime.clearLastError();
            NativeRuntime.beginCapture();
            MemorySegment c;
            try {
                c = Llama.llama_init_from_model(model.segment(), params);
            } finally {
                this.kvCacheBytes = kvBufferBytes(NativeRuntime.endCapture());
            }
            if (c.equals(MemorySegment.NULL)) {
                throw new ContextCreationException("llama.cpp could not create a context with " + options
                        + NativeRuntime.lastErrorSuffix());
            }
            this.ctx = c;
            this.abortFlag = flag;
            this.arena = a;
            this.memory = Llama.llama_get_memory(c);
            this.contextSize = (int) Llama.llama_n_ctx(c);
            this.batchCapacity = (int) Llama.llama_n_batch(c);
            this.slidingWindow = info.slidingWindow();
            this.batch = Llama.llama_batch_init(a, batchCapacity, 0, 1);
            this.batchTokens = llama_batch.token(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            this.batchPositions = llama_batch.pos(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            this.batchSeqCounts = llama_batch.n_seq_id(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            this.batchSeqIds = llama_batch.seq_id(batch).reinterpret((long) batchCapacity * ValueLayout.ADDRESS.byteSize());
            this.batchOutputs = llama_batch.logits(batch).reinterpret(batchCapacity);
            // Every batch entry belongs to sequence 0 only: set once, so the per-token path writes 3 values.
            for (int i = 0; i < batchCapacity; i++) {
                batchSeqCounts.setAtIndex(ValueLayout.JAVA_INT, i, 1);
                batchSeqIds.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(Integer.BYTES).set(ValueLayout.JAVA_INT, 0, 0);
            }
            this.handle = new NativeHandle("LlamaContext", this::free);
            this.vocabulary = vocabulary.ownedBy(handle);
        } catch (RuntimeException | Error e) {
            a.close();
            model.handle().release();
            throw e;
        }
    }

    private void free() {
        Llama.llama_batch_free(batch);
        Llama.llama_free(ctx);
        arena.close();
        model.handle().release();
    }

    // --- threading --------------------------------------------------------------------------------------

    /** Marks this thread as the user; returns false if it already was (re-entrant call). */
    boolean enter() {
        handle.ensureOpen();
        Thread me = Thread.currentThread();
        Thread current = user.compareAndExchange(null, me);
        if (current == null) {
            if (handle.isClosed()) { // closed between the check above and the claim
                user.set(null);
                handle.ensureOpen();
            }
            return true;
        }
        if (current == me) {
            return false;
        }
        throw new IllegalStateException("LlamaContext is in use by thread '" + current.getName()
                + "'; a context must be used by one thread at a time (create one context per thread)");
    }

    void exit(boolean entered) {
        if (entered) {
            user.set(null);
        }
    }

    // --- generation -------------------------------------------------------------------------------------

    /** Generates from a text prompt with default options. */
    public Generation generate(String prompt) {
        return generate(prompt, GenerateOptions.defaults());
    }

    /**
     * Starts generating from a text prompt. Nothing is decoded until the returned generation is consumed.
     * Starting another generation ends any unfinished one.
     */
    public Generation generate(String prompt, GenerateOptions options) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        boolean entered = enter();
        try {
            int[] tokens = vocabulary.tokenize(prompt, options.addSpecial(), options.parseSpecial());
            return start(tokens, options);
        } finally {
            exit(entered);
        }
    }

    /** Starts generating from prompt tokens (validated against the vocabulary). */
    public Generation generate(int[] promptTokens, GenerateOptions options) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        boolean entered = enter();
        try {
            vocabulary.checkTokens(promptTokens);
            return start(promptTokens.clone(), options);
        } finally {
            exit(entered);
        }
    }

    private Generation start(int[] tokens, GenerateOptions options) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prompt is empty (no tokens)");
        }
        if (tokens.length >= contextSize) {
            throw new IllegalArgumentException("prompt has " + tokens.length + " tokens but the context holds "
                    + contextSize + " (including room for at least one generated token)");
        }
        ensureNoScheduler();
        if (active != null) {
            active.end(FinishReason.CANCELLED);
        }
        active = new Generation(this, tokens, options);
        return active;
    }

    void generationEnded(Generation g) {
        if (active == g) {
            active = null;
        }
    }

    /**
     * Decodes the prompt, reusing the longest common prefix already in the KV cache. Returns the number of
     * reused tokens. Leaves the last prompt token's logits ready.
     */
    int evaluatePrompt(int[] tokens) {
        int common = 0;
        int max = Math.min(historyLength, tokens.length);
        while (common < max && history[common] == tokens[common]) {
            common++;
        }
        if (common == tokens.length) {
            common--; // the last prompt token must be decoded again to get its logits
        }
        if (common < historyLength) {
            boolean removed = Llama.llama_memory_seq_rm(memory, 0, common, -1);
            // A rolling sliding-window cache may already have dropped the cells the kept prefix needs.
            if (removed && common > 0 && slidingWindow > 0 && !options.swaFull()) {
                int posMin = Llama.llama_memory_seq_pos_min(memory, 0);
                removed = posMin <= Math.max(0, common - slidingWindow);
            }
            if (!removed) {
                Llama.llama_memory_seq_rm(memory, 0, -1, -1);
                common = 0;
            }
            historyLength = common;
        }
        decode(tokens, common, tokens.length);
        return common;
    }

    /** Appends tokens[from, to) to sequence 0 and decodes them; logits for the last one. */
    void decode(int[] tokens, int from, int to) {
        if (historyLength + (to - from) > contextSize) {
            throw new IllegalArgumentException("decoding " + (to - from) + " tokens after " + historyLength
                    + " would exceed the context size " + contextSize);
        }
        for (int start = from; start < to; start += batchCapacity) {
            int n = Math.min(batchCapacity, to - start);
            for (int i = 0; i < n; i++) {
                fillBatch(i, tokens[start + i], historyLength + i, start + i == to - 1);
            }
            llama_batch.n_tokens(batch, n);
            int status = decodeBatch(batch);
            if (status != 0) {
                throw decodeFailure(status);
            }
            appendHistory(tokens, start, n);
        }
    }

    /** Decodes one token (the hot path of generation). */
    void decodeOne(int token) {
        fillBatch(0, token, historyLength, true);
        llama_batch.n_tokens(batch, 1);
        int status = decodeBatch(batch);
        if (status != 0) {
            throw decodeFailure(status);
        }
        if (historyLength == history.length) {
            history = Arrays.copyOf(history, history.length * 2);
        }
        history[historyLength++] = token;
    }

    private void fillBatch(int i, int token, int pos, boolean output) {
        batchTokens.setAtIndex(ValueLayout.JAVA_INT, i, token);
        batchPositions.setAtIndex(ValueLayout.JAVA_INT, i, pos);
        batchOutputs.set(ValueLayout.JAVA_BYTE, i, (byte) (output ? 1 : 0));
    }

    private void appendHistory(int[] tokens, int start, int n) {
        if (historyLength + n > history.length) {
            history = Arrays.copyOf(history, Math.max(history.length * 2, historyLength + n));
        }
        System.arraycopy(tokens, start, history, historyLength, n);
        historyLength += n;
    }

    private RuntimeException decodeFailure(int status) {
        if (status == 2) {
            return new CancelledDecode();
        }
        // A failed decode leaves the cache in an unknown state for this batch: forget what we cannot trust.
        int kept = Llama.llama_memory_seq_pos_max(memory, 0) + 1;
        historyLength = Math.max(0, Math.min(historyLength, kept));
        String why = switch (status) {
            case 1 -> "no KV cache slot for the batch (context full; try a larger contextSize)";
            case -1 -> "invalid batch";
            default -> "llama_decode failed" + NativeRuntime.lastErrorSuffix();
        };
        return new DecodeException(status, why);
    }

    /**
     * Every llama_decode of this context goes through here: while it runs, the log bridge knows this context's abort
     * flag, so the errors llama.cpp logs for a decode we cancelled on purpose are logged at debug level.
     */
    int decodeBatch(MemorySegment b) {
        NativeRuntime.decodingWith(abortFlag);
        try {
            return Llama.llama_decode(ctx, b);
        } finally {
            NativeRuntime.decodingWith(null);
        }
    }

    /** Thrown inside the package when llama_decode was aborted through the abort flag. */
    static final class CancelledDecode extends RuntimeException {
        CancelledDecode() {
            super("cancelled", null, false, false);
        }
    }

    void clearAbort() {
        abortFlag.set(ValueLayout.JAVA_BYTE, 0, (byte) 0);
    }

    boolean abortRequested() {
        return abortFlag.get(ValueLayout.JAVA_BYTE, 0) != 0;
    }

    /**
     * Cancels the running generation from any thread: llama.cpp's abort callback sees it within the current
     * decode step, and the generation ends with {@link FinishReason#CANCELLED}.
     */
    public void cancel() {
        if (!handle.isClosed()) {
            abortFlag.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        }
    }

    /** Starts a chat using the model's built-in chat template. */
    public ChatSession chat() {
        return chat(ChatSession.Options.defaults());
    }

    /** Starts a chat with options (system prompt, template, generation options). */
    public ChatSession chat(ChatSession.Options options) {
        handle.ensureOpen();
        return new ChatSession(this, options);
    }

    /**
     * The chat template a {@link ChatSession} uses by default: the model's own, or without one Mistral Instruct's
     * format for Mistral models and ChatML otherwise. Pass it to {@link ChatTemplate#apply} to format a
     * conversation for {@link SequenceScheduler#submit(String, GenerateOptions, SequenceScheduler.Listener)}.
     * Callable from any thread.
     */
    public String chatTemplate() {
        handle.ensureOpen();
        return ChatSession.defaultTemplate(modelInfo);
    }

    // --- parallel sequences ---------------------------------------------------------------------------------

    /**
     * Opens a scheduler that generates for up to {@link ContextOptions#sequences()} prompts at once, sharing each
     * decode step (continuous batching). It empties the KV cache first (so {@link #generate}'s prefix reuse starts
     * over afterwards) and owns the cache until {@link SequenceScheduler#close() closed}; one scheduler at a time.
     * Any unfinished {@link Generation} ends.
     *
     * @throws IllegalStateException if a scheduler is already open, or this is an embeddings context
     */
    public SequenceScheduler newScheduler() {
        boolean entered = enter();
        try {
            if (scheduler != null) {
                throw new IllegalStateException("this context already has an open SequenceScheduler; close it first");
            }
            if (options.embeddings()) {
                throw new IllegalStateException("an embeddings context cannot generate; create the context without "
                        + "ContextOptions.embeddings(true)");
            }
            endActive();
            Llama.llama_memory_clear(memory, true);
            historyLength = 0;
            clearAbort();
            scheduler = new SequenceScheduler(this, Llama.llama_n_ctx_seq(ctx));
            return scheduler;
        } finally {
            exit(entered);
        }
    }

    void schedulerClosed(SequenceScheduler s) {
        if (scheduler == s) {
            scheduler = null;
            historyLength = 0;
        }
    }

    private void ensureNoScheduler() {
        if (scheduler != null) {
            throw new IllegalStateException("a SequenceScheduler owns this context's KV cache; close it first");
        }
    }

    /** Maps a failed {@code llama_decode} status of a multi-sequence batch to an exception (2 = aborted). */
    static DecodeException batchDecodeFailure(int status) {
        String why = switch (status) {
            case 1 -> "no KV cache slot for the batch (context full; try a larger contextSize)";
            case 2 -> "aborted";
            case -1 -> "invalid batch";
            default -> "llama_decode failed" + NativeRuntime.lastErrorSuffix();
        };
        return new DecodeException(status, why);
    }

    // --- low-level evaluation -----------------------------------------------------------------------------

    /**
     * Appends tokens to sequence 0 and decodes them (no sampling). {@link #logits()} then returns the last token's
     * logits. Use {@link #clear()} to start over.
     */
    public void evaluate(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        boolean entered = enter();
        try {
            vocabulary.checkTokens(tokens);
            if (tokens.length == 0) {
                throw new IllegalArgumentException("no tokens to evaluate");
            }
            ensureNoScheduler();
            endActive();
            clearAbort();
            try {
                decode(tokens, 0, tokens.length);
            } catch (CancelledDecode c) {
                throw new LlamaException("evaluation cancelled");
            }
        } finally {
            exit(entered);
        }
    }

    /** A copy of the logits of the last decoded token (one per vocabulary entry). */
    public float[] logits() {
        boolean entered = enter();
        try {
            if (historyLength == 0) {
                throw new IllegalStateException("no token decoded yet");
            }
            MemorySegment l = Llama.llama_get_logits_ith(ctx, -1);
            if (l.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("no logits available (embeddings context?)");
            }
            return l.reinterpret((long) vocabulary.size() * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            exit(entered);
        }
    }

    /** Tokens of sequence 0 currently in the KV cache. */
    public int[] tokens() {
        boolean entered = enter();
        try {
            return Arrays.copyOf(history, historyLength);
        } finally {
            exit(entered);
        }
    }

    /** Empties the KV cache (all sequences). */
    public void clear() {
        boolean entered = enter();
        try {
            ensureNoScheduler();
            endActive();
            Llama.llama_memory_clear(memory, true);
            historyLength = 0;
        } finally {
            exit(entered);
        }
    }

    /** Operations on the KV cache's sequences and positions. */
    public ContextMemory memory() {
        handle.ensureOpen();
        return new ContextMemory(this);
    }

    // --- embeddings ---------------------------------------------------------------------------------------

    /**
     * Embeds text (mean-pooled over its tokens). Needs a context created with
     * {@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}.
     *
     * @param normalize scale to unit length (for cosine similarity)
     */
    public float[] embed(String text, boolean normalize) {
        Objects.requireNonNull(text, "text");
        if (!options.embeddings()) {
            throw new IllegalStateException("embed needs a context created with ContextOptions.embeddings(true)");
        }
        boolean entered = enter();
        try {
            int[] tokens = vocabulary.tokenize(text, true, false);
            if (tokens.length == 0) {
                throw new IllegalArgumentException("text has no tokens");
            }
            if (tokens.length > batchCapacity) {
                throw new IllegalArgumentException("text has " + tokens.length + " tokens; embedding takes at most the batch size "
                        + batchCapacity);
            }
            ensureNoScheduler();
            endActive();
            Llama.llama_memory_clear(memory, true);
            historyLength = 0;
            clearAbort();
            for (int i = 0; i < tokens.length; i++) {
                fillBatch(i, tokens[i], i, true);
            }
            llama_batch.n_tokens(batch, tokens.length);
            int status = decodeBatch(batch);
            Llama.llama_memory_clear(memory, true);
            if (status != 0) {
                throw decodeFailure(status);
            }
            int n = modelInfo.embeddingSize();
            MemorySegment e = Llama.llama_get_embeddings_seq(ctx, 0);
            if (e.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp produced no embeddings");
            }
            float[] v = e.reinterpret((long) n * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
            if (normalize) {
                double sum = 0;
                for (float f : v) {
                    sum += (double) f * f;
                }
                double norm = Math.sqrt(sum);
                if (norm > 0) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (v[i] / norm);
                    }
                }
            }
            return v;
        } finally {
            exit(entered);
        }
    }

    // --- state ----------------------------------------------------------------------------------------------

    /** The whole context state (KV cache, tokens of sequence 0) as bytes, for {@link #loadState(byte[])}. */
    public byte[] saveState() {
        boolean entered = enter();
        try {
            ensureNoScheduler();
            endActive();
            long size = Llama.llama_state_get_size(ctx);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(Math.max(1, size));
                long written = Llama.llama_state_get_data(ctx, buf, size);
                ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + 4L * historyLength + written)).order(ByteOrder.LITTLE_ENDIAN);
                out.putInt(STATE_MAGIC).putInt(historyLength);
                for (int i = 0; i < historyLength; i++) {
                    out.putInt(history[i]);
                }
                out.put(buf.asSlice(0, written).asByteBuffer());
                return out.array();
            }
        } finally {
            exit(entered);
        }
    }

    /** Restores a state from {@link #saveState()} of a context of the same model and options. */
    public void loadState(byte[] state) {
        Objects.requireNonNull(state, "state");
        boolean entered = enter();
        try {
            ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
            if (state.length < 8 || in.getInt() != STATE_MAGIC) {
                throw new IllegalArgumentException("not a llama-ffm context state (bad header)");
            }
            int n = in.getInt();
            if (n < 0 || n > contextSize || state.length < 8 + 4L * n) {
                throw new IllegalArgumentException("corrupt context state: " + n + " tokens for a context of " + contextSize);
            }
            int[] tokens = new int[n];
            for (int i = 0; i < n; i++) {
                tokens[i] = in.getInt();
            }
            vocabulary.checkTokens(tokens);
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int rest = state.length - in.position();
                MemorySegment buf = a.allocate(Math.max(1, rest));
                MemorySegment.copy(state, in.position(), buf, ValueLayout.JAVA_BYTE, 0, rest);
                long read = Llama.llama_state_set_data(ctx, buf, rest);
                if (read == 0) {
                    historyLength = 0;
                    throw new LlamaException("llama.cpp rejected the state (different model or context options?)"
                            + NativeRuntime.lastErrorSuffix());
                }
            }
            history = Arrays.copyOf(tokens, Math.max(256, n));
            historyLength = n;
        } finally {
            exit(entered);
        }
    }

    /** Saves the state to a file ({@code llama_state_save_file}, with the tokens of sequence 0). */
    public void saveState(Path file) {
        Objects.requireNonNull(file, "file");
        boolean entered = enter();
        try {
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment tokens = a.allocateFrom(ValueLayout.JAVA_INT, Arrays.copyOf(history, historyLength));
                if (!Llama.llama_state_save_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), tokens, historyLength)) {
                    throw new LlamaException("could not save state to " + file + NativeRuntime.lastErrorSuffix());
                }
            }
        } finally {
            exit(entered);
        }
    }

    /** Loads a state saved by {@link #saveState(Path)}. */
    public void loadState(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("state file does not exist: " + file.toAbsolutePath());
        }
        boolean entered = enter();
        try {
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment tokens = a.allocate(ValueLayout.JAVA_INT, contextSize);
                MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
                if (!Llama.llama_state_load_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), tokens, contextSize, count)) {
                    historyLength = 0;
                    throw new LlamaException("could not load state from " + file + NativeRuntime.lastErrorSuffix());
                }
                int n = (int) count.get(ValueLayout.JAVA_LONG, 0);
                history = Arrays.copyOf(tokens.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT), Math.max(256, n));
                historyLength = n;
            }
        } finally {
            exit(entered);
        }
    }

    /** Sum of the "KV buffer size = X MiB" lines llama.cpp logs while creating a context (its only report of it). */
    private static long kvBufferBytes(java.util.List<String> log) {
        java.util.regex.Pattern p = java.util.regex.Pattern.compile("KV buffer size =\\s*([0-9.]+) MiB");
        double mib = 0;
        for (String line : log) {
            java.util.regex.Matcher m = p.matcher(line);
            if (m.find()) {
                mib += Double.parseDouble(m.group(1));
            }
        }
        return Math.round(mib * 1024 * 1024);
    }

    /**
     * Bytes of KV cache buffers llama.cpp allocated for this context, as it reports them at creation (to 0.01 MiB).
     * With a sliding-window model and {@code swaFull(false)} this is the rolling buffer, not the full context.
     */
    public long kvCacheBytes() {
        handle.ensureOpen();
        return kvCacheBytes;
    }

    /** Size in bytes of the full state as llama.cpp reports it ({@code llama_state_get_size}). */
    public long stateSize() {
        boolean entered = enter();
        try {
            return Llama.llama_state_get_size(ctx);
        } finally {
            exit(entered);
        }
    }

    // --- info -------------------------------------------------------------------------------------------------

    /** Actual context size in tokens. */
    public int contextSize() {
        handle.ensureOpen();
        return contextSize;
    }

    /** The options this context was created with. */
    public ContextOptions options() {
        return options;
    }

    public LlamaModel model() {
        return model;
    }

    /** The model's info, available as long as this context is open. */
    public ModelInfo modelInfo() {
        handle.ensureOpen();
        return modelInfo;
    }

    /** llama.cpp's performance counters since the last reset: prompt and generation times and token counts. */
    double[] perf() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = Llama.llama_perf_context(a, ctx);
            return new double[] {llama_perf_context_data.t_p_eval_ms(p), llama_perf_context_data.t_eval_ms(p),
                    llama_perf_context_data.n_p_eval(p), llama_perf_context_data.n_eval(p)};
        }
    }

    void resetPerf() {
        Llama.llama_perf_context_reset(ctx);
    }

    private void endActive() {
        if (active != null) {
            active.end(FinishReason.CANCELLED);
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Frees the KV cache and releases the model. Idempotent. */
    @Override
    public void close() {
        if (handle.isClosed()) {
            return;
        }
        // Closing takes the context like any other call, so no other thread can enter between the check and the
        // free; the claim is never released: afterwards every call fails on the closed handle.
        Thread me = Thread.currentThread();
        Thread current = user.compareAndExchange(null, me);
        if (current != null && current != me) {
            throw new IllegalStateException("cannot close a LlamaContext while thread '" + current.getName() + "' uses it");
        }
        if (active != null) {
            active.end(FinishReason.CANCELLED);
        }
        if (scheduler != null) {
            scheduler.close();
        }
        handle.close();
    }

    // --- for package owners -----------------------------------------------------------------------------------

    MemorySegment segment() {
        return ctx;
    }

    MemorySegment memorySegment() {
        return memory;
    }

    /** The model's tokenizer, usable as long as this context is open (even after the model is closed). */
    public Vocabulary vocabulary() {
        handle.ensureOpen();
        return vocabulary;
    }

    int historyLength() {
        return historyLength;
    }

    void truncateHistory(int length) {
        historyLength = Math.max(0, Math.min(historyLength, length));
    }


}
