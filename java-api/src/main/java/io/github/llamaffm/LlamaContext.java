package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_context_params;
import io.github.llamaffm.internal.ChatGlue;
import io.github.llamaffm.internal.NativeBatch;
import io.github.llamaffm.internal.NativeHandle;
import io.github.llamaffm.internal.NativeLoader;
import io.github.llamaffm.internal.NativeRuntime;
import io.github.llamaffm.internal.ThreadClaim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

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
    private static final int SEQUENCE_STATE_MAGIC = 0x4C464651; // "LFFQ": llama-ffm sequence state, version 1

    private final LlamaModel model;
    private final Vocabulary vocabulary;
    private final ContextOptions options;
    private final MemorySegment ctx;
    private final MemorySegment memory;
    private final NativeBatch batch;
    private final NativeHandle handle;
    private final ThreadClaim claims;
    private final int sequenceContextSize;
    private final ContextSettings settings;
    private final ModelInfo modelInfo;
    /** The pooling of this context's embeddings, as llama.cpp resolved it. */
    private final Pooling pooling;
    /** Floats per token or pooled embedding ({@code llama_model_n_embd_out}). */
    private final int outputWidth;
    /** The layout of reranker pairs, read on first use. */
    private RerankPrompt rerankPrompt;
    /** Tokens of sequence 0 in the KV cache (prefix reuse, state, {@link #tokens()}). */
    private final TokenHistory history;
    /** Sliding window of the model when the cache keeps only a rolling buffer of it; 0 otherwise. */
    private final int rollingWindow;
    /** The context shift of {@link ContextOverflow#SHIFT}, or null. */
    private final SequenceEngine.Shift shift;

    private Generation active;
    /** Tokens of sequences 1.. in the cache when this context drafts for a scheduler ({@link #draftTokens}). */
    private TokenHistory[] draftHistories = new TokenHistory[0];
    /** The target model whose vocabulary {@link Drafter} last found compatible with this context's model. */
    LlamaModel draftsFor;
    /** The LoRA adapters applied, with their scales; each holds a reference on its adapter's handle. */
    /** The context's own adapters ({@link #setLoras}): a generation's unless its options name others. */
    private Map<LoraAdapter, Float> loras = Map.of();
    /** The adapters llama.cpp applies now (the last decode's). */
    private Map<LoraAdapter, Float> appliedLoras = Map.of();
    /** Retained handles of {@link #appliedLoras} and of {@link #loras} (one retain each). */
    private List<NativeHandle> appliedHandles = List.of();
    private List<NativeHandle> defaultHandles = List.of();
    /** Both lists together, released when the context is freed (shared with the free action). */
    private final List<NativeHandle> loraHandles = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** The open scheduler, which owns the KV cache while open. */
    private SequenceScheduler scheduler;

    LlamaContext(LlamaModel model, ContextOptions options) {
        this.model = model;
        this.options = options;
        ModelInfo info = model.info();
        this.modelInfo = info;
        if (options.embeddings() && options.microBatchSize() % options.sequences() != 0) {
            // llama.cpp sizes its reserved pooling graph for a multiple of n_seq_max tokens and aborts otherwise.
            throw new IllegalArgumentException("an embeddings context needs a microBatchSize that is a multiple of "
                    + "its sequences: microBatchSize " + options.microBatchSize() + ", sequences " + options.sequences());
        }
        int contextSize = options.resolveContextSize(info.trainingContext());
        checkKvCacheFits(model, info, options, contextSize);
        NativeHandle modelHandle = model.handle();
        modelHandle.retain();
        Arena a = Arena.ofShared();
        MemorySegment c = MemorySegment.NULL;
        try {
            MemorySegment params = Llama.llama_context_default_params(a);
            llama_context_params.n_ctx(params, contextSize);
            llama_context_params.n_batch(params, options.batchSize());
            llama_context_params.n_ubatch(params, options.microBatchSize());
            llama_context_params.n_seq_max(params, options.sequences());
            llama_context_params.n_threads(params, options.resolveThreads());
            llama_context_params.n_threads_batch(params, options.resolveBatchThreads());
            llama_context_params.flash_attn_type(params, options.flashAttention().nativeValue());
            llama_context_params.type_k(params, options.keyType().ggmlType());
            llama_context_params.type_v(params, options.valueType().ggmlType());
            llama_context_params.swa_full(params, options.swaFull());
            llama_context_params.offload_kqv(params, options.offloadKqv());
            llama_context_params.embeddings(params, options.embeddings());
            if (options.embeddings() && options.pooling().isPresent()) {
                llama_context_params.pooling_type(params, options.pooling().get().nativeValue());
            } else if (options.embeddings() && !hasOwnPooling(model)) {
                // The model's own pooling (CLS, last, rank, mean) when its file names one; mean otherwise.
                llama_context_params.pooling_type(params, Llama.LLAMA_POOLING_TYPE_MEAN());
            }
            llama_context_params.kv_unified(params, options.kvUnified());
            llama_context_params.no_perf(params, false);
            // Cancellation: a native function reads this byte, so no Java upcall runs per graph node.
            MemorySegment flag = a.allocate(1);
            llama_context_params.abort_callback(params, NativeLoader.glueFunction("llamaffm_abort_requested"));
            llama_context_params.abort_callback_data(params, flag);
            NativeRuntime.clearLastError();
            c = Llama.llama_init_from_model(model.segment(), params);
            if (c.equals(MemorySegment.NULL)) {
                throw new ContextCreationException("llama.cpp could not create a context with " + options
                        + NativeRuntime.lastErrorSuffix());
            }
            ChatGlue.ContextMemory memory = ChatGlue.contextMemory(c);
            long kvBytes = memory == null ? -1 : memory.context();
            this.ctx = c;
            this.memory = Llama.llama_get_memory(c);
            this.settings = new ContextSettings((int) Llama.llama_n_ctx(c), (int) Llama.llama_n_ctx_seq(c),
                    (int) Llama.llama_n_seq_max(c), (int) Llama.llama_n_batch(c), (int) Llama.llama_n_ubatch(c),
                    Llama.llama_n_threads(c), Llama.llama_n_threads_batch(c), kvBytes,
                    options.resolveBackendSampling(model.options(), info.layers(), LlamaRuntime.devices()));
            this.sequenceContextSize = settings.sequenceContextSize();
            this.pooling = Pooling.of(Llama.llama_pooling_type(c));
            this.outputWidth = Llama.llama_model_n_embd_out(model.segment());
            this.batch = new NativeBatch(a, c, flag, settings.batchSize());
            this.handle = new NativeHandle(this, "LlamaContext", freeAction(c, batch.struct(), a, modelHandle,
                    loraHandles));
        } catch (RuntimeException | Error e) {
            if (!c.equals(MemorySegment.NULL)) {
                Llama.llama_free(c);
            }
            a.close();
            modelHandle.release();
            throw e;
        }
        this.claims = new ThreadClaim("LlamaContext", handle);
        this.vocabulary = model.vocabulary().ownedBy(handle);
        this.rollingWindow = info.slidingWindow() > 0 && !options.swaFull() ? info.slidingWindow() : 0;
        this.history = new TokenHistory(memory, 0, rollingWindow);
        this.shift = SequenceEngine.Shift.of(options, memory);
        if (options.warmup() && !options.embeddings()) {
            try {
                warmUp();
            } catch (RuntimeException | Error e) {
                handle.close();
                throw e;
            }
        }
    }

    /**
     * One generated token from a short text prompt through the same path as every generation (tokenizer included),
     * then an empty cache (ContextOptions.Builder#warmup). A model that cannot
     * generate this way fails the same way on the user's first generation, with the user's input in the message:
     * the warm-up's failure is only logged.
     */
    private void warmUp() {
        try {
            int[] prompt = vocabulary.tokenize("Hello", true, false);
            if (prompt.length >= sequenceContextSize) {
                prompt = java.util.Arrays.copyOf(prompt, 1); // a sequence of very few cells
            }
            if (prompt.length == 0 || prompt.length >= sequenceContextSize) {
                return;
            }
            try (Generation g = generate(prompt, GenerateOptions.builder().maxTokens(1).build())) {
                for (Token ignored : g) {
                    // drained: decode, sample, detokenize
                }
            }
        } catch (LlamaException e) {
            System.getLogger(LlamaContext.class.getName()).log(System.Logger.Level.DEBUG,
                    "llama-ffm: the context's warm-up generation failed (the context is usable)", e);
        } finally {
            clear();
        }
    }

    /** Frees what the context owns; captures only native pointers and the model's handle, never the context. */
    private static Runnable freeAction(MemorySegment ctx, MemorySegment batchStruct, Arena arena, NativeHandle model,
                                       List<NativeHandle> loras) {
        return () -> {
            try {
                NativeBatch.free(batchStruct);
                Llama.llama_free(ctx);
                arena.close();
            } finally {
                for (NativeHandle lora : loras) {
                    lora.release();
                }
                model.release();
            }
        };
    }

    // --- adapters ---------------------------------------------------------------------------------------

    /**
     * Applies exactly these LoRA adapters with their scales (1 = as trained, 0 = no effect; negative values subtract),
     * replacing whatever was applied before; an empty map removes all. Affects what is decoded from now on: tokens
     * already in the KV cache keep the state computed without them, so the cache is emptied when the set changes.
     *
     * @throws IllegalArgumentException if an adapter was loaded for another model, is closed, or a scale is not finite
     */
    public void setLoras(Map<LoraAdapter, Float> adapters) {
        Map<LoraAdapter, Float> copy = checkedAdapters(adapters);
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            if (copy.equals(loras) && copy.equals(appliedLoras)) {
                return;
            }
            List<NativeHandle> retained = retain(copy);
            try {
                applyAdapters(copy);
            } catch (RuntimeException e) {
                retained.forEach(NativeHandle::release);
                throw e;
            }
            endActive();
            clearCache();
            defaultHandles.forEach(NativeHandle::release);
            defaultHandles = retained;
            loras = copy;
            syncHandles();
        }
    }

    /** Retains each adapter's handle (an adapter closed meanwhile is an IllegalArgumentException). */
    private static List<NativeHandle> retain(Map<LoraAdapter, Float> set) {
        List<NativeHandle> retained = new ArrayList<>();
        try {
            for (LoraAdapter adapter : set.keySet()) {
                adapter.handle().retain();
                retained.add(adapter.handle());
            }
        } catch (RuntimeException e) {
            retained.forEach(NativeHandle::release);
            throw new IllegalArgumentException("an adapter was closed while being applied", e);
        }
        return List.copyOf(retained);
    }

    private void syncHandles() {
        List<NativeHandle> all = new ArrayList<>(appliedHandles);
        all.addAll(defaultHandles);
        loraHandles.clear();
        loraHandles.addAll(all);
    }

    /** A validated, unmodifiable copy of an adapter set (the model's own adapters, open, finite scales). */
    private Map<LoraAdapter, Float> checkedAdapters(Map<LoraAdapter, Float> adapters) {
        Objects.requireNonNull(adapters, "adapters");
        Map<LoraAdapter, Float> copy = new LinkedHashMap<>();
        adapters.forEach((adapter, scale) -> {
            Objects.requireNonNull(adapter, "adapter");
            Objects.requireNonNull(scale, "scale");
            if (adapter.model() != model) {
                throw new IllegalArgumentException(adapter + " was loaded for " + adapter.model().path()
                        + ", not for this context's model " + model.path());
            }
            if (adapter.isClosed()) {
                throw new IllegalArgumentException(adapter + " is closed");
            }
            if (!Float.isFinite(scale)) {
                throw new IllegalArgumentException("scale of " + adapter + " must be finite, was " + scale);
            }
            copy.put(adapter, scale);
        });
        return Collections.unmodifiableMap(copy);
    }

    /**
     * {@code options} with its adapter set resolved ({@link GenerateOptions#loras()}: the context's own when unset)
     * and validated: what a generation or a scheduled sequence runs with, and the tag of the cells it computes.
     */
    GenerateOptions withAdapters(GenerateOptions options) {
        Map<LoraAdapter, Float> set = options.loras().isPresent() ? checkedAdapters(options.loras().get()) : loras;
        return options.toBuilder().loras(set).build();
    }

    /**
     * Makes {@code set} the adapters llama.cpp applies from the next decode on (nothing when it already is). The
     * cache is left alone: each sequence's {@link TokenHistory} knows the set its cells were computed with.
     */
    void applyAdapters(Map<LoraAdapter, Float> set) {
        if (set.equals(appliedLoras)) {
            return;
        }
        List<NativeHandle> retained = retain(set);
        try (Arena a = Arena.ofConfined()) {
            int n = set.size();
            MemorySegment ptrs = a.allocate(ValueLayout.ADDRESS, Math.max(1, n));
            MemorySegment scales = a.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, n));
            int i = 0;
            for (Map.Entry<LoraAdapter, Float> e : set.entrySet()) {
                ptrs.setAtIndex(ValueLayout.ADDRESS, i, e.getKey().segment());
                scales.setAtIndex(ValueLayout.JAVA_FLOAT, i, e.getValue());
                i++;
            }
            if (Llama.llama_set_adapters_lora(ctx, ptrs, n, scales) != 0) {
                retained.forEach(NativeHandle::release);
                throw new LlamaException("llama.cpp could not apply the LoRA adapters" + NativeRuntime.lastErrorSuffix());
            }
        }
        appliedHandles.forEach(NativeHandle::release);
        appliedHandles = retained;
        appliedLoras = set;
        syncHandles();
    }

    /**
     * Applies control vectors with their scales to every layer ({@code setControlVectors(vectors, 1, layers)}),
     * replacing any applied before; an empty map removes them. As {@code llama-completion --control-vector-scaled}.
     */
    public void setControlVectors(Map<ControlVector, Float> vectors) {
        setControlVectors(vectors, 1, modelInfo.layers());
    }

    /**
     * Applies the sum of {@code vectors}, each times its scale, to layers {@code firstLayer..lastLayer} (inclusive,
     * counted from 1 as llama.cpp does; its layer 0 never takes one), replacing any applied before; an empty map
     * removes them. The KV cache is cleared: what it holds was computed without them.
     *
     * @throws IllegalArgumentException if a vector was made for another embedding size, a scale is not finite, or
     *                                  the layer range is not within 1..{@link ModelInfo#layers()}
     */
    public void setControlVectors(Map<ControlVector, Float> vectors, int firstLayer, int lastLayer) {
        Objects.requireNonNull(vectors, "vectors");
        int layers = modelInfo.layers();
        if (firstLayer < 1 || lastLayer < firstLayer || lastLayer > layers) {
            throw new IllegalArgumentException("control vector layers must satisfy 1 <= first <= last <= " + layers
                    + ", were " + firstLayer + ".." + lastLayer);
        }
        int n = modelInfo.embeddingSize();
        int maxLayer = 0;
        for (Map.Entry<ControlVector, Float> e : vectors.entrySet()) {
            ControlVector v = Objects.requireNonNull(e.getKey(), "control vector");
            Float scale = Objects.requireNonNull(e.getValue(), "scale");
            if (v.embeddingSize() != n) {
                throw new IllegalArgumentException(v + " has " + v.embeddingSize() + " values per layer; this model's "
                        + "embedding size is " + n);
            }
            if (!Float.isFinite(scale)) {
                throw new IllegalArgumentException("scale of " + v + " must be finite, was " + scale);
            }
            maxLayer = Math.max(maxLayer, v.maxLayer());
        }
        float[] data = new float[Math.multiplyExact(maxLayer, n)];
        vectors.forEach((v, scale) -> v.addTo(data, scale));
        try (var claim = claims.claim(); Arena a = Arena.ofConfined()) {
            ensureNoScheduler();
            NativeRuntime.clearLastError();
            int status = vectors.isEmpty()
                    ? Llama.llama_set_adapter_cvec(ctx, MemorySegment.NULL, 0, n, 0, 0)
                    : Llama.llama_set_adapter_cvec(ctx, a.allocateFrom(ValueLayout.JAVA_FLOAT, data), data.length, n,
                            firstLayer, lastLayer);
            if (status != 0) {
                throw new LlamaException("llama.cpp could not apply the control vectors" + NativeRuntime.lastErrorSuffix());
            }
            endActive();
            clearCache();
        }
    }

    /** Removes the control vectors ({@code setControlVectors(Map.of())}). */
    public void clearControlVectors() {
        setControlVectors(Map.of());
    }

    /** Removes every LoRA adapter ({@code setLoras(Map.of())}). */
    public void clearLoras() {
        setLoras(Map.of());
    }

    /** The LoRA adapters applied, with their scales, in the order given. */
    public Map<LoraAdapter, Float> loras() {
        try (var claim = claims.claim()) {
            return loras;
        }
    }

    // --- generation -------------------------------------------------------------------------------------

    /** Generates from a text prompt with default options. */
    public Generation generate(String prompt) {
        return generate(prompt, GenerateOptions.defaults());
    }

    /**
     * Starts generating from a text prompt. Nothing is decoded until the returned generation is consumed; the
     * sampler is built now (an invalid one fails here). Starting another generation ends any unfinished one.
     */
    public Generation generate(String prompt, GenerateOptions options) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        try (var claim = claims.claim()) {
            return start(vocabulary.tokenize(prompt, options.addSpecial(), options.parseSpecial()), options);
        }
    }

    /** Starts generating from prompt tokens (validated against the vocabulary). */
    public Generation generate(int[] promptTokens, GenerateOptions options) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        try (var claim = claims.claim()) {
            vocabulary.checkTokens(promptTokens);
            return start(promptTokens.clone(), options);
        }
    }

    private Generation start(int[] tokens, GenerateOptions options) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prompt is empty (no tokens)");
        }
        if (tokens.length >= sequenceContextSize) {
            throw new IllegalArgumentException("prompt has " + tokens.length + " tokens but the context holds "
                    + sequenceContextSize + " (including room for at least one generated token)");
        }
        ensureNoScheduler();
        endActive();
        options = withAdapters(options);
        applyAdapters(options.loras().orElseThrow());
        Drafter drafter = Drafter.of(options, this);
        // With speculation a round decodes several tokens, which llama.cpp's counters book as prompt processing:
        // its timings are then the wall clock's.
        active = new Generation(claims, batch, new SequenceEngine(0, vocabulary, tokens, options,
                sequenceContextSize, history, shift, drafter == null ? ctx : null,
                drafter == null && settings.backendSampling() ? ctx : null, drafter));
        return active;
    }

    /**
     * Cancels the running generation from any thread: llama.cpp's abort callback sees it within the current
     * decode step, and the generation ends with {@link FinishReason#CANCELLED}.
     */
    public void cancel() {
        if (!handle.isClosed()) {
            batch.requestAbort();
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
        try (var claim = claims.claim()) {
            if (scheduler != null && !scheduler.isClosed()) {
                throw new IllegalStateException("this context already has an open SequenceScheduler; close it first");
            }
            if (options.embeddings()) {
                throw new IllegalStateException("an embeddings context cannot generate; create the context without "
                        + "ContextOptions.embeddings(true)");
            }
            clearCache();
            batch.clearAbort();
            scheduler = new SequenceScheduler(this, claims, batch, memory, vocabulary, options.sequences(),
                    sequenceContextSize, rollingWindow, shift, !options.kvUnified(), settings.backendSampling(),
                    this::withAdapters, this::applyAdapters);
            return scheduler;
        }
    }

    private void ensureNoScheduler() {
        if (scheduler != null && !scheduler.isClosed()) {
            throw new IllegalStateException("a SequenceScheduler owns this context's KV cache; close it first");
        }
    }

    // --- low-level evaluation -----------------------------------------------------------------------------

    /**
     * Appends tokens to sequence 0 and decodes them (no sampling). {@link #logits()} then returns the last token's
     * logits. Use {@link #clear()} to start over.
     */
    public void evaluate(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        try (var claim = claims.claim()) {
            vocabulary.checkTokens(tokens);
            if (tokens.length == 0) {
                throw new IllegalArgumentException("no tokens to evaluate");
            }
            ensureNoScheduler();
            endActive();
            if (history.length() + tokens.length > sequenceContextSize) {
                throw new IllegalArgumentException("decoding " + tokens.length + " tokens after " + history.length()
                        + " would exceed the context size " + sequenceContextSize);
            }
            batch.clearAbort();
            applyAdapters(loras);
            history.continueWith(loras);
            for (int start = 0; start < tokens.length; start += batch.capacity()) {
                int n = Math.min(batch.capacity(), tokens.length - start);
                batch.clear();
                for (int i = 0; i < n; i++) {
                    batch.add(tokens[start + i], history.length() + i, 0, start + i == tokens.length - 1);
                }
                try {
                    batch.decode();
                } catch (DecodeException e) {
                    history.trimToCache();
                    if (e.status() == NativeBatch.ABORTED) {
                        throw new LlamaException("evaluation cancelled");
                    }
                    throw e;
                }
                history.append(tokens, start, n);
            }
        }
    }

    /**
     * The draft model's side of {@link Speculation}: continues {@code tokens} greedily by up to {@code n} tokens in
     * sequence {@code sequence} modulo this context's sequences (the target's sequence: a scheduler's sequences each
     * keep their own draft cache when this context has as many), decoding only what the cache does not already hold (prefix reuse; the previous round's guesses
     * that the target rejected are removed here). Stops early at a guess whose probability is below
     * {@code minProbability}, where the sequence is full, or where a token is not in this vocabulary.
     */
    int[] draftTokens(int sequence, int[] tokens, int n, float minProbability) {
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            endActive();
            int seq = sequence % settings.sequences();
            TokenHistory history = seq == 0 ? this.history : draftHistory(seq);
            n = Math.min(n, sequenceContextSize - tokens.length);
            if (n <= 0) {
                return new int[0];
            }
            for (int t : tokens) {
                if (t < 0 || t >= vocabulary.size()) {
                    return new int[0];
                }
            }
            batch.clearAbort();
            int[] guess = new int[n];
            int count = 0;
            try {
                int output = 0;
                applyAdapters(loras); // the draft context's own adapters
                for (int start = history.reusePrefix(tokens, loras); start < tokens.length;
                        start += batch.capacity()) {
                    int k = Math.min(batch.capacity(), tokens.length - start);
                    batch.clear();
                    for (int i = 0; i < k; i++) {
                        output = batch.add(tokens[start + i], start + i, seq, start + i == tokens.length - 1);
                    }
                    batch.decode();
                    history.append(tokens, start, k);
                }
                while (true) {
                    int best = argmax(output);
                    if (minProbability > 0
                            && SequenceEngine.probabilityOf(ctx, output, vocabulary.size(), best) < minProbability) {
                        break;
                    }
                    guess[count++] = best;
                    if (count == n) {
                        break;
                    }
                    batch.clear();
                    output = batch.add(best, history.length(), seq, true);
                    batch.decode();
                    history.append(best);
                }
            } catch (DecodeException e) {
                history.trimToCache();
                if (e.status() != 1 && e.status() != NativeBatch.ABORTED) {
                    throw e;
                }
                // no room in the draft cache, or the draft context was cancelled: guess what there is
            }
            return Arrays.copyOf(guess, count);
        }
    }

    private TokenHistory draftHistory(int seq) {
        if (draftHistories.length <= seq) {
            draftHistories = Arrays.copyOf(draftHistories, settings.sequences());
        }
        if (draftHistories[seq] == null) {
            draftHistories[seq] = new TokenHistory(memory, seq, rollingWindow);
        }
        return draftHistories[seq];
    }

    /** The most likely token of batch entry {@code output} of the last decode (the lowest id among equals). */
    private int argmax(int output) {
        MemorySegment logits = Llama.llama_get_logits_ith(ctx, output)
                .reinterpret((long) vocabulary.size() * Float.BYTES);
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocabulary.size(); i++) {
            float l = logits.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (l > max) {
                max = l;
                best = i;
            }
        }
        return best;
    }

    /** A copy of the logits of the last decoded token (one per vocabulary entry). */
    public float[] logits() {
        try (var claim = claims.claim()) {
            if (history.length() == 0) {
                throw new IllegalStateException("no token decoded yet");
            }
            MemorySegment l = Llama.llama_get_logits_ith(ctx, -1);
            if (l.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("no logits available (embeddings context?)");
            }
            return l.reinterpret((long) vocabulary.size() * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** Tokens of sequence 0 currently in the KV cache. */
    public int[] tokens() {
        try (var claim = claims.claim()) {
            return history.toArray();
        }
    }

    /** Empties the KV cache (all sequences). */
    public void clear() {
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            endActive();
            clearCache();
        }
    }

    private void clearCache() {
        endActive();
        Llama.llama_memory_clear(memory, true);
        history.truncate(0);
        for (TokenHistory h : draftHistories) {
            if (h != null) {
                h.truncate(0);
            }
        }
    }

    /** Operations on the KV cache's sequences and positions. */
    public ContextMemory memory() {
        handle.ensureOpen();
        return new ContextMemory(this, claims, memory, history);
    }

    // --- embeddings ---------------------------------------------------------------------------------------

    /**
     * Embeds text (pooled as {@link #embed(List, boolean)} does). Needs a context created with
     * {@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}.
     *
     * @param normalize scale to unit length (for cosine similarity)
     */
    public float[] embed(String text, boolean normalize) {
        Objects.requireNonNull(text, "text");
        return embed(List.of(text), normalize).getFirst();
    }

    /** Whether the model names a pooling type other than none ({@code <arch>.pooling_type}, overrides first). */
    private static boolean hasOwnPooling(LlamaModel model) {
        String key = model.info().architecture() + ".pooling_type";
        Object type = model.options().metadataOverrides().get(key);
        if (type == null) {
            type = model.info().metadata().get(key);
        }
        return type != null && !type.toString().isBlank() && !type.toString().strip().equals("0");
    }

    /**
     * The pooling this context's embeddings use ({@code llama_pooling_type}): the one set with
     * {@link ContextOptions.Builder#pooling(Pooling)}, else the model's own, else {@link Pooling#MEAN} for an
     * embeddings context of a model that names none. Decides which embedding call applies: {@link #embed} (mean, CLS,
     * last), {@link #tokenEmbeddings} (none), {@link #rerank} (rank).
     */
    public Pooling pooling() {
        handle.ensureOpen();
        return pooling;
    }

    /**
     * Embeds several texts, as many per {@code llama_decode} as fit the micro-batch and the context's
     * {@link ContextOptions#sequences()} (one sequence each), pooled with the model's own pooling type when its file
     * names one (CLS, last token, mean) and mean pooling otherwise ({@link #pooling()}). Needs a context created with
     * {@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}; use
     * {@link ContextOptions.Builder#kvUnified(boolean) kvUnified(true)} so that every sequence may use the whole
     * context.
     *
     * {@snippet :
     * try (LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).sequences(8).kvUnified(true).build())) {
     *     List<float[]> vectors = ctx.embed(List.of("first passage", "second passage"), true);
     * }
     * }
     *
     * @param normalize scale each vector to unit length (for cosine similarity)
     * @return one vector per text, in input order
     * @throws IllegalArgumentException if a text has no tokens or more than {@link #maxEmbeddingTokens()}
     * @throws IllegalStateException    if this is not an embeddings context, or its pooling is {@link Pooling#NONE}
     *                                  or {@link Pooling#RANK}
     */
    public List<float[]> embed(List<String> texts, boolean normalize) {
        Objects.requireNonNull(texts, "texts");
        requirePooling("embed", Pooling.MEAN, Pooling.CLS, Pooling.LAST);
        int[][] tokenized = new int[texts.size()][];
        for (int i = 0; i < tokenized.length; i++) {
            String text = Objects.requireNonNull(texts.get(i), "text");
            tokenized[i] = checkedInput(vocabulary.tokenize(text, true, false), texts.size() == 1 ? "text" : "text " + i);
        }
        return pooled(tokenized, outputWidth, normalize);
    }

    /**
     * Embeds inputs given as token ids (as OpenAI's {@code /v1/embeddings} accepts them), pooled as
     * {@link #embed(List, boolean)} pools texts; no BOS is added. Same requirements and limits as that method.
     *
     * @throws IllegalArgumentException if an input is empty, longer than {@link #maxEmbeddingTokens()}, or has a
     *                                  token id outside the vocabulary
     */
    public List<float[]> embedTokens(List<int[]> inputs, boolean normalize) {
        Objects.requireNonNull(inputs, "inputs");
        requirePooling("embedTokens", Pooling.MEAN, Pooling.CLS, Pooling.LAST);
        int[][] tokenized = new int[inputs.size()][];
        for (int i = 0; i < tokenized.length; i++) {
            int[] tokens = Objects.requireNonNull(inputs.get(i), "input").clone();
            vocabulary.checkTokens(tokens);
            tokenized[i] = checkedInput(tokens, inputs.size() == 1 ? "input" : "input " + i);
        }
        return pooled(tokenized, outputWidth, normalize);
    }

    /**
     * The per-token embeddings of a text: one vector (the model's last hidden state) per token of
     * {@code vocabulary().tokenize(text, true, false)}, in order. Needs an embeddings context with pooling
     * {@link Pooling#NONE} ({@link ContextOptions.Builder#pooling(Pooling) pooling(Pooling.NONE)}; without it a model
     * that names no pooling is mean-pooled), since a pooled context keeps only the pooled vector. The pooled vectors
     * of {@link #embed} are these vectors averaged ({@link Pooling#MEAN}), the first ({@link Pooling#CLS}) or the last
     * ({@link Pooling#LAST}).
     *
     * {@snippet :
     * try (LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).pooling(Pooling.NONE).build())) {
     *     List<float[]> perToken = ctx.tokenEmbeddings("late interaction", false);
     * }
     * }
     *
     * @param normalize scale each vector to unit length
     * @throws IllegalArgumentException if the text has no tokens or more than {@link #maxEmbeddingTokens()}
     * @throws IllegalStateException    if this is not an embeddings context with pooling {@link Pooling#NONE}
     */
    public List<float[]> tokenEmbeddings(String text, boolean normalize) {
        Objects.requireNonNull(text, "text");
        requirePooling("tokenEmbeddings", Pooling.NONE);
        return perToken(checkedInput(vocabulary.tokenize(text, true, false), "text"), normalize);
    }

    /**
     * As {@link #tokenEmbeddings(String, boolean)}, for an input given as token ids (no BOS added).
     *
     * @throws IllegalArgumentException if {@code tokens} is empty, longer than {@link #maxEmbeddingTokens()}, or has
     *                                  an id outside the vocabulary
     */
    public List<float[]> tokenEmbeddings(int[] tokens, boolean normalize) {
        Objects.requireNonNull(tokens, "tokens");
        requirePooling("tokenEmbeddings", Pooling.NONE);
        int[] copy = tokens.clone();
        vocabulary.checkTokens(copy);
        return perToken(checkedInput(copy, "input"), normalize);
    }

    private List<float[]> perToken(int[] tokens, boolean normalize) {
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            clearCache();
            batch.clearAbort();
            batch.clear();
            for (int i = 0; i < tokens.length; i++) {
                batch.add(tokens[i], i, 0, true);
            }
            try {
                batch.decode();
            } finally {
                Llama.llama_memory_clear(memory, true);
            }
            List<float[]> out = new ArrayList<>(tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                MemorySegment e = Llama.llama_get_embeddings_ith(ctx, i);
                if (e.equals(MemorySegment.NULL)) {
                    throw new LlamaException("llama.cpp produced no embedding for token " + i);
                }
                float[] v = e.reinterpret((long) outputWidth * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
                out.add(normalize ? normalized(v) : v);
            }
            return out;
        }
    }

    /**
     * Scores documents against a query with a reranker GGUF (pooling {@link Pooling#RANK}: bge-reranker,
     * jina-reranker, Qwen3-Reranker, ...), several pairs per {@code llama_decode} as {@link #embed} batches texts.
     * Each pair is laid out as llama-server lays it out: the model's own rerank prompt
     * ({@code tokenizer.chat_template.rerank}, with {@code {query}} and {@code {document}} substituted) when its file
     * has one, else {@code [BOS]query[EOS][SEP]document[EOS]} with the special tokens its vocabulary adds. Needs a
     * context created with {@link ContextOptions.Builder#embeddings(boolean) embeddings(true)}.
     *
     * {@snippet :
     * try (LlamaModel reranker = LlamaModel.load(Path.of("bge-reranker-v2-m3-Q8_0.gguf"));
     *      LlamaContext ctx = reranker.newContext(ContextOptions.builder().embeddings(true).sequences(4).kvUnified(true).build())) {
     *     List<RerankScore> scores = ctx.rerank("What is a panda?", List.of("hi", "The giant panda is a bear native to China."));
     *     // scores.get(1).score() > scores.get(0).score()
     * }
     * }
     *
     * @return one score per document, in input order ({@link RerankScore#index()} is the position)
     * @throws IllegalArgumentException if the query or a document is empty, there are no documents, or a pair has
     *                                  more than {@link #maxEmbeddingTokens()} tokens
     * @throws IllegalStateException    if this is not an embeddings context, or the model is not a reranker (its
     *                                  pooling is not {@link Pooling#RANK})
     */
    public List<RerankScore> rerank(String query, List<String> documents) {
        Objects.requireNonNull(query, "query");
        Objects.requireNonNull(documents, "documents");
        requirePooling("rerank", Pooling.RANK);
        if (query.isEmpty()) {
            throw new IllegalArgumentException("query is empty");
        }
        if (documents.isEmpty()) {
            throw new IllegalArgumentException("no documents to rerank");
        }
        RerankPrompt prompt = rerankPrompt();
        int[][] tokenized = new int[documents.size()][];
        for (int i = 0; i < tokenized.length; i++) {
            String doc = Objects.requireNonNull(documents.get(i), "document");
            if (doc.isEmpty()) {
                throw new IllegalArgumentException("document " + i + " is empty");
            }
            tokenized[i] = checkedInput(prompt.tokens(query, doc), "query with document " + i);
        }
        List<float[]> outputs = pooled(tokenized, Math.max(1, Llama.llama_model_n_cls_out(model.segment())), false);
        List<RerankScore> scores = new ArrayList<>(outputs.size());
        for (int i = 0; i < outputs.size(); i++) {
            scores.add(new RerankScore(i, outputs.get(i)[0], tokenized[i].length));
        }
        return scores;
    }

    /**
     * The tokens {@link #rerank} decodes for one query/document pair (the model's rerank prompt included), for
     * counting and inspection.
     *
     * @throws IllegalStateException if this context's pooling is not {@link Pooling#RANK}
     */
    public int[] rerankTokens(String query, String document) {
        Objects.requireNonNull(query, "query");
        Objects.requireNonNull(document, "document");
        requirePooling("rerankTokens", Pooling.RANK);
        return rerankPrompt().tokens(query, document);
    }

    private RerankPrompt rerankPrompt() {
        RerankPrompt p = rerankPrompt;
        if (p == null) {
            p = RerankPrompt.of(model, vocabulary);
            rerankPrompt = p;
        }
        return p;
    }

    /**
     * Most tokens one input of {@link #embed}, {@link #embedTokens}, {@link #tokenEmbeddings} or {@link #rerank} may
     * have: the micro-batch size (a pooled input must lie within one micro-batch, and llama.cpp requires the whole
     * input there for non-causal models), capped at the batch size and a sequence's share of the context.
     */
    public int maxEmbeddingTokens() {
        handle.ensureOpen();
        return Math.min(decodeCapacity(), sequenceContextSize);
    }

    /** Tokens one embeddings decode may carry: one micro-batch, within the batch and the context. */
    private int decodeCapacity() {
        return Math.min(Math.min(batch.capacity(), settings.microBatchSize()), settings.contextSize());
    }

    private void requirePooling(String call, Pooling... allowed) {
        handle.ensureOpen();
        if (!options.embeddings()) {
            throw new IllegalStateException(call + " needs a context created with ContextOptions.embeddings(true)");
        }
        if (Arrays.asList(allowed).contains(pooling)) {
            return;
        }
        String hint = switch (pooling) {
            case NONE -> "; for one vector per token use tokenEmbeddings, for one per text create the context with "
                    + "ContextOptions.pooling(Pooling.MEAN)";
            case RANK -> "; the model " + model.path().getFileName() + " is a reranker: use rerank(query, documents)";
            default -> allowed[0] == Pooling.RANK
                    ? "; the model " + model.path().getFileName() + " is not a reranker (a reranker GGUF names "
                            + "pooling type 4, rank, and has a classification head)"
                    : "";
        };
        throw new IllegalStateException(call + " needs pooling " + (allowed.length == 1 ? allowed[0]
                : Arrays.toString(allowed)) + ", but this context pools with " + pooling + hint);
    }

    /** {@code tokens}, after checking it is not empty and fits one embeddings decode. */
    private int[] checkedInput(int[] tokens, String which) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException(which + " has no tokens");
        }
        int max = Math.min(decodeCapacity(), sequenceContextSize);
        if (tokens.length > max) {
            throw new IllegalArgumentException(which + " has " + tokens.length + " tokens; this context embeds at most "
                    + max + " (its micro-batch size " + settings.microBatchSize() + ", batch size " + batch.capacity()
                    + ", context per sequence " + sequenceContextSize + "; raise ContextOptions.microBatchSize and batchSize)");
        }
        return tokens;
    }

    /**
     * Decodes each token array as its own sequence, several per decode (within one micro-batch, so that llama.cpp
     * pools every input whole), and returns each sequence's pooled output of {@code width} floats, in input order.
     */
    private List<float[]> pooled(int[][] tokenized, int width, boolean normalize) {
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            clearCache();
            batch.clearAbort();
            List<float[]> out = new ArrayList<>(tokenized.length);
            int capacity = decodeCapacity();
            int next = 0;
            while (next < tokenized.length) {
                int first = next;
                batch.clear();
                int used = 0;
                while (next < tokenized.length && next - first < options.sequences()
                        && used + tokenized[next].length <= capacity) {
                    int[] tokens = tokenized[next];
                    for (int i = 0; i < tokens.length; i++) {
                        batch.add(tokens[i], i, next - first, true);
                    }
                    used += tokens.length;
                    next++;
                }
                try {
                    batch.decode();
                } finally {
                    Llama.llama_memory_clear(memory, true);
                }
                for (int seq = 0; seq < next - first; seq++) {
                    MemorySegment e = Llama.llama_get_embeddings_seq(ctx, seq);
                    if (e.equals(MemorySegment.NULL)) {
                        throw new LlamaException("llama.cpp produced no embeddings");
                    }
                    float[] v = e.reinterpret((long) width * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
                    out.add(normalize ? normalized(v) : v);
                }
            }
            return out;
        }
    }

    private static float[] normalized(float[] v) {
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
        return v;
    }

    // --- state ----------------------------------------------------------------------------------------------

    /** The whole context state (KV cache, tokens of sequence 0) as bytes, for {@link #loadState(byte[])}. */
    public byte[] saveState() {
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            endActive();
            long size = Llama.llama_state_get_size(ctx);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(Math.max(1, size));
                long written = Llama.llama_state_get_data(ctx, buf, size);
                return pack(STATE_MAGIC, history.toArray(), buf.asSlice(0, written));
            }
        }
    }

    /** Our state format: magic, token count, sequence 0's tokens, then llama.cpp's bytes. */
    private static byte[] pack(int magic, int[] tokens, MemorySegment nativeState) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + 4L * tokens.length + nativeState.byteSize()))
                .order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(magic).putInt(tokens.length);
        for (int t : tokens) {
            out.putInt(t);
        }
        out.put(nativeState.asByteBuffer());
        return out.array();
    }

    /** Reads and checks {@link #pack}'s header and tokens; the native bytes start at the buffer's position. */
    private int[] unpackTokens(int magic, ByteBuffer in, String what) {
        if (in.remaining() < 8 || in.getInt() != magic) {
            throw new IllegalArgumentException("not a llama-ffm " + what + " (bad header)");
        }
        int n = in.getInt();
        if (n < 0 || n > sequenceContextSize || in.remaining() < 4L * n) {
            throw new IllegalArgumentException("corrupt " + what + ": " + n + " tokens for a context of "
                    + sequenceContextSize);
        }
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = in.getInt();
        }
        vocabulary.checkTokens(tokens);
        return tokens;
    }

    /** Restores a state from {@link #saveState()} of a context of the same model and options. */
    public void loadState(byte[] state) {
        Objects.requireNonNull(state, "state");
        try (var claim = claims.claim()) {
            ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
            int[] tokens = unpackTokens(STATE_MAGIC, in, "context state");
            int n = tokens.length;
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int rest = state.length - in.position();
                MemorySegment buf = a.allocate(Math.max(1, rest));
                MemorySegment.copy(state, in.position(), buf, ValueLayout.JAVA_BYTE, 0, rest);
                long read = Llama.llama_state_set_data(ctx, buf, rest);
                if (read == 0) {
                    history.truncate(0);
                    throw new LlamaException("llama.cpp rejected the state (different model or context options?)"
                            + NativeRuntime.lastErrorSuffix());
                }
            }
            history.replace(tokens, n);
        }
    }

    /** Saves the state to a file ({@code llama_state_save_file}, with the tokens of sequence 0). */
    public void saveState(Path file) {
        Objects.requireNonNull(file, "file");
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int[] saved = history.toArray();
                MemorySegment tokens = a.allocateFrom(ValueLayout.JAVA_INT, saved);
                if (!Llama.llama_state_save_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), tokens, saved.length)) {
                    throw new LlamaException("could not save state to " + file + NativeRuntime.lastErrorSuffix());
                }
            }
        }
    }

    /** Loads a state saved by {@link #saveState(Path)}. */
    public void loadState(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("state file does not exist: " + file.toAbsolutePath());
        }
        try (var claim = claims.claim()) {
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int capacity = settings.contextSize();
                MemorySegment tokens = a.allocate(ValueLayout.JAVA_INT, capacity);
                MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
                if (!Llama.llama_state_load_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), tokens, capacity, count)) {
                    history.truncate(0);
                    throw new LlamaException("could not load state from " + file + NativeRuntime.lastErrorSuffix());
                }
                int n = (int) count.get(ValueLayout.JAVA_LONG, 0);
                history.replace(tokens.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT), n);
            }
        }
    }

    // --- one sequence's state ------------------------------------------------------------------------------

    /**
     * One sequence's KV cells as bytes ({@code llama_state_seq_get_data}; for sequence 0 with its tokens, so prefix
     * reuse continues after {@link #loadSequenceState(int, byte[])}). Smaller than {@link #saveState()} when the
     * context holds several sequences.
     *
     * @throws IllegalArgumentException if {@code seq} is not a sequence of this context
     */
    public byte[] saveSequenceState(int seq) {
        try (var claim = claims.claim()) {
            checkSequence(seq);
            ensureNoScheduler();
            endActive();
            long size = Llama.llama_state_seq_get_size(ctx, seq);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(Math.max(1, size));
                long written = Llama.llama_state_seq_get_data(ctx, buf, size, seq);
                if (written == 0 && size > 0) {
                    throw new LlamaException("llama.cpp could not save sequence " + seq + NativeRuntime.lastErrorSuffix());
                }
                return pack(SEQUENCE_STATE_MAGIC, seq == 0 ? history.toArray() : new int[0], buf.asSlice(0, written));
            }
        }
    }

    /**
     * Replaces sequence {@code seq}'s cells with a state from {@link #saveSequenceState(int)} (of any sequence of a
     * context of the same model and cache types); the other sequences are untouched.
     *
     * @throws IllegalArgumentException if the bytes are not a sequence state
     * @throws LlamaException           if llama.cpp rejects them (different model, or no room)
     */
    public void loadSequenceState(int seq, byte[] state) {
        Objects.requireNonNull(state, "state");
        try (var claim = claims.claim()) {
            checkSequence(seq);
            ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
            int[] tokens = unpackTokens(SEQUENCE_STATE_MAGIC, in, "sequence state");
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int rest = in.remaining();
                MemorySegment buf = a.allocate(Math.max(1, rest));
                MemorySegment.copy(state, in.position(), buf, ValueLayout.JAVA_BYTE, 0, rest);
                if (seq == 0) {
                    history.truncate(0);
                }
                if (Llama.llama_state_seq_set_data(ctx, buf, rest, seq) == 0) {
                    throw new LlamaException("llama.cpp rejected the sequence state (different model or cache types?)"
                            + NativeRuntime.lastErrorSuffix());
                }
            }
            if (seq == 0) {
                history.replace(tokens, tokens.length);
            }
        }
    }

    /** Saves one sequence's state to a file ({@code llama_state_seq_save_file}, with sequence 0's tokens). */
    public void saveSequenceState(int seq, Path file) {
        Objects.requireNonNull(file, "file");
        try (var claim = claims.claim()) {
            checkSequence(seq);
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int[] saved = seq == 0 ? history.toArray() : new int[0];
                MemorySegment tokens = a.allocateFrom(ValueLayout.JAVA_INT, saved);
                if (Llama.llama_state_seq_save_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), seq, tokens,
                        saved.length) == 0) {
                    throw new LlamaException("could not save sequence " + seq + " to " + file
                            + NativeRuntime.lastErrorSuffix());
                }
            }
        }
    }

    /** Loads a file from {@link #saveSequenceState(int, Path)} into sequence {@code seq}. */
    public void loadSequenceState(int seq, Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("state file does not exist: " + file.toAbsolutePath());
        }
        try (var claim = claims.claim()) {
            checkSequence(seq);
            ensureNoScheduler();
            endActive();
            try (Arena a = Arena.ofConfined()) {
                int capacity = settings.contextSize();
                MemorySegment tokens = a.allocate(ValueLayout.JAVA_INT, capacity);
                MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
                if (seq == 0) {
                    history.truncate(0);
                }
                if (Llama.llama_state_seq_load_file(ctx, a.allocateFrom(file.toAbsolutePath().toString()), seq, tokens,
                        capacity, count) == 0) {
                    throw new LlamaException("could not load a sequence state from " + file
                            + NativeRuntime.lastErrorSuffix());
                }
                if (seq == 0) {
                    int n = (int) count.get(ValueLayout.JAVA_LONG, 0);
                    history.replace(tokens.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT), n);
                }
            }
        }
    }

    private void checkSequence(int seq) {
        if (seq < 0 || seq >= settings.sequences()) {
            throw new IllegalArgumentException("sequence id " + seq + " out of range [0, " + settings.sequences() + ")");
        }
    }

    /** The native context (package-private: checks in this package's tests read llama.cpp's state through it). */
    MemorySegment segment() {
        handle.ensureOpen();
        return ctx;
    }

    /**
     * Refuses a context whose KV cache cannot fit in the memory of all this machine's devices together (host RAM,
     * GPUs, RPC servers), before llama.cpp tries: a huge {@code contextSize} otherwise costs minutes of allocation
     * and ends in {@code std::bad_alloc}. Counts only what is certain for a plain transformer (every layer caches K
     * and V for every cell, at the chosen element types); sliding-window, recurrent, hybrid and latent-attention (MLA)
     * models cache less and are left to llama.cpp.
     */
    private static void checkKvCacheFits(LlamaModel model, ModelInfo info, ContextOptions options, int contextSize) {
        Map<String, String> meta = info.metadata();
        String arch = info.architecture();
        if (info.slidingWindow() > 0 || info.layers() <= 0 || info.heads() <= 0 || info.kvHeads() <= 0
                || meta.containsKey(arch + ".attention.kv_lora_rank")
                || Llama.llama_model_is_recurrent(model.segment()) || Llama.llama_model_is_hybrid(model.segment())) {
            return;
        }
        long headK = metadataLong(meta, arch + ".attention.key_length", info.embeddingSize() / info.heads());
        long headV = metadataLong(meta, arch + ".attention.value_length", info.embeddingSize() / info.heads());
        double perLayer = (double) options.keyType().bytes(headK * info.kvHeads()) * contextSize
                + (double) options.valueType().bytes(headV * info.kvHeads()) * contextSize;
        double needed = perLayer * info.layers();
        long available = 0;
        for (BackendDevice d : LlamaRuntime.devices()) {
            available += Math.max(0, d.totalBytes());
        }
        if (available > 0 && needed > available) {
            throw new ContextCreationException(String.format(java.util.Locale.ROOT,
                    "a context of %d tokens needs at least %.1f GiB of KV cache (%d layers x %d KV heads x %d+%d "
                            + "values per token as %s/%s), more than the %.1f GiB of memory of all devices together; "
                            + "use a smaller contextSize (the model was trained with %d) or smaller keyType/valueType",
                    contextSize, needed / (1L << 30), info.layers(), info.kvHeads(), headK, headV, options.keyType(),
                    options.valueType(), available / (double) (1L << 30), info.trainingContext()));
        }
    }

    private static long metadataLong(Map<String, String> meta, String key, long fallback) {
        String v = meta.get(key);
        if (v != null) {
            try {
                return Long.parseLong(v.strip());
            } catch (NumberFormatException ignored) {
                // not a number as llama.cpp rendered it: use the fallback
            }
        }
        return fallback;
    }

    /**
     * Bytes of KV cache (and recurrent state) buffers llama.cpp allocated for this context, over the host and every
     * device ({@code llama_get_memory_breakdown}'s context share); -1 where the natives lack the chat glue (Windows for
     * now). With a sliding-window model and {@code swaFull(false)} this is the rolling buffer, not the full context.
     */
    public long kvCacheBytes() {
        handle.ensureOpen();
        return settings.kvCacheBytes();
    }

    /** Size in bytes of the full state as llama.cpp reports it ({@code llama_state_get_size}). */
    public long stateSize() {
        try (var claim = claims.claim()) {
            return Llama.llama_state_get_size(ctx);
        }
    }

    // --- info -------------------------------------------------------------------------------------------------

    /** Actual context size in tokens (all sequences); see {@link #settings()} for every effective value. */
    public int contextSize() {
        handle.ensureOpen();
        return settings.contextSize();
    }

    /**
     * The values this context runs with: sizes, sequences, batch, threads and KV cache memory as llama.cpp reports
     * them, with every unset {@link ContextOptions} value resolved.
     */
    public ContextSettings settings() {
        handle.ensureOpen();
        return settings;
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

    private void endActive() {
        if (active != null) {
            active.end(FinishReason.CANCELLED);
            active = null;
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /**
     * Ends an unfinished generation and an open scheduler, frees the KV cache and releases the model. Idempotent.
     * A context that is never closed is freed by a cleaner once unreachable (with a logged warning).
     *
     * @throws IllegalStateException if another thread is using the context
     */
    @Override
    public void close() {
        if (handle.isClosed()) {
            return;
        }
        // Closing takes the context like any other call, so no other thread can enter between the check and the
        // free; the claim is never released: afterwards every call fails on the closed handle.
        claims.claimForClose();
        endActive();
        if (scheduler != null) {
            scheduler.close();
        }
        handle.close();
    }

    /** The model's tokenizer, usable as long as this context is open (even after the model is closed). */
    public Vocabulary vocabulary() {
        handle.ensureOpen();
        return vocabulary;
    }
}
