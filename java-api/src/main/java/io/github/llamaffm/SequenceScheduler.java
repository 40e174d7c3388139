package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_batch;
import io.github.llamaffm.internal.SamplerChain;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * tokens), and ends on end-of-generation, {@link GenerateOptions#maxTokens()}, a stop string, a full sequence, or
 * {@link Sequence#cancel()}. A finished sequence frees its KV cells at once, so its id serves the next prompt.
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
 * <p><b>Timings</b> in a sequence's {@link GenerationResult} are wall-clock: {@code promptMillis} from
 * {@link #submit} to its first sampled token (waiting for other sequences' work included), {@code generationMillis}
 * from then to its end. {@code cachedPromptTokens} is always 0 (no prefix reuse across sequences).
 */
public final class SequenceScheduler implements AutoCloseable {

    /** Receives a sequence's tokens and its end; called on the thread running {@link #step()}. */
    @FunctionalInterface
    public interface Listener {
        /**
         * A sampled token and the text released with it (see {@link Token#text()}). A listener that throws ends its
         * sequence ({@link FinishReason#CANCELLED}, the exception in {@link Sequence#failure()}); the others go on.
         */
        void onToken(Sequence sequence, Token token);

        /** The sequence has ended and its cells are free. Called once. Does nothing by default. */
        default void onFinish(Sequence sequence, GenerationResult result) {
        }
    }

    /** One submitted prompt and its generation: a handle to cancel it and read its outcome. */
    public final class Sequence {
        private final int id;
        private final int[] prompt;
        private final GenerateOptions options;
        private final Listener listener;
        private final SamplerChain sampler;
        private final TextHoldBack text;
        private final StringBuilder emitted = new StringBuilder();
        private final long submitNanos = System.nanoTime();
        private long firstTokenNanos;
        /** Prompt tokens decoded so far. */
        private int promptDecoded;
        /** Tokens of this sequence in the KV cache (the next position). */
        private int position;
        /** Sampled token not yet decoded, or -1 while the prompt is pending. */
        private int pendingToken = -1;
        private int generated;
        private volatile boolean cancelRequested;
        private volatile GenerationResult result;
        private volatile Throwable failure;

        private Sequence(int id, int[] prompt, GenerateOptions options, Listener listener, SamplerChain sampler) {
            this.id = id;
            this.prompt = prompt;
            this.options = options;
            this.listener = listener;
            this.sampler = sampler;
            this.text = new TextHoldBack(options.stopStrings());
        }

        /** The KV cache sequence id it runs in, {@code 0 .. sequences-1}; reused by later prompts once this ends. */
        public int id() {
            return id;
        }

        /** Number of prompt tokens. */
        public int promptTokens() {
            return prompt.length;
        }

        /** The options it was submitted with. */
        public GenerateOptions options() {
            return options;
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
         * Why it was ended abnormally, if so: a failed decode ({@link DecodeException}), a failing sampler, or an
         * exception thrown by its listener. Such a sequence ends with {@link FinishReason#CANCELLED}.
         */
        public Optional<Throwable> failure() {
            return Optional.ofNullable(failure);
        }

        @Override
        public String toString() {
            return "Sequence[id=" + id + ", promptTokens=" + prompt.length + ", generated=" + generated
                    + (result != null ? ", finished=" + result.finishReason() : cancelRequested ? ", cancelling" : "")
                    + "]";
        }
    }

    /** Part of one step's batch: {@code count} tokens of one sequence, from batch entry {@code start}. */
    private record Slice(Sequence sequence, boolean prompt, int count, int start) {}

    private final LlamaContext context;
    private final Vocabulary vocabulary;
    private final MemorySegment ctx;
    private final MemorySegment memory;
    private final int sequenceContextSize;
    private final int batchCapacity;
    private final Arena arena;
    private final MemorySegment batch;
    private final MemorySegment batchTokens;
    private final MemorySegment batchPositions;
    private final MemorySegment batchOutputs;
    private final MemorySegment[] batchSeqId;
    /** Sequence by id; null = free. */
    private final Sequence[] slots;
    /** Active sequences in submission order. */
    private final List<Sequence> active = new ArrayList<>();
    private int rotation;
    private long decodeCalls;
    private long decodedTokens;
    private boolean closed;

    SequenceScheduler(LlamaContext context, int sequenceContextSize) {
        this.context = context;
        this.vocabulary = context.vocabulary();
        this.ctx = context.segment();
        this.memory = context.memorySegment();
        this.sequenceContextSize = sequenceContextSize;
        this.slots = new Sequence[context.options().sequences()];
        this.batchCapacity = Llama.llama_n_batch(ctx);
        Arena a = Arena.ofShared();
        try {
            this.batch = Llama.llama_batch_init(a, batchCapacity, 0, 1);
            this.batchTokens = llama_batch.token(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            this.batchPositions = llama_batch.pos(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            this.batchOutputs = llama_batch.logits(batch).reinterpret(batchCapacity);
            MemorySegment counts = llama_batch.n_seq_id(batch).reinterpret((long) batchCapacity * Integer.BYTES);
            MemorySegment ids = llama_batch.seq_id(batch).reinterpret((long) batchCapacity * ValueLayout.ADDRESS.byteSize());
            this.batchSeqId = new MemorySegment[batchCapacity];
            for (int i = 0; i < batchCapacity; i++) {
                counts.setAtIndex(ValueLayout.JAVA_INT, i, 1);
                batchSeqId[i] = ids.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(Integer.BYTES);
            }
        } catch (RuntimeException | Error e) {
            a.close();
            throw e;
        }
        this.arena = a;
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
        boolean entered = context.enter();
        try {
            ensureOpen();
            return add(vocabulary.tokenize(prompt, options.addSpecial(), options.parseSpecial()), options, listener);
        } finally {
            context.exit(entered);
        }
    }

    /** Adds prompt tokens (validated against the vocabulary); otherwise as {@link #submit(String, GenerateOptions, Listener)}. */
    public Sequence submit(int[] promptTokens, GenerateOptions options, Listener listener) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(listener, "listener");
        boolean entered = context.enter();
        try {
            ensureOpen();
            vocabulary.checkTokens(promptTokens);
            return add(promptTokens.clone(), options, listener);
        } finally {
            context.exit(entered);
        }
    }

    private Sequence add(int[] tokens, GenerateOptions options, Listener listener) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prompt is empty (no tokens)");
        }
        if (tokens.length >= sequenceContextSize) {
            throw new IllegalArgumentException("prompt has " + tokens.length + " tokens but a sequence holds "
                    + sequenceContextSize + " (the context size divided by the number of sequences), including room "
                    + "for at least one generated token");
        }
        int id = -1;
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] == null) {
                id = i;
                break;
            }
        }
        if (id < 0) {
            throw new SequencesBusyException(slots.length);
        }
        SamplerChain sampler = SamplerChain.create(options.sampler(), vocabulary.segment(), vocabulary.size());
        try {
            // As Generation does (and llama.cpp's common sampler): penalties and DRY also see the prompt.
            for (int t : tokens) {
                sampler.accept(t);
            }
        } catch (RuntimeException | Error e) {
            sampler.close();
            throw e;
        }
        Llama.llama_memory_seq_rm(memory, id, -1, -1); // already empty; cheap insurance
        Sequence s = new Sequence(id, tokens, options, listener, sampler);
        slots[id] = s;
        active.add(s);
        return s;
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
        boolean entered = context.enter();
        try {
            ensureOpen();
            if (context.abortRequested()) { // LlamaContext.cancel() between steps
                context.clearAbort();
                cancelAll();
                return !active.isEmpty();
            }
            for (Sequence s : active.toArray(Sequence[]::new)) {
                if (s.cancelRequested) {
                    finish(s, FinishReason.CANCELLED);
                }
            }
            List<Slice> plan = plan();
            if (plan.isEmpty()) {
                return !active.isEmpty();
            }
            int n = 0;
            List<Slice> slices = new ArrayList<>(plan.size());
            for (Slice p : plan) {
                Sequence s = p.sequence();
                for (int k = 0; k < p.count(); k++) {
                    int i = n + k;
                    boolean output;
                    if (p.prompt()) {
                        int index = s.promptDecoded + k;
                        batchTokens.setAtIndex(ValueLayout.JAVA_INT, i, s.prompt[index]);
                        output = index == s.prompt.length - 1;
                    } else {
                        batchTokens.setAtIndex(ValueLayout.JAVA_INT, i, s.pendingToken);
                        output = true;
                    }
                    batchPositions.setAtIndex(ValueLayout.JAVA_INT, i, s.position + k);
                    batchSeqId[i].set(ValueLayout.JAVA_INT, 0, s.id);
                    batchOutputs.set(ValueLayout.JAVA_BYTE, i, (byte) (output ? 1 : 0));
                }
                slices.add(new Slice(s, p.prompt(), p.count(), n));
                n += p.count();
            }
            llama_batch.n_tokens(batch, n);
            int status = context.decodeBatch(batch);
            decodeCalls++;
            if (status != 0) {
                failBatch(status, slices);
                return !active.isEmpty();
            }
            decodedTokens += n;
            for (Slice slice : slices) {
                Sequence s = slice.sequence();
                s.position += slice.count();
                if (slice.prompt()) {
                    s.promptDecoded += slice.count();
                    if (s.promptDecoded < s.prompt.length) {
                        continue; // more prompt chunks to come
                    }
                }
                if (!s.isFinished()) {
                    sampleAndEmit(s, slice.start() + slice.count() - 1);
                }
            }
            return !active.isEmpty();
        } finally {
            context.exit(entered);
        }
    }

    /**
     * What goes into this step's batch, ordered by sequence id (llama.cpp splits a batch of several sequences into
     * micro-batches of consecutive ids): first one token per generating sequence, then prompt chunks in submission
     * order up to the batch size.
     */
    private List<Slice> plan() {
        List<Slice> plan = new ArrayList<>();
        int budget = batchCapacity;
        List<Sequence> generating = new ArrayList<>();
        for (Sequence s : active) {
            if (s.pendingToken >= 0) {
                generating.add(s);
            }
        }
        int g = generating.size();
        for (int k = 0; k < g; k++) {
            // Rotate the start so that no sequence waits forever when the batch is smaller than the sequence count.
            Sequence s = generating.get((k + rotation) % g);
            if (s.position >= sequenceContextSize) {
                finishWithHeldText(s, FinishReason.CONTEXT_FULL, s.pendingToken);
                continue;
            }
            if (budget == 0) {
                break;
            }
            plan.add(new Slice(s, false, 1, 0));
            budget--;
        }
        rotation = g == 0 ? 0 : (rotation + 1) % g;
        for (Sequence s : active) {
            if (budget == 0) {
                break;
            }
            if (s.pendingToken < 0 && s.promptDecoded < s.prompt.length) {
                int count = Math.min(budget, s.prompt.length - s.promptDecoded);
                plan.add(new Slice(s, true, count, 0));
                budget -= count;
            }
        }
        plan.sort(Comparator.comparingInt(slice -> slice.sequence().id));
        return plan;
    }

    private void sampleAndEmit(Sequence s, int batchIndex) {
        int token;
        try {
            token = s.sampler.sampleDecoded(ctx, batchIndex); // step() set an output here
        } catch (RuntimeException e) {
            s.failure = e;
            finish(s, FinishReason.CANCELLED);
            return;
        }
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = System.nanoTime();
        }
        if (vocabulary.isEndOfGeneration(token)) {
            finishWithHeldText(s, FinishReason.END_OF_GENERATION, token);
            return;
        }
        s.generated++;
        float probability = s.options.probabilities()
                ? Generation.probabilityOf(ctx, batchIndex, vocabulary.size(), token) : Float.NaN;
        String released = s.text.append(vocabulary.pieceBytes(token));
        if (s.text.stopped()) {
            if (emit(s, token, released, probability)) {
                finish(s, FinishReason.STOP_STRING);
            }
            return;
        }
        if (s.generated >= s.options.maxTokens()) {
            if (emit(s, token, released + s.text.drain(), probability)) {
                finish(s, FinishReason.MAX_TOKENS);
            }
            return;
        }
        if (emit(s, token, released, probability)) {
            s.pendingToken = token;
        }
    }

    /** Delivers a token; false if the listener threw (the sequence has then ended). */
    private boolean emit(Sequence s, int token, String text, float probability) {
        s.emitted.append(text);
        try {
            s.listener.onToken(s, new Token(token, text, probability));
            return true;
        } catch (RuntimeException e) {
            s.failure = e;
            finish(s, FinishReason.CANCELLED);
            return false;
        }
    }

    /** Ends a sequence; text still held back is released with one last token. */
    private void finishWithHeldText(Sequence s, FinishReason reason, int token) {
        String rest = s.text.drain();
        if (!rest.isEmpty() && !emit(s, token, rest, Float.NaN)) {
            return;
        }
        finish(s, reason);
    }

    /** Ends a sequence (once): frees its sampler and KV cells and its id, then tells its listener. */
    private void finish(Sequence s, FinishReason reason) {
        if (s.result != null) {
            return;
        }
        long now = System.nanoTime();
        long first = s.firstTokenNanos != 0 ? s.firstTokenNanos : now;
        GenerationResult result = new GenerationResult(s.emitted.toString(), reason, s.prompt.length, 0, s.generated,
                (first - s.submitNanos) / 1e6, (now - first) / 1e6);
        s.sampler.close();
        Llama.llama_memory_seq_rm(memory, s.id, -1, -1);
        slots[s.id] = null;
        active.remove(s);
        s.result = result;
        try {
            s.listener.onFinish(s, result);
        } catch (RuntimeException e) {
            if (s.failure == null) {
                s.failure = e;
            }
        }
    }

    private void failBatch(int status, List<Slice> slices) {
        if (status == 2) { // aborted through LlamaContext.cancel(): cancels everything
            context.clearAbort();
            cancelAll();
            return;
        }
        DecodeException e = LlamaContext.batchDecodeFailure(status);
        for (Slice slice : slices) {
            Sequence s = slice.sequence();
            if (s.failure == null) {
                s.failure = e;
            }
            finish(s, FinishReason.CANCELLED);
        }
        throw e;
    }

    private void cancelAll() {
        for (Sequence s : active.toArray(Sequence[]::new)) {
            finish(s, FinishReason.CANCELLED);
        }
    }

    // --- state ----------------------------------------------------------------------------------------------

    /** Whether any sequence is active (generating, with prompt tokens pending, or cancelled but not yet ended). */
    public boolean hasWork() {
        boolean entered = context.enter();
        try {
            return !closed && !active.isEmpty();
        } finally {
            context.exit(entered);
        }
    }

    /** Number of active sequences. */
    public int activeSequences() {
        boolean entered = context.enter();
        try {
            return active.size();
        } finally {
            context.exit(entered);
        }
    }

    /** Number of free sequence ids: how many prompts {@link #submit} accepts now. */
    public int freeSequences() {
        boolean entered = context.enter();
        try {
            return closed ? 0 : slots.length - active.size();
        } finally {
            context.exit(entered);
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
        return batchCapacity;
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
     * context back to its own generation methods. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        boolean entered = context.enter();
        try {
            if (closed) {
                return;
            }
            cancelAll();
            closed = true;
            Llama.llama_memory_clear(memory, true);
            Llama.llama_batch_free(batch);
            arena.close();
            context.schedulerClosed(this);
        } finally {
            context.exit(entered);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("SequenceScheduler is closed");
        }
    }
}
