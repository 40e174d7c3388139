package io.github.llamaffm;

import io.github.llamaffm.internal.NativeBatch;
import io.github.llamaffm.internal.ThreadClaim;

import java.util.ArrayDeque;
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
 * generation ends it with {@link FinishReason#CANCELLED}; an exception thrown by a token consumer, a custom sampler
 * or a failed decode ends it with {@link FinishReason#ERROR} and reaches the caller.
 */
public final class Generation implements Iterable<Token>, AutoCloseable {
    private final ThreadClaim owner;
    private final NativeBatch batch;
    /** Sequence 0 of the context, with prefix reuse. */
    private final SequenceEngine engine;
    /** Tokens of the last step not yet handed out: with speculation a step can yield several. */
    private final ArrayDeque<Token> ready = new ArrayDeque<>();
    private boolean started;

    Generation(ThreadClaim owner, NativeBatch batch, SequenceEngine engine) {
        this.owner = owner;
        this.batch = batch;
        this.engine = engine;
    }

    /**
     * Produces the next token, or returns {@code false} when the generation has ended. One decode step per call
     * (with {@link Speculation}, a step can yield several tokens: they are handed out one per call). The consumer
     * runs inside the context's claim, as every use of the context.
     */
    private boolean advance(Consumer<? super Token> action) {
        if (ready.isEmpty() && engine.isFinished()) {
            return false;
        }
        try (var claim = owner.claim()) {
            while (ready.isEmpty()) {
                if (engine.isFinished() || !step(ready::add)) {
                    if (ready.isEmpty()) {
                        return false;
                    }
                }
            }
            action.accept(ready.poll());
            return true;
        } catch (DecodeException e) {
            ready.clear();
            if (e.status() == NativeBatch.ABORTED) {
                engine.finish(FinishReason.CANCELLED);
                return false;
            }
            engine.fail(e);
            throw e;
        } catch (RuntimeException | Error e) {
            ready.clear();
            engine.fail(e);
            throw e;
        }
    }

    private boolean step(Consumer<? super Token> action) {
        if (!started) {
            started = true;
            batch.clearAbort();
            engine.begin();
        } else if (engine.isFull() && !engine.shiftContext()) {
            return engine.finishWithHeldText(FinishReason.CONTEXT_FULL, action);
        }
        // A cancel() since the last step is seen by llama.cpp's abort callback inside this decode.
        do {
            batch.clear();
            if (engine.promptRemaining() > 0) {
                engine.queuePrompt(batch, batch.capacity());
            } else {
                engine.prepareDraft(batch.capacity());
                engine.queuePendingToken(batch);
            }
            try {
                batch.decode();
            } catch (DecodeException e) {
                engine.decodeFailed();
                throw e;
            }
        } while (!engine.decoded());
        if (batch.abortRequested()) {
            engine.finish(FinishReason.CANCELLED);
            return false;
        }
        return engine.sample(batch.context(), action);
    }

    /** Ends the generation (the first reason wins); called by the context under its claim. */
    void end(FinishReason reason) {
        ready.clear();
        engine.finish(reason);
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
        return result().text();
    }

    /** Runs to the end (if not already there) and returns the summary. */
    public GenerationResult result() {
        forEach(t -> { });
        return engine.result();
    }

    /** Whether the generation has ended. */
    public boolean isFinished() {
        return engine.isFinished();
    }

    /** Asks the running decode step to stop; callable from any thread. */
    public void cancel() {
        if (!owner.isClosed()) {
            batch.requestAbort();
        }
    }

    /** Ends the generation if still running ({@link FinishReason#CANCELLED}). Idempotent. */
    @Override
    public void close() {
        ready.clear();
        if (engine.isFinished()) {
            return; // also the case once the context is closed: closing it ends its generation
        }
        try (var claim = owner.claim()) {
            engine.finish(FinishReason.CANCELLED);
        }
    }
}
