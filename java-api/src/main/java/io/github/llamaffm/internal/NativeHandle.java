package io.github.llamaffm.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reference-counted ownership of one native object. The owner holds one reference, each child (a context of a
 * model) holds another; the native free runs when the last is released, so a child keeps its parent alive and
 * nothing is freed while in use. {@link #close()} releases the owner's reference once (idempotent).
 */
public final class NativeHandle implements AutoCloseable {
    private final String what;
    private final Runnable free;
    private final AtomicInteger refs = new AtomicInteger(1);
    private volatile boolean closed;

    public NativeHandle(String what, Runnable free) {
        this.what = what;
        this.free = free;
    }

    /** Throws if the owner has closed this handle. */
    public void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(what + " is closed");
        }
    }

    public boolean isClosed() {
        return closed;
    }

    /** Adds a reference for a child; fails if already closed. */
    public void retain() {
        ensureOpen();
        int r;
        do {
            r = refs.get();
            if (r == 0) {
                throw new IllegalStateException(what + " is closed");
            }
        } while (!refs.compareAndSet(r, r + 1));
    }

    /** Drops a child's reference. */
    public void release() {
        if (refs.decrementAndGet() == 0) {
            free.run();
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        release();
    }
}
