package io.github.llamaffm;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Generation requests from any number of threads, served together on one context: one thread, started by
 * {@link #start}, drives the context's {@link SequenceScheduler}, so concurrent requests share each decode (continuous
 * batching over {@link ContextOptions#sequences()} sequences) and requests beyond that wait in a queue. This is what
 * framework adapters (LangChain4j, Spring AI) and servers put in front of a context that many threads use.
 *
 * {@snippet :
 * try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(4).build());
 *      GenerationService service = GenerationService.start(ctx)) {
 *     GenerationService.Request r = service.submit("Once upon a time", GenerateOptions.defaults(),
 *             token -> System.out.print(token.text()));       // on the service thread
 *     GenerationResult result = r.completion().join();         // from any thread
 * }
 * }
 *
 * <p><b>Threads:</b> {@link #submit}, {@link Request#cancel()} and {@link #close()} may be called from any thread. The
 * service's own thread (made by the {@link ThreadFactory} given to {@link #start(LlamaContext, ThreadFactory)}; by
 * default a daemon platform thread named {@code llama-ffm-generation-N}) is the only one that uses the context while
 * the service is open; token listeners and the completion of {@link Request#completion()} run on it, so they must
 * not block. It is the one thread this library starts, and only here, on request.
 *
 * <p><b>Outcome:</b> a request's completion holds its {@link GenerationResult} (also when it was cancelled after it
 * started: {@link FinishReason#CANCELLED}); it completes exceptionally with the scheduler's failure for that sequence
 * (a failed decode, an invalid prompt or sampler: {@link IllegalArgumentException} naming what was wrong), with a
 * {@link CancellationException} when cancelled before it started, and with an {@link IllegalStateException} when the
 * service closed before it started.
 */
public final class GenerationService implements AutoCloseable {
    private static final AtomicInteger THREADS = new AtomicInteger();

    /** Receives a request's tokens on the service thread. A listener that throws ends its request. */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(Token token);
    }

    /** One submitted request: cancel it, or wait for its outcome. */
    public static final class Request {
        private final String prompt;
        private final GenerateOptions options;
        private final TokenListener listener;
        private final CompletableFuture<GenerationResult> completion = new CompletableFuture<>();
        private volatile SequenceScheduler.Sequence sequence;
        private volatile boolean cancelled;

        private Request(String prompt, GenerateOptions options, TokenListener listener) {
            this.prompt = prompt;
            this.options = options;
            this.listener = listener;
        }

        /**
         * Ends the request from any thread: a waiting one completes with a {@link CancellationException}, a running
         * one ends at the next step with {@link FinishReason#CANCELLED} and no further tokens. Idempotent.
         */
        public void cancel() {
            cancelled = true;
            SequenceScheduler.Sequence s = sequence;
            if (s != null) {
                s.cancel();
            }
        }

        /** Whether {@link #cancel()} was called. */
        public boolean isCancelled() {
            return cancelled;
        }

        /** Whether it holds a sequence now or did (it left the queue). */
        public boolean isStarted() {
            return sequence != null;
        }

        /** Completes on the service thread when the request has ended; see the class description for outcomes. */
        public CompletableFuture<GenerationResult> completion() {
            return completion;
        }

        /**
         * Waits for the outcome: the result, or the failure rethrown (unchecked exceptions as they are, others in a
         * {@link LlamaException}). An interrupt while waiting cancels the request, keeps the thread's interrupt
         * status and throws a {@link CancellationException}.
         */
        public GenerationResult await() {
            try {
                return completion.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException re) {
                    throw re;
                }
                if (cause instanceof Error err) {
                    throw err;
                }
                throw new LlamaException("generation failed", cause);
            } catch (InterruptedException e) {
                cancel();
                Thread.currentThread().interrupt();
                throw new CancellationException("interrupted while waiting for the generation");
            }
        }
    }

    private final LlamaContext context;
    private final SequenceScheduler scheduler;
    private final int sequences;
    private final BlockingQueue<Request> pending = new LinkedBlockingQueue<>();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong generatedTokens = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    private GenerationService(LlamaContext context, ThreadFactory threads) {
        this.context = context;
        this.scheduler = context.newScheduler();
        this.sequences = scheduler.sequences();
        Thread t;
        try {
            t = Objects.requireNonNull(threads.newThread(this::run), "the ThreadFactory returned null");
        } catch (RuntimeException | Error e) {
            scheduler.close();
            throw e;
        }
        this.thread = t;
        t.start();
    }

    /**
     * Opens the context's scheduler (emptying its KV cache; see {@link LlamaContext#newScheduler()}) and starts the
     * service thread, a daemon platform thread named {@code llama-ffm-generation-N}.
     *
     * @throws IllegalStateException if the context already has a scheduler or is an embeddings context
     */
    public static GenerationService start(LlamaContext context) {
        return start(context, r -> Thread.ofPlatform().daemon(true)
                .name("llama-ffm-generation-" + THREADS.incrementAndGet()).unstarted(r));
    }

    /** As {@link #start(LlamaContext)}, with the service thread made by {@code threads} (not yet started). */
    public static GenerationService start(LlamaContext context, ThreadFactory threads) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(threads, "threads");
        return new GenerationService(context, threads);
    }

    /**
     * Queues a prompt; it starts as soon as a sequence is free. The prompt is tokenized with
     * {@link GenerateOptions#addSpecial()} / {@link GenerateOptions#parseSpecial()} and checked by the scheduler (an
     * empty or too long prompt completes the request exceptionally).
     *
     * @throws IllegalStateException if the service is closed
     */
    public Request submit(String prompt, GenerateOptions options, TokenListener listener) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(listener, "listener");
        if (!running) {
            throw new IllegalStateException("GenerationService is closed");
        }
        Request r = new Request(prompt, options, listener);
        pending.add(r);
        if (!running && pending.remove(r)) { // raced with close: the loop may not see it any more
            r.completion.completeExceptionally(closed());
        }
        return r;
    }

    /** The context it serves. */
    public LlamaContext context() {
        return context;
    }

    /** Requests served at once (the context's sequences). */
    public int sequences() {
        return sequences;
    }

    /** Tokens of context per sequence ({@link SequenceScheduler#sequenceContextSize()}). */
    public int sequenceContextSize() {
        return scheduler.sequenceContextSize();
    }

    /** Requests waiting for a free sequence now. */
    public int queued() {
        return pending.size();
    }

    /** Requests generating now. */
    public int active() {
        return active.get();
    }

    /** Tokens generated by all requests since the start. */
    public long generatedTokens() {
        return generatedTokens.get();
    }

    /** Whether {@link #close()} was called (or the service thread ended). */
    public boolean isClosed() {
        return !running;
    }

    /**
     * Stops the service: running requests end ({@link FinishReason#CANCELLED}), waiting ones complete with an
     * {@link IllegalStateException}, the scheduler closes and the context is free for other use (it stays open: it
     * belongs to the caller). Waits for the service thread unless called from it. Idempotent.
     */
    @Override
    public void close() {
        running = false;
        if (Thread.currentThread() != thread) {
            boolean interrupted = false;
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run() {
        try {
            while (running) {
                while (scheduler.freeSequences() > 0) {
                    Request r = pending.poll();
                    if (r == null) {
                        break;
                    }
                    start(r);
                }
                if (scheduler.hasWork()) {
                    try {
                        scheduler.step();
                    } catch (DecodeException e) {
                        // The sequences of that batch have ended with the failure (their listeners were told).
                    }
                } else {
                    Request r = pending.poll(50, TimeUnit.MILLISECONDS);
                    if (r != null) {
                        start(r);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            List<Request> left = new ArrayList<>();
            pending.drainTo(left);
            left.forEach(r -> r.completion.completeExceptionally(e));
            throw e;
        } finally {
            running = false;
            try {
                scheduler.close(); // running sequences end (CANCELLED) and complete
            } finally {
                List<Request> left = new ArrayList<>();
                pending.drainTo(left);
                left.forEach(r -> r.completion.completeExceptionally(closed()));
            }
        }
    }

    private void start(Request r) {
        if (r.cancelled) {
            r.completion.completeExceptionally(new CancellationException("cancelled before it started"));
            return;
        }
        SequenceScheduler.Listener listener = new SequenceScheduler.Listener() {
            @Override
            public void onToken(SequenceScheduler.Sequence sequence, Token token) {
                generatedTokens.incrementAndGet();
                r.listener.onToken(token);
            }

            @Override
            public void onFinish(SequenceScheduler.Sequence sequence, GenerationResult result) {
                active.decrementAndGet();
                if (sequence.failure().isPresent()) {
                    r.completion.completeExceptionally(sequence.failure().get());
                } else {
                    r.completion.complete(result);
                }
            }
        };
        try {
            active.incrementAndGet();
            r.sequence = scheduler.submit(r.prompt, r.options, listener);
        } catch (RuntimeException e) { // invalid prompt or sampler (SequencesBusy cannot happen: a sequence is free)
            active.decrementAndGet();
            r.completion.completeExceptionally(e);
            return;
        }
        if (r.cancelled) {
            r.sequence.cancel();
        }
    }

    private static IllegalStateException closed() {
        return new IllegalStateException("GenerationService closed before the request started");
    }
}
