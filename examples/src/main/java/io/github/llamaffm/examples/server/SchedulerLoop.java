package io.github.llamaffm.examples.server;

import io.github.llamaffm.DecodeException;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.SequenceScheduler;
import io.github.llamaffm.SequencesBusyException;
import io.github.llamaffm.Token;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The scheduler thread's work: it alone uses the generation context. HTTP handler threads {@link #offer} jobs; the
 * loop moves them into free sequences, runs {@link SequenceScheduler#step()} while any sequence is active (so
 * concurrent requests share each decode), and hands tokens and ends back through each job's own queue.
 *
 * <p>Admission is bounded: at most {@code sequences + maxQueue} jobs are admitted (running or waiting for a free
 * sequence); {@link #offer} refuses the rest, and the server answers 429.
 */
final class SchedulerLoop implements Runnable {
    /** What a job's handler receives. */
    sealed interface Event permits TokenEvent, Finished {}

    record TokenEvent(Token token) implements Event {}

    /**
     * The end of a job: {@code result} null when it never started ({@code error} says why), {@code failure} set when
     * the scheduler ended it abnormally.
     */
    record Finished(GenerationResult result, Throwable failure, ApiException error) implements Event {}

    /** One generation request, from admission to its end. */
    static final class Job implements SequenceScheduler.Listener {
        final int[] prompt;
        final GenerateOptions options;
        final boolean streaming;
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        private final AtomicBoolean released = new AtomicBoolean();
        private SchedulerLoop loop;
        private volatile SequenceScheduler.Sequence sequence;
        private volatile boolean cancelled;
        private volatile long startNanos;

        Job(int[] prompt, GenerateOptions options, boolean streaming) {
            this.prompt = prompt;
            this.options = options;
            this.streaming = streaming;
        }

        /** Ends the job from any thread (the client went away): its sequence ends at the next step. */
        void cancel() {
            cancelled = true;
            SequenceScheduler.Sequence s = sequence;
            if (s != null) {
                s.cancel();
            }
        }

        boolean isCancelled() {
            return cancelled;
        }

        /** Nanos when it got a sequence (0 while waiting). */
        long startNanos() {
            return startNanos;
        }

        @Override
        public void onToken(SequenceScheduler.Sequence s, Token token) {
            if (streaming) {
                events.add(new TokenEvent(token));
            }
        }

        @Override
        public void onFinish(SequenceScheduler.Sequence s, GenerationResult result) {
            release();
            events.add(new Finished(result, s.failure().orElse(null), null));
        }

        private void reject(ApiException error) {
            release();
            events.add(new Finished(null, null, error));
        }

        private void release() {
            if (released.compareAndSet(false, true) && loop != null) {
                loop.admitted.decrementAndGet();
            }
        }
    }

    private final LlamaContext context;
    private final int limit;
    private final Consumer<String> log;
    private final BlockingQueue<Job> pending = new LinkedBlockingQueue<>();
    private final AtomicInteger admitted = new AtomicInteger();
    private final CountDownLatch ready = new CountDownLatch(1);
    private volatile boolean running = true;
    private volatile RuntimeException startFailure;
    private volatile int sequences;
    private volatile int sequenceContextSize;
    private volatile long decodeCalls;

    SchedulerLoop(LlamaContext context, int maxQueue, Consumer<String> log) {
        this.context = context;
        this.limit = context.options().sequences() + maxQueue;
        this.log = log;
    }

    /** Admits a job, or returns false when {@code sequences + maxQueue} jobs are already admitted. */
    boolean offer(Job job) {
        if (!running) {
            return false;
        }
        if (admitted.incrementAndGet() > limit) {
            admitted.decrementAndGet();
            return false;
        }
        job.loop = this;
        pending.add(job);
        if (!running) { // raced with shutdown: the loop may not see it any more
            job.reject(shuttingDown());
        }
        return true;
    }

    /** Jobs admitted and not yet ended. */
    int admitted() {
        return admitted.get();
    }

    int sequences() {
        return sequences;
    }

    int sequenceContextSize() {
        return sequenceContextSize;
    }

    long decodeCalls() {
        return decodeCalls;
    }

    /** Waits until the scheduler is open; rethrows its failure to open. */
    void awaitReady() throws InterruptedException {
        ready.await();
        if (startFailure != null) {
            throw startFailure;
        }
    }

    /**
     * Asks the loop to stop (it ends within about 100 ms, or after the running step): running sequences end, waiting
     * jobs are refused with 503. Join the thread to wait for it.
     */
    void requestStop() {
        running = false;
    }

    @Override
    public void run() {
        SequenceScheduler scheduler;
        try {
            scheduler = context.newScheduler();
        } catch (RuntimeException e) {
            startFailure = e;
            running = false;
            ready.countDown();
            return;
        }
        sequences = scheduler.sequences();
        sequenceContextSize = scheduler.sequenceContextSize();
        ready.countDown();
        try {
            while (running) {
                while (scheduler.freeSequences() > 0) {
                    Job job = pending.poll();
                    if (job == null) {
                        break;
                    }
                    start(scheduler, job);
                }
                if (scheduler.hasWork()) {
                    try {
                        scheduler.step();
                    } catch (DecodeException e) {
                        // The sequences of that batch have ended with the failure; the others go on.
                        log.accept("decode failed: " + e.getMessage());
                    }
                    decodeCalls = scheduler.decodeCalls();
                } else {
                    Job job = pending.poll(100, TimeUnit.MILLISECONDS);
                    if (job != null) {
                        start(scheduler, job);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            log.accept("scheduler thread failed: " + e);
            throw e;
        } finally {
            running = false;
            try {
                scheduler.close(); // running sequences end (CANCELLED): their handlers answer 503
            } finally {
                List<Job> left = new ArrayList<>();
                pending.drainTo(left);
                for (Job job : left) {
                    job.reject(shuttingDown());
                }
            }
        }
    }

    private void start(SequenceScheduler scheduler, Job job) {
        if (job.cancelled) {
            job.release();
            return;
        }
        try {
            job.startNanos = System.nanoTime();
            job.sequence = scheduler.submit(job.prompt, job.options, job);
            if (job.cancelled) {
                job.sequence.cancel();
            }
        } catch (SequencesBusyException e) {
            // Not expected (the loop only starts jobs into free sequences); try again later.
            pending.add(job);
        } catch (IllegalArgumentException e) {
            job.reject(ApiException.badRequest(e.getMessage(), null));
        } catch (RuntimeException e) {
            log.accept("cannot start a request: " + e);
            job.reject(new ApiException(500, "server_error", "the server could not start this request", null, null));
        }
    }

    static ApiException shuttingDown() {
        return new ApiException(503, "server_error", "the server is shutting down", null, "server_shutting_down");
    }
}
