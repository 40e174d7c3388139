package io.github.llamaffm.internal;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The one-thread rule of a native owner as a construct: {@code try (var claim = owner.claim()) { ... }} marks the
 * current thread as the user for the block and releases it afterwards; a nested claim on the same thread is
 * re-entrant (its close does nothing); a claim while another thread holds it throws {@link IllegalStateException}.
 * Claiming never allocates.
 */
public final class ThreadClaim {
    private static final Claim NESTED = new Claim(null);

    private final String what;
    private final NativeHandle handle;
    private final AtomicReference<Thread> user = new AtomicReference<>();
    private final Claim outermost = new Claim(this);

    public ThreadClaim(String what, NativeHandle handle) {
        this.what = what;
        this.handle = handle;
    }

    /** A held claim; closing the outermost one releases the owner. */
    public static final class Claim implements AutoCloseable {
        private final ThreadClaim owner;

        private Claim(ThreadClaim owner) {
            this.owner = owner;
        }

        @Override
        public void close() {
            if (owner != null) {
                owner.user.set(null);
            }
        }
    }

    /**
     * Claims the owner for this thread.
     *
     * @throws IllegalStateException if the owner is closed or another thread holds it
     */
    public Claim claim() {
        handle.ensureOpen();
        Thread me = Thread.currentThread();
        Thread current = user.compareAndExchange(null, me);
        if (current == null) {
            if (handle.isClosed()) { // closed between the check above and the claim
                user.set(null);
                handle.ensureOpen();
            }
            return outermost;
        }
        if (current == me) {
            return NESTED;
        }
        throw new IllegalStateException(what + " is in use by thread '" + current.getName()
                + "'; it must be used by one thread at a time (create one per thread)");
    }

    /** Whether the owner is closed (readable from any thread). */
    public boolean isClosed() {
        return handle.isClosed();
    }

    /**
     * Claims the owner for good, to close it: no other thread can enter afterwards, and every later claim fails on
     * the closed handle. Re-entrant from the thread that holds it.
     *
     * @throws IllegalStateException if another thread holds it
     */
    public void claimForClose() {
        Thread me = Thread.currentThread();
        Thread current = user.compareAndExchange(null, me);
        if (current != null && current != me) {
            throw new IllegalStateException("cannot close " + what + " while thread '" + current.getName()
                    + "' uses it");
        }
    }
}
