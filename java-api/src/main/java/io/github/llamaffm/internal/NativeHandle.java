package io.github.llamaffm.internal;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reference-counted ownership of one native object, with a {@link Cleaner} backstop. The owner holds one reference,
 * each child (a context of a model) holds another; the native free runs when the last is released, so a child keeps
 * its parent alive and nothing is freed while in use. {@link #close()} releases the owner's reference once
 * (idempotent).
 *
 * <p>If the owner becomes unreachable without being closed, the cleaner releases its reference instead and logs a
 * warning; with {@value #DEBUG_PROPERTY}{@code =true} the warning carries the stack trace of where the owner was
 * created. The free action must therefore capture only native pointers (and parents' handles), never the owner.
 * The cleaner runs on one daemon thread, {@code llama-ffm-cleaner}, started with the first handle.
 */
public final class NativeHandle implements AutoCloseable {
    /** System property that records where each native owner was created, for the leak warning. */
    public static final String DEBUG_PROPERTY = "llamaffm.debugLeaks";

    private static final System.Logger LOG = System.getLogger("io.github.llamaffm");
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "llama-ffm-cleaner");
        t.setDaemon(true);
        return t;
    });

    private final State state;
    private final Cleaner.Cleanable cleanable;

    /**
     * @param owner the public object whose unreachability frees the native object when it was not closed
     * @param what  names the object in messages, e.g. {@code "LlamaContext"}
     * @param free  frees the native object; must not reference {@code owner}
     */
    public NativeHandle(Object owner, String what, Runnable free) {
        this.state = new State(what, free, Boolean.getBoolean(DEBUG_PROPERTY) ? new Throwable(what + " created here") : null);
        this.cleanable = CLEANER.register(owner, state);
    }

    /** Throws if the owner has closed this handle. */
    public void ensureOpen() {
        if (state.closed) {
            throw new IllegalStateException(state.what + " is closed");
        }
    }

    public boolean isClosed() {
        return state.closed;
    }

    /** Adds a reference for a child; fails if already closed. */
    public void retain() {
        ensureOpen();
        int r;
        do {
            r = state.refs.get();
            if (r == 0) {
                throw new IllegalStateException(state.what + " is closed");
            }
        } while (!state.refs.compareAndSet(r, r + 1));
    }

    /** Drops a child's reference. */
    public void release() {
        state.release();
    }

    /** References held: the owner's (until closed) plus one per child. 0 once the native object is freed. */
    public int references() {
        return state.refs.get();
    }

    /** Releases the owner's reference (at most once, whether by this call or by the cleaner). */
    @Override
    public void close() {
        state.explicit = true;
        cleanable.clean();
    }

    /** What the cleaner runs: captures the free action and the counters, never the owner. */
    private static final class State implements Runnable {
        final String what;
        final Runnable free;
        final Throwable createdAt;
        final AtomicInteger refs = new AtomicInteger(1);
        volatile boolean closed;
        volatile boolean explicit;

        State(String what, Runnable free, Throwable createdAt) {
            this.what = what;
            this.free = free;
            this.createdAt = createdAt;
        }

        /** Runs once: from {@link NativeHandle#close()}, or on the cleaner thread for an unreachable owner. */
        @Override
        public void run() {
            closed = true;
            if (!explicit) {
                if (createdAt != null) {
                    LOG.log(System.Logger.Level.WARNING, what + " was not closed; the cleaner freed it", createdAt);
                } else {
                    LOG.log(System.Logger.Level.WARNING, what + " was not closed; the cleaner freed it (run with -D"
                            + DEBUG_PROPERTY + "=true to log where it was created)");
                }
            }
            release();
        }

        void release() {
            if (refs.decrementAndGet() == 0) {
                try {
                    free.run();
                } catch (RuntimeException | Error e) {
                    if (!explicit) { // on the cleaner thread: nothing else can report it
                        LOG.log(System.Logger.Level.ERROR, "freeing " + what + " failed", e);
                        return;
                    }
                    throw e;
                }
            }
        }
    }
}
