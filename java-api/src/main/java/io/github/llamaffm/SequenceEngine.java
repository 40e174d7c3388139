package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeBatch;
import io.github.llamaffm.internal.SamplerChain;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One sequence's generation, the engine under both front ends ({@link Generation}: sequence 0 with prefix reuse;
 * {@link SequenceScheduler}: many sequences in one batch): it feeds the prompt to the sampler and, chunk by chunk,
 * to a {@link NativeBatch}; after each decode it samples and applies the per-token rules (end of generation, token
 * limit, probabilities, UTF-8 and stop-string hold-back, emitting), and builds the {@link GenerationResult}.
 *
 * <p>The front ends decide only what goes into a batch and when, and what to do once a sequence has finished
 * (the scheduler frees its cells and tells its listener). Not thread-safe (the context's claim).
 *
 * <p><b>Speculation</b> ({@link Speculation}) lives here too: {@link #prepareDraft} asks the {@link Drafter} for
 * guesses to follow the pending token, {@link #queuePendingToken} queues the pending token and the guesses with
 * logits for each, and {@link #sample} samples position after position while the sample equals the guess (each sample
 * goes through the same per-token rules), then removes the rejected guesses' cells.
 */
final class SequenceEngine {
    private static final int[] NO_DRAFT = new int[0];

    private final int sequence;
    private final Vocabulary vocabulary;
    private final int[] prompt;
    private final GenerateOptions options;
    /** KV cells this sequence may use. */
    private final int capacity;
    /** The record of this sequence's tokens in the cache: prefix reuse, appended to as tokens are decoded. */
    private final TokenHistory history;
    /** The context shift to apply when the sequence is full, or null to end it ({@link ContextOverflow#FAIL}). */
    private final Shift shift;
    /** Non-null: timings come from this context's llama.cpp performance counters rather than the wall clock. */
    private final MemorySegment perfContext;
    private final SamplerChain sampler;
    /** {@link GenerateOptions#loras()} as resolved by the context (read every scheduler step: kept, not re-wrapped). */
    private final java.util.Map<LoraAdapter, Float> adapters;
    /** Whether the sampler is attached to the context for backend sampling (else: host sampling). */
    private final boolean backendSampling;
    /** Guesses the tokens after the pending one ({@link Speculation}), or null. */
    private final Drafter drafter;
    /** The guesses queued after the pending token, checked by {@link #sample}. */
    private int[] draft = NO_DRAFT;
    private final TextHoldBack text;
    private final StringBuilder emitted = new StringBuilder();

    private long startNanos;
    private long firstTokenNanos;
    /**
     * Tokens to decode before sampling: the prompt, or after a shift that re-decodes, the kept tokens and the
     * pending one.
     */
    private int[] feed;
    /** Tokens of {@link #feed} in the cache (reused or decoded). */
    private int fed;
    private int contextShifts;
    /** Tokens of this sequence in the cache: the next position. */
    private int position;
    /** Sampled token not yet decoded, or -1 while the prompt is pending. */
    private int pendingToken = -1;
    private int generated;
    private int cachedPromptTokens;
    /** Entries queued in the current batch, and the batch index whose logits are sampled after the decode. */
    private int queued;
    private boolean queuedPrompt;
    private int outputIndex;
    private boolean begun;
    private FinishReason finishReason;
    private GenerationResult result;
    private Throwable failure;

    /**
     * Creates the sampler chain and feeds it the prompt (penalties and DRY see the prompt, as in llama.cpp's common
     * sampler). Nothing is decoded.
     *
     * @throws IllegalArgumentException if the sampler cannot be built (e.g. a grammar that does not parse)
     */
    SequenceEngine(int sequence, Vocabulary vocabulary, int[] prompt, GenerateOptions options, int capacity,
                   TokenHistory history, Shift shift, MemorySegment perfContext, MemorySegment samplingContext,
                   Drafter drafter) {
        this.sequence = sequence;
        this.adapters = options.loras().orElse(java.util.Map.of());
        this.drafter = drafter;
        this.vocabulary = vocabulary;
        this.prompt = prompt;
        this.feed = prompt;
        this.shift = shift;
        this.options = options;
        this.capacity = capacity;
        this.history = history;
        this.perfContext = perfContext;
        this.text = new TextHoldBack(options.stopStrings());
        this.startNanos = System.nanoTime();
        SamplerChain chain = SamplerChain.create(options.sampler(), vocabulary.segment(), vocabulary.size());
        try {
            for (int t : prompt) {
                chain.accept(t);
            }
        } catch (RuntimeException | Error e) {
            chain.close();
            throw e;
        }
        this.sampler = chain;
        // Backend sampling: the chain runs in the decode graph (llama_sampler_sample then returns the token the graph
        // picked and accepts it). Not for chains or options that need the host's logits: a grammar, a custom Java
        // stage, probabilities.
        this.backendSampling = samplingContext != null && !options.probabilities() && options.topProbabilities() == 0
                && chain.attachTo(samplingContext, sequence);
    }

    /** The LoRA adapter set this sequence runs with (resolved by its context: never unset here). */
    java.util.Map<LoraAdapter, Float> adapters() {
        return adapters;
    }

    /** Whether this sequence's sampler runs in the decode graph ({@link ContextOptions.Builder#backendSampling}). */
    boolean backendSampling() {
        return backendSampling;
    }

    /**
     * Starts the clock and keeps the prompt's longest prefix already in the sequence's cells. Called once, right
     * before the first decode.
     */
    void begin() {
        begun = true;
        startNanos = System.nanoTime();
        if (perfContext != null) {
            PerfCounters.reset(perfContext);
        }
        cachedPromptTokens = history.reusePrefix(prompt, adapters());
        fed = cachedPromptTokens;
        position = cachedPromptTokens;
    }

    // --- feeding the batch ------------------------------------------------------------------------------------

    /** Prompt tokens still to decode. */
    int promptRemaining() {
        return pendingToken < 0 ? feed.length - fed : 0;
    }

    /** Whether a sampled token waits to be decoded. */
    boolean hasPendingToken() {
        return pendingToken >= 0 && finishReason == null;
    }

    /**
     * Whether the sequence has no cell left for its pending token; with a context shift, whether the pending token
     * would take the last cell (when llama.cpp's tools shift).
     */
    boolean isFull() {
        return position + (shift != null ? 1 : 0) >= capacity;
    }

    /**
     * The context shift ({@link ContextOverflow#SHIFT}), as llama.cpp's {@code llama-completion} does it: keep the
     * first {@code keep} tokens, drop half of the rest (the oldest), move the newer half down. Where the cache cannot
     * move positions, the kept tokens are queued to be decoded again instead.
     *
     * @return false if there is no shift to make (policy {@link ContextOverflow#FAIL}, or nothing left to drop): the
     *         caller ends the sequence with {@link FinishReason#CONTEXT_FULL}
     */
    boolean shiftContext() {
        if (shift == null) {
            return false;
        }
        int keep = shift.keep() < 0 || shift.keep() > prompt.length ? prompt.length
                : shift.keep() + (vocabulary.addsBos() && prompt[0] == vocabulary.bos() ? 1 : 0);
        keep = Math.max(0, Math.min(keep, capacity - 4));
        int discard = (position - keep) / 2;
        if (discard <= 0) {
            return false;
        }
        contextShifts++;
        if (shift.movePositions()) {
            Llama.llama_memory_seq_rm(shift.memory(), sequence, keep, keep + discard);
            Llama.llama_memory_seq_add(shift.memory(), sequence, keep + discard, position, -discard);
            history.remove(keep, discard);
            position -= discard;
            return true;
        }
        history.remove(keep, discard);
        int[] kept = history.toArray();
        history.clear();
        feed = java.util.Arrays.copyOf(kept, kept.length + 1);
        feed[kept.length] = pendingToken;
        fed = 0;
        position = 0;
        pendingToken = -1;
        return true;
    }

    /** Queues the next {@code max} (or fewer) prompt tokens; the last prompt token asks for logits. */
    void queuePrompt(NativeBatch batch, int max) {
        int n = Math.min(max, feed.length - fed);
        int last = feed.length - 1;
        for (int k = 0; k < n; k++) {
            int index = fed + k;
            outputIndex = batch.add(feed[index], position + k, sequence, index == last);
        }
        queued = n;
        queuedPrompt = true;
    }

    /**
     * With speculation, guesses the tokens to follow the pending one for the next {@link #queuePendingToken}: at most
     * {@code room - 1} (the batch room besides the pending token) and no more than the sequence's cells and
     * {@link GenerateOptions#maxTokens()} leave room for. Without speculation it guesses nothing.
     *
     * @return the batch entries {@link #queuePendingToken} will add: 1 plus the guesses
     */
    int prepareDraft(int room) {
        draft = NO_DRAFT;
        if (drafter != null) {
            int max = Math.min(room - 1, Math.min(capacity - position - 1 - (shift != null ? 1 : 0),
                    options.maxTokens() - generated - 1));
            if (max > 0) {
                draft = drafter.draft(sequence, history, pendingToken, max);
            }
        }
        return 1 + draft.length;
    }

    /** Queues the pending sampled token, and after it the guesses of {@link #prepareDraft}, each with logits. */
    void queuePendingToken(NativeBatch batch) {
        outputIndex = batch.add(pendingToken, position, sequence, true);
        for (int i = 0; i < draft.length; i++) {
            batch.add(draft[i], position + 1 + i, sequence, true);
        }
        queued = 1 + draft.length;
        queuedPrompt = false;
    }

    /** Accounts for a successful decode of what was queued; true if logits are ready to {@link #sample}. */
    boolean decoded() {
        if (queuedPrompt) {
            history.append(feed, fed, queued);
            position += queued;
            fed += queued;
        } else {
            history.append(pendingToken); // the guesses after it count once accepted (sample)
            position++;
        }
        queued = 0;
        return !queuedPrompt || fed == feed.length;
    }

    /** After a failed decode: nothing queued was decoded; the record keeps what the cache still holds. */
    void decodeFailed() {
        queued = 0;
        draft = NO_DRAFT;
        history.trimToCache();
    }

    // --- the per-token rules ------------------------------------------------------------------------------------

    /**
     * Samples the queued output of the last decode, applies the per-token rules and passes at most one token to
     * {@code sink}; with speculative guesses queued, goes on sampling the next position while the last sample equals
     * the guess there (each sample a token to the sink, under the same rules), then removes the cells of the rejected
     * guesses. An exception of the sink or the sampler propagates; the caller then ends the sequence with
     * {@link #fail(Throwable)}.
     *
     * @return whether a token was passed to the sink
     */
    boolean sample(MemorySegment ctx, Consumer<? super Token> sink) {
        int[] guess = draft;
        draft = NO_DRAFT;
        boolean any = sampleAt(ctx, outputIndex, sink);
        if (guess.length == 0) {
            return any;
        }
        int accepted = 0;
        try {
            while (finishReason == null && accepted < guess.length && pendingToken == guess[accepted]) {
                // The guess is the token the target samples here: its cell (decoded in this batch) stays.
                history.append(guess[accepted]);
                position++;
                accepted++;
                drafter.accepted(1); // before the sample: it may finish the sequence and build the result
                any |= sampleAt(ctx, outputIndex + accepted, sink);
            }
        } finally {
            history.removeCellsFrom(position);
        }
        return any;
    }

    /** {@link #sample} of batch entry {@code outputIndex}: one sampled token and its per-token rules. */
    private boolean sampleAt(MemorySegment ctx, int outputIndex, Consumer<? super Token> sink) {
        int token = sampler.sampleDecoded(ctx, outputIndex);
        if (firstTokenNanos == 0) {
            firstTokenNanos = System.nanoTime();
        }
        pendingToken = token;
        if (vocabulary.isEndOfGeneration(token)) {
            return finishWithHeldText(FinishReason.END_OF_GENERATION, sink);
        }
        generated++;
        float probability = Float.NaN;
        List<Token.Candidate> top = List.of();
        if (options.topProbabilities() > 0) {
            top = new ArrayList<>(options.topProbabilities());
            probability = distribution(ctx, outputIndex, vocabulary.size(), token, options.topProbabilities(), top);
        } else if (options.probabilities()) {
            probability = probabilityOf(ctx, outputIndex, vocabulary.size(), token);
        }
        String released = text.append(vocabulary.pieceBytes(token));
        if (text.stopped()) {
            emit(sink, token, released, probability, top);
            finish(FinishReason.STOP_STRING);
        } else if (generated >= options.maxTokens()) {
            emit(sink, token, released + text.drain(), probability, top);
            finish(FinishReason.MAX_TOKENS);
        } else {
            emit(sink, token, released, probability, top);
        }
        return true;
    }

    /** Ends the sequence; text still held back is passed to the sink with the last token. */
    boolean finishWithHeldText(FinishReason reason, Consumer<? super Token> sink) {
        String rest = text.drain();
        if (rest.isEmpty()) {
            finish(reason);
            return false;
        }
        emit(sink, pendingToken, rest, Float.NaN, List.of());
        finish(reason);
        return true;
    }

    private void emit(Consumer<? super Token> sink, int token, String piece, float probability,
                      List<Token.Candidate> top) {
        emitted.append(piece);
        sink.accept(new Token(token, piece, probability, top));
    }

    /**
     * Like {@link #probabilityOf}, and fills {@code top} with the {@code n} most likely tokens (most likely first; ties
     * by lower id), in one pass over the logits plus a bounded heap.
     */
    static float distribution(MemorySegment ctx, int batchIndex, int vocabSize, int token, int n,
                              List<Token.Candidate> top) {
        MemorySegment logits = Llama.llama_get_logits_ith(ctx, batchIndex)
                .reinterpret((long) vocabSize * Float.BYTES);
        float max = Float.NEGATIVE_INFINITY;
        // min-heap of the n best (logit, id): the root is the weakest kept
        java.util.PriorityQueue<int[]> heap = new java.util.PriorityQueue<>(n + 1, (a, b) -> {
            int c = Float.compare(Float.intBitsToFloat(a[1]), Float.intBitsToFloat(b[1]));
            return c != 0 ? c : Integer.compare(b[0], a[0]);
        });
        for (int i = 0; i < vocabSize; i++) {
            float l = logits.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            max = Math.max(max, l);
            if (heap.size() < n) {
                heap.add(new int[] {i, Float.floatToIntBits(l)});
            } else if (l > Float.intBitsToFloat(heap.peek()[1])) {
                heap.poll();
                heap.add(new int[] {i, Float.floatToIntBits(l)});
            }
        }
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            sum += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, i) - max);
        }
        List<Token.Candidate> best = new ArrayList<>(heap.size());
        while (!heap.isEmpty()) {
            int[] e = heap.poll();
            best.add(new Token.Candidate(e[0], (float) (Math.exp(Float.intBitsToFloat(e[1]) - max) / sum)));
        }
        java.util.Collections.reverse(best);
        top.addAll(best);
        return (float) (Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, token) - max) / sum);
    }

    /**
     * The probability of {@code token} under the raw distribution (softmax of the logits) of batch entry
     * {@code batchIndex} of the last decode.
     */
    static float probabilityOf(MemorySegment ctx, int batchIndex, int vocabSize, int token) {
        MemorySegment logits = Llama.llama_get_logits_ith(ctx, batchIndex)
                .reinterpret((long) vocabSize * Float.BYTES);
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocabSize; i++) {
            max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            sum += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, i) - max);
        }
        return (float) (Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, token) - max) / sum);
    }

    // --- the end ----------------------------------------------------------------------------------------------

    /** Ends the sequence (the first reason wins): builds the result and frees the sampler. */
    void finish(FinishReason reason) {
        if (finishReason != null) {
            return;
        }
        finishReason = reason;
        double promptMillis;
        double generationMillis;
        if (perfContext != null) {
            // Read only after begin(): the owning context is open while its generation runs (closing it ends the
            // generation first).
            PerfCounters perf = begun ? PerfCounters.of(perfContext) : PerfCounters.NONE;
            promptMillis = perf.promptMillis();
            generationMillis = perf.generationMillis();
        } else {
            long now = System.nanoTime();
            long first = firstTokenNanos != 0 ? firstTokenNanos : now;
            promptMillis = (first - startNanos) / 1e6;
            generationMillis = (now - first) / 1e6;
        }
        result = new GenerationResult(emitted.toString(), reason, prompt.length, cachedPromptTokens, generated,
                promptMillis, generationMillis, contextShifts, drafter == null ? 0 : drafter.drafted(),
                drafter == null ? 0 : drafter.acceptedCount());
        sampler.close(); // detaches it from the context first when it was attached
    }

    /** Ends the sequence because of {@code cause} ({@link FinishReason#ERROR}); the first failure is kept. */
    void fail(Throwable cause) {
        if (failure == null && finishReason == null) {
            failure = cause;
        }
        finish(FinishReason.ERROR);
    }

    boolean isFinished() {
        return finishReason != null;
    }

    /** The result once finished, else null. */
    GenerationResult result() {
        return result;
    }

    /** What ended the sequence with {@link FinishReason#ERROR}, or null. */
    Throwable failure() {
        return failure;
    }

    int sequence() {
        return sequence;
    }

    int promptTokens() {
        return prompt.length;
    }

    GenerateOptions options() {
        return options;
    }

    /**
     * A context shift's settings: the cache, the tokens to keep ({@link ContextOptions#shiftKeepTokens()}) and
     * whether the cache can move positions ({@code llama_memory_can_shift}).
     */
    record Shift(MemorySegment memory, int keep, boolean movePositions) {
        /** The shift of a context with these options, or null for {@link ContextOverflow#FAIL}. */
        static Shift of(ContextOptions options, MemorySegment memory) {
            return options.overflow() == ContextOverflow.SHIFT
                    ? new Shift(memory, options.shiftKeepTokens(), Llama.llama_memory_can_shift(memory)) : null;
        }
    }
}
