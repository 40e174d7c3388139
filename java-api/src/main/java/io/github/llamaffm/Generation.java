package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.SamplerChain;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Iterator;
import java.util.Objects;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A running generation: pull tokens one decode step at a time with {@link #stream()} or {@link #iterator()}, or
 * push them to a callback with {@link #forEach(Consumer)}; {@link #text()} runs to the end and returns the text.
 *
 * {@snippet :
 * try (Generation g = ctx.generate("Once upon a time", GenerateOptions.builder().maxTokens(32).build())) {
 *     g.forEach(token -> System.out.print(token.text()));
 *     System.out.println(g.result().finishReason());
 * }
 * }
 *
 * Used from the context's thread. {@link #cancel()} may be called from any thread. Closing an unfinished
 * generation ends it with {@link FinishReason#CANCELLED}.
 */
public final class Generation implements Iterable<Token>, AutoCloseable {
    private final LlamaContext context;
    private final Vocabulary vocabulary;
    private final int[] prompt;
    private final GenerateOptions options;
    /** UTF-8 and stop-string hold-back of the generated text. */
    private final TextHoldBack text;
    private final StringBuilder emitted = new StringBuilder();

    private SamplerChain sampler;
    private boolean started;
    private int pendingToken = -1;
    private int generated;
    private int cachedPromptTokens;
    private FinishReason finishReason;
    private GenerationResult result;

    Generation(LlamaContext context, int[] prompt, GenerateOptions options) {
        this.context = context;
        this.vocabulary = context.vocabulary();
        this.prompt = prompt;
        this.options = options;
        this.text = new TextHoldBack(options.stopStrings());
    }

    /**
     * Produces the next token, or returns {@code false} when the generation has ended. One decode step per call.
     */
    private boolean advance(Consumer<? super Token> action) {
        if (finishReason != null) {
            return false;
        }
        boolean entered = context.enter();
        try {
            return step(action);
        } catch (LlamaContext.CancelledDecode c) {
            end(FinishReason.CANCELLED);
            return false;
        } catch (RuntimeException | Error e) {
            end(FinishReason.CANCELLED);
            throw e;
        } finally {
            context.exit(entered);
        }
    }

    private boolean step(Consumer<? super Token> action) {
        if (!started) {
            started = true;
            context.clearAbort();
            context.resetPerf();
            sampler = SamplerChain.create(options.sampler(), vocabulary.segment(), vocabulary.size());
            // As llama.cpp's common sampler does: penalties and DRY also see the prompt.
            for (int t : prompt) {
                sampler.accept(t);
            }
            cachedPromptTokens = context.evaluatePrompt(prompt);
        } else {
            // A cancel() since the last step is seen by llama.cpp's abort callback inside this decode.
            if (context.historyLength() >= context.contextSize()) {
                return finishWithHeldText(FinishReason.CONTEXT_FULL, action);
            }
            context.decodeOne(pendingToken);
        }
        if (context.abortRequested()) {
            end(FinishReason.CANCELLED);
            return false;
        }
        int token = sampler.sampleDecoded(context.segment(), -1);
        pendingToken = token;
        if (vocabulary.isEndOfGeneration(token)) {
            return finishWithHeldText(FinishReason.END_OF_GENERATION, action, token);
        }
        generated++;
        float probability = options.probabilities() ? probabilityOf(context.segment(), -1, vocabulary.size(), token)
                : Float.NaN;
        String released = text.append(vocabulary.pieceBytes(token));
        if (text.stopped()) {
            emit(action, token, released, probability);
            end(FinishReason.STOP_STRING);
            return true;
        }
        if (generated >= options.maxTokens()) {
            emit(action, token, released + text.drain(), probability);
            end(FinishReason.MAX_TOKENS);
            return true;
        }
        emit(action, token, released, probability);
        return true;
    }

    private boolean finishWithHeldText(FinishReason reason, Consumer<? super Token> action) {
        return finishWithHeldText(reason, action, pendingToken);
    }

    /** Ends the generation; text still held back is released with one last token. */
    private boolean finishWithHeldText(FinishReason reason, Consumer<? super Token> action, int token) {
        String rest = text.drain();
        end(reason);
        if (!rest.isEmpty()) {
            emit(action, token, rest, Float.NaN);
            return true;
        }
        return false;
    }

    private void emit(Consumer<? super Token> action, int token, String text, float probability) {
        emitted.append(text);
        action.accept(new Token(token, text, probability));
    }

    /**
     * The probability of {@code token} under the raw distribution (softmax of the logits) of batch entry
     * {@code batchIndex} of the last decode (-1 = the last output).
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

    /** Ends the generation (idempotent for the result: the first reason wins). */
    void end(FinishReason reason) {
        if (result != null) {
            return;
        }
        finishReason = reason;
        double[] perf = started && !context.isClosed() ? context.perf() : new double[4];
        result = new GenerationResult(emitted.toString(), reason, prompt.length, cachedPromptTokens, generated, perf[0], perf[1]);
        if (sampler != null) {
            sampler.close();
        }
        context.generationEnded(this);
    }

    /** Pull-based stream of tokens, one decode step per element; closing the stream closes the generation. */
    public Stream<Token> stream() {
        Spliterator<Token> s = new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE,
                Spliterator.ORDERED | Spliterator.NONNULL) {
            @Override
            public boolean tryAdvance(Consumer<? super Token> action) {
                return advance(action);
            }
        };
        return StreamSupport.stream(s, false).onClose(this::close);
    }

    /** Iterator over the tokens; {@code hasNext()} runs the next decode step. */
    @Override
    public Iterator<Token> iterator() {
        return Spliterators.iterator(new Spliterators.AbstractSpliterator<Token>(Long.MAX_VALUE, Spliterator.ORDERED) {
            @Override
            public boolean tryAdvance(Consumer<? super Token> action) {
                return advance(action);
            }
        });
    }

    /** Runs to the end, passing each token to {@code action}. */
    @Override
    public void forEach(Consumer<? super Token> action) {
        Objects.requireNonNull(action, "action");
        while (advance(action)) {
            // one decode step per iteration
        }
    }

    /** Runs to the end and returns all generated text. */
    public String text() {
        forEach(t -> { });
        return result.text();
    }

    /** Runs to the end (if not already there) and returns the summary. */
    public GenerationResult result() {
        forEach(t -> { });
        return result;
    }

    /** Whether the generation has ended. */
    public boolean isFinished() {
        return result != null;
    }

    /** Asks the running decode step to stop; callable from any thread. */
    public void cancel() {
        context.cancel();
    }

    /** Ends the generation if still running ({@link FinishReason#CANCELLED}). Idempotent. */
    @Override
    public void close() {
        if (result == null && !context.isClosed()) {
            boolean entered = context.enter();
            try {
                end(FinishReason.CANCELLED);
            } finally {
                context.exit(entered);
            }
        } else if (result == null) {
            end(FinishReason.CANCELLED);
        }
    }
}
