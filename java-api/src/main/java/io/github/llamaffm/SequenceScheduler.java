package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeBatch;
import io.github.llamaffm.internal.ThreadClaim;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Continuous batching over a context's parallel sequences: up to {@link ContextOptions#sequences()} prompts generate
 * at once, and each {@link #step()} runs <em>one</em> {@code llama_decode} for all of them: the next chunk of every
 * new prompt plus one token of every generating sequence. Each sequence samples with its own sampler chain (its own
 * {@link GenerateOptions}), releases text exactly as {@link Generation} does (UTF-8 and stop strings held back across
 * tokens; both run the same per-sequence engine), and ends on end-of-generation, {@link GenerateOptions#maxTokens()}, a
 * stop string, a full sequence (unless the context shifts: {@link ContextOverflow#SHIFT}), {@link Sequence#cancel()},
 * or an error. A finished sequence frees its id at once for the next prompt.
 *
 * {@snippet :
 * try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(4).contextSize(8192).build());
 *      SequenceScheduler scheduler = ctx.newScheduler()) {
 *     for (String prompt : List.of("Once upon a time", "The capital of France")) {
 *         scheduler.submit(prompt, GenerateOptions.builder().maxTokens(32).build(),
 *                 (sequence, token) -> System.out.println(sequence.id() + ": " + token.text()));
 *     }
 *     while (scheduler.step()) {
 *         // one decode for every active sequence per step; submit more prompts here as they arrive
 *     }
 * }
 * }
 *
 * <p><b>Threading:</b> like its context, a scheduler is driven by one thread at a time ({@link #submit},
 * {@link #step()}, {@link #close()}; enforced); listeners run on that thread, inside {@code step()}. Only
 * {@link Sequence#cancel()} may be called from any thread; the sequence ends and frees its cells at the start of the
 * next step. {@link LlamaContext#cancel()} aborts the running step and cancels every active sequence. The scheduler
 * starts no thread of its own.
 *
 * <p><b>KV cache:</b> the context's cache is split into {@link #sequenceContextSize()} cells per sequence (llama.cpp's
 * {@code n_ctx_seq}: the context size divided by the number of sequences unless the cache is unified). Opening a
 * scheduler empties the cache; while it is open the context's own generation methods are refused.
 *
 * <p><b>Prompt cache:</b> a finished sequence keeps its tokens in its cells. A new prompt goes to the free sequence
 * whose cells hold the longest common prefix with it (as llama-server's slot selection does; without any common
 * prefix, to the free sequence used least recently) and decodes only the rest, so a chat that re-sends its history
 * decodes only the new turn; {@link GenerationResult#cachedPromptTokens()} shows how many were reused. With
 * {@link ContextOptions#kvUnified()} the sequences share one pool of cells, and a finished sequence frees its cells
 * instead (no prompt cache).
 *
 * <p><b>Timings</b> in a sequence's {@link GenerationResult} are wall-clock: {@code promptMillis} from
 * {@link #submit} to its first sampled token (waiting for other sequences' work included), {@code generationMillis}
 * from then to its end.
 */
public final class SequenceScheduler implements AutoCloseable {

    /** Receives a sequence's tokens and its end; called on the thread running {@link #step()}. */
    @FunctionalInterface
    public interface Listener {
        /**
         * A sampled token and the text released with it (see {@link Token#text()}). A listener that throws ends its
         * sequence ({@link FinishReason#ERROR}, the exception in {@link Sequence#failure()}); the others go on.
         */
        void onToken(Sequence sequence, Token token);

        /** The sequence has ended and its cells are free. Called once. Does nothing by default. */
        default void onFinish(Sequence sequence, GenerationResult result) {
        }
    }

    /** One submitted prompt and its generation: a handle to cancel it and read its outcome. */
    public final class Sequence {
        private final SequenceEngine engine;
        private final Listener listener;
        private volatile boolean cancelRequested;
        private volatile GenerationResult result;
        private volatile Throwable failure;

        private Sequence(SequenceEngine engine, Listener listener) {
            this.engine = engine;
            this.listener = listener;
        }

        /** The KV cache sequence id it runs in, {@code 0 .. sequences-1}; reused by later prompts once this ends. */
        public int id() {
            return engine.sequence();
        }

        /** Number of prompt tokens. */
        public int promptTokens() {
            return engine.promptTokens();
        }

        /** The options it was submitted with. */
        public GenerateOptions options() {
            return engine.options();
        }

        /**
         * Asks the scheduler to end this sequence ({@link FinishReason#CANCELLED}); callable from any thread. It ends
         * and frees its cells at the start of the next {@link #step()} (a running decode is not interrupted: other
         * sequences share it).
         */
        public void cancel() {
            cancelRequested = true;
        }

        /** Whether {@link #cancel()} was called. */
        public boolean isCancelRequested() {
            return cancelRequested;
        }

        /** Whether it has ended (its cells are free). */
        public boolean isFinished() {
            return result != null;
        }

        /** The summary once ended. */
        public Optional<GenerationResult> result() {
            return Optional.ofNullable(result);
        }

        /**
         * Why it ended with {@link FinishReason#ERROR}, if it did: a failed decode ({@link DecodeException}), a
         * failing sampler, or an exception thrown by its listener.
         */
        public Optional<Throwable> failure() {
            return Optional.ofNullable(failure);
        }

        @Override
        public String toString() {
            GenerationResult r = result;
            return "Sequence[id=" + id() + ", promptTokens=" + promptTokens()
                    + (r != null ? ", generated=" + r.generatedTokens() + ", finished=" + r.finishReason()
                            : cancelRequested ? ", cancelling" : "")
                    + "]";
        }
    }

    /** Part of one step's batch: a prompt chunk of {@code count} tokens, or ({@code count == 0}) the pending token. */
    private record Slice(Sequence sequence, int count) {}

    private final LlamaContext context;
    private final ThreadClaim claims;
    private final NativeBatch batch;
    private final MemorySegment memory;
    private final Vocabulary vocabulary;
    private final int sequenceContextSize;
    /** Sequence by id; null = free. */
    private final Sequence[] slots;
    /** The tokens in each sequence's cells (kept after it ends: the prompt cache). */
    private final TokenHistory[] histories;
    /** When each sequence id was last taken (a counter), for least-recently-used choice. */
    private final long[] lastUsed;
    private long submissions;
    private final SequenceEngine.Shift shift;
    /** Whether finished sequences keep their cells for the prompt cache (false: they free them). */
    private final boolean keepCells;
    /** Whether eligible sequences sample inside the decode graph ({@link ContextSettings#backendSampling()}). */
    private final boolean backendSampling;
    /** The context's resolution of a generation's LoRA adapters ({@link GenerateOptions#loras()}), and its setter. */
    private final java.util.function.UnaryOperator<GenerateOptions> resolveAdapters;
    private final java.util.function.Consumer<java.util.Map<LoraAdapter, Float>> applyAdapters;
    /** Active sequences in submission order. */
    private final List<Sequence> active = new ArrayList<>();
    private int rotation;
    /** The LoRA adapter set of the step being planned ({@link #plan()}). */
    private java.util.Map<LoraAdapter, Float> adapterSet;
    private long adapterTurn;
    private long decodeCalls;
    private long decodedTokens;
    private boolean closed;

    SequenceScheduler(LlamaContext context, ThreadClaim claims, NativeBatch batch, MemorySegment memory, Vocabulary vocabulary,
                      int sequences, int sequenceContextSize, int rollingWindow, SequenceEngine.Shift shift,
                      boolean keepCells, boolean backendSampling,
                      java.util.function.UnaryOperator<GenerateOptions> resolveAdapters,
                      java.util.function.Consumer<java.util.Map<LoraAdapter, Float>> applyAdapters) {
        this.context = context;
        this.backendSampling = backendSampling;
        this.resolveAdapters = resolveAdapters;
        this.applyAdapters = applyAdapters;
        this.claims = claims;
        this.batch = batch;
        this.memory = memory;
        this.vocabulary = vocabulary;
        this.sequenceContextSize = sequenceContextSize;
        this.slots = new Sequence[sequences];
        this.histories = new TokenHistory[sequences];
        for (int i = 0; i < sequences; i++) {
            histories[i] = new TokenHistory(memory, i, rollingWindow);
        }
        this.lastUsed = new long[sequences];
        this.shift = shift;
        this.keepCells = keepCells;
    }

    // --- submitting -----------------------------------------------------------------------------------------

    /**
     * Adds a text prompt (tokenized with {@link GenerateOptions#addSpecial()} / {@link GenerateOptions#parseSpecial()}).
     * Nothing is decoded until the next {@link #step()}.
     *
     * @throws SequencesBusyException   if every sequence is busy
     * @throws IllegalArgumentException if the prompt is empty or does not fit a sequence with room for one token, or
     *                                  the sampler is invalid (e.g. a grammar that does not parse)
     */
    public Sequence submit(String prompt, GenerateOptions options, Listener listener) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(listener, "listener");
        try (var claim = claims.claim()) {
            ensureOpen();
            return add(vocabulary.tokenize(prompt, options.addSpecial(), options.parseSpecial()), options, listener);
        }
    }

    /** Adds prompt tokens (validated against the vocabulary); otherwise as {@link #submit(String, GenerateOptions, Listener)}. */
    public Sequence submit(int[] promptTokens, GenerateOptions options, Listener listener) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(listener, "listener");
        try (var claim = claims.claim()) {
            ensureOpen();
            vocabulary.checkTokens(promptTokens);
            return add(promptTokens.clone(), options, listener);
        }
    }

    private Sequence add(int[] tokens, GenerateOptions requested, Listener listener) {
        GenerateOptions options = resolveAdapters.apply(requested);
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prompt is empty (no tokens)");
        }
        if (tokens.length >= sequenceContextSize) {
            throw new IllegalArgumentException("prompt has " + tokens.length + " tokens but a sequence holds "
                    + sequenceContextSize + " (the context size divided by the number of sequences), including room "
                    + "for at least one generated token");
        }
        int id = freeSequenceFor(tokens, options.loras().orElseThrow());
        if (id < 0) {
            throw new SequencesBusyException(slots.length);
        }
        Drafter drafter = Drafter.of(options, context); // speculation samples on the host
        SequenceEngine engine = new SequenceEngine(id, vocabulary, tokens, options, sequenceContextSize, histories[id],
                shift, null, drafter == null && backendSampling ? batch.context() : null, drafter);
        engine.begin(); // keeps the common prefix in the sequence's cells, removes the rest
        lastUsed[id] = ++submissions;
        Sequence s = new Sequence(engine, listener);
        slots[id] = s;
        active.add(s);
        return s;
    }

    /**
     * The free sequence whose cells share the longest prefix with {@code prompt}; without any common prefix, the one
     * used least recently (so the others' caches live longer). -1 if none is free.
     */
    private int freeSequenceFor(int[] prompt, java.util.Map<LoraAdapter, Float> adapters) {
        int best = -1;
        int bestCommon = 0;
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] != null) {
                continue;
            }
            int common = histories[i].commonPrefix(prompt, adapters);
            if (best < 0 || common > bestCommon || (common == bestCommon && lastUsed[i] < lastUsed[best])) {
                best = i;
                bestCommon = common;
            }
        }
        return best;
    }

    // --- stepping -------------------------------------------------------------------------------------------

    /**
     * Runs one decode for every active sequence (new prompts' next chunk, one token per generating sequence), samples
     * each sequence whose logits are ready, and delivers its token to its listener. Cancelled sequences end first.
     *
     * @return whether work remains ({@link #hasWork()})
     * @throws DecodeException if llama.cpp failed the batch; the sequences in it have ended (their
     *                         {@link Sequence#failure()} holds the exception), the others are unaffected
     */
    public boolean step() {
        try (var claim = claims.claim()) {
            ensureOpen();
            if (batch.abortRequested()) { // LlamaContext.cancel() between steps
                batch.clearAbort();
                cancelAll();
                return !active.isEmpty();
            }
            for (Sequence s : active.toArray(Sequence[]::new)) {
                if (s.cancelRequested) {
                    end(s, FinishReason.CANCELLED);
                }
            }
            List<Slice> plan = plan();
            if (plan.isEmpty()) {
                return !active.isEmpty();
            }
            applyAdapters.accept(adapterSet);
            batch.clear();
            for (Slice slice : plan) {
                if (slice.count() > 0) {
                    slice.sequence().engine.queuePrompt(batch, slice.count());
                } else {
                    slice.sequence().engine.queuePendingToken(batch);
                }
            }
            decodeCalls++;
            try {
                batch.decode();
            } catch (DecodeException e) {
                failBatch(e, plan);
                return !active.isEmpty();
            }
            decodedTokens += batch.size();
            for (Slice slice : plan) {
                Sequence s = slice.sequence();
                if (s.engine.decoded() && !s.engine.isFinished()) {
                    try {
                        s.engine.sample(batch.context(), token -> s.listener.onToken(s, token));
                    } catch (RuntimeException e) {
                        s.engine.fail(e);
                    }
                    if (s.engine.isFinished()) {
                        release(s);
                    }
                }
            }
            return !active.isEmpty();
        }
    }

    /**
     * What goes into this step's batch, ordered by sequence id (llama.cpp splits a batch of several sequences into
     * micro-batches of consecutive ids): first one token per generating sequence, then prompt chunks in submission
     * order up to the batch size. Sequences with no cell left for their next token end here.
     */
    private List<Slice> plan() {
        List<Slice> plan = new ArrayList<>();
        int budget = batch.capacity();
        // One LoRA adapter set per decode (llama.cpp applies adapters per context, as llama-server batches): the set
        // of the sequence whose turn it is; sequences with another set wait for a later step.
        adapterSet = null;
        List<Sequence> generating = new ArrayList<>();
        for (Sequence s : active) {
            if (s.engine.hasPendingToken()) {
                generating.add(s);
            }
        }
        // Round robin over the sequences with work, so no adapter set waits forever behind another.
        int withWork = 0;
        for (Sequence s : active) {
            if (s.engine.hasPendingToken() || s.engine.promptRemaining() > 0) {
                withWork++;
            }
        }
        if (withWork > 0) {
            long turn = adapterTurn++ % withWork;
            for (Sequence s : active) {
                if ((s.engine.hasPendingToken() || s.engine.promptRemaining() > 0) && turn-- == 0) {
                    adapterSet = s.engine.adapters();
                    break;
                }
            }
        }
        final java.util.Map<LoraAdapter, Float> set = adapterSet;
        generating.removeIf(s -> !s.engine.adapters().equals(set));
        int g = generating.size();
        for (int k = 0; k < g; k++) {
            // Rotate the start so that no sequence waits forever when the batch is smaller than the sequence count.
            Sequence s = generating.get((k + rotation) % g);
            if (s.engine.isFull()) {
                if (!s.engine.shiftContext()) {
                    try {
                        s.engine.finishWithHeldText(FinishReason.CONTEXT_FULL, token -> s.listener.onToken(s, token));
                    } catch (RuntimeException e) {
                        s.engine.fail(e);
                    }
                    release(s);
                    continue;
                }
                if (s.engine.promptRemaining() > 0) {
                    continue; // a shift that decodes the kept tokens again: queued like a prompt below
                }
            }
            if (budget == 0) {
                break;
            }
            plan.add(new Slice(s, 0));
            budget -= s.engine.prepareDraft(budget); // the pending token and any speculative guesses
        }
        rotation = g == 0 ? 0 : (rotation + 1) % g;
        for (Sequence s : active) {
            if (budget == 0) {
                break;
            }
            if (!s.engine.adapters().equals(set)) {
                continue;
            }
            int remaining = s.engine.promptRemaining();
            if (remaining > 0) {
                int count = Math.min(budget, remaining);
                plan.add(new Slice(s, count));
                budget -= count;
            }
        }
        plan.sort(Comparator.comparingInt(slice -> slice.sequence().id()));
        return plan;
    }

    /** Ends a sequence on request (once): see {@link #release}. */
    private void end(Sequence s, FinishReason reason) {
        s.engine.finish(reason);
        release(s);
    }

    /**
     * After its engine finished: frees the sequence's id (its cells keep their tokens for the prompt cache, unless
     * it failed or the cache is unified), then tells its listener.
     */
    private void release(Sequence s) {
        if (s.result != null) {
            return;
        }
        if (!keepCells || s.engine.failure() != null) {
            histories[s.id()].clear();
        }
        slots[s.id()] = null;
        active.remove(s);
        s.failure = s.engine.failure();
        s.result = s.engine.result();
        try {
            s.listener.onFinish(s, s.result);
        } catch (RuntimeException e) {
            if (s.failure == null) {
                s.failure = e;
            }
        }
    }

    private void failBatch(DecodeException e, List<Slice> plan) {
        for (Slice slice : plan) {
            slice.sequence().engine.decodeFailed();
        }
        if (e.status() == NativeBatch.ABORTED) { // aborted through LlamaContext.cancel(): cancels everything
            batch.clearAbort();
            cancelAll();
            return;
        }
        for (Slice slice : plan) {
            Sequence s = slice.sequence();
            s.engine.fail(e);
            release(s);
        }
        throw e;
    }

    private void cancelAll() {
        for (Sequence s : active.toArray(Sequence[]::new)) {
            end(s, FinishReason.CANCELLED);
        }
    }

    // --- state ----------------------------------------------------------------------------------------------

    /** Whether any sequence is active (generating, with prompt tokens pending, or cancelled but not yet ended). */
    public boolean hasWork() {
        try (var claim = claims.claim()) {
            return !closed && !active.isEmpty();
        }
    }

    /** Number of active sequences. */
    public int activeSequences() {
        try (var claim = claims.claim()) {
            return active.size();
        }
    }

    /** Number of free sequence ids: how many prompts {@link #submit} accepts now. */
    public int freeSequences() {
        try (var claim = claims.claim()) {
            return closed ? 0 : slots.length - active.size();
        }
    }

    /** Number of sequences ({@link ContextOptions#sequences()}). */
    public int sequences() {
        return slots.length;
    }

    /** KV cells per sequence: the longest prompt plus generation one sequence can hold. */
    public int sequenceContextSize() {
        return sequenceContextSize;
    }

    /** Most tokens one step decodes (the context's batch size). */
    public int batchSize() {
        return batch.capacity();
    }

    /** {@code llama_decode} calls so far. */
    public long decodeCalls() {
        return decodeCalls;
    }

    /** Tokens decoded so far (prompt and generated, all sequences). */
    public long decodedTokens() {
        return decodedTokens;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Cancels every active sequence (listeners see {@link FinishReason#CANCELLED}), empties the KV cache and gives the
     * context back to its own generation methods. Idempotent. The scheduler owns no native memory of its own (it
     * decodes through its context's batch; each sequence's sampler chain has its own cleaner), so a scheduler that is
     * never closed holds nothing beyond its context.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try (var claim = claims.claim()) {
            if (closed) {
                return;
            }
            cancelAll();
            closed = true;
            Llama.llama_memory_clear(memory, true);
            for (TokenHistory h : histories) {
                h.truncate(0);
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("SequenceScheduler is closed");
        }
    }
}
