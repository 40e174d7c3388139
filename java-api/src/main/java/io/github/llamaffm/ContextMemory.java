package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/**
 * The KV cache of a context, by sequence and position ({@code llama_memory_*}). Sequence ids are
 * {@code 0 .. sequences-1}; a position range {@code [p0, p1)} uses -1 for "from the start" / "to the end".
 * Editing sequence 0 also updates the context's record of its tokens, so prefix reuse stays correct.
 */
public final class ContextMemory {
    private final LlamaContext context;

    ContextMemory(LlamaContext context) {
        this.context = context;
    }

    /** Empties every sequence. */
    public void clear() {
        context.clear();
    }

    /**
     * Removes positions {@code [p0, p1)} of a sequence (-1 = all sequences for {@code seq}).
     *
     * @return false if the cache cannot remove a partial range (e.g. a rolling sliding-window cache)
     */
    public boolean remove(int seq, int p0, int p1) {
        checkSeq(seq, true);
        checkRange(p0, p1);
        boolean entered = context.enter();
        try {
            boolean ok = Llama.llama_memory_seq_rm(context.memorySegment(), seq, p0, p1);
            if (ok && (seq == 0 || seq == -1)) {
                int start = Math.max(0, p0);
                if (p1 < 0 || p1 >= context.historyLength()) {
                    context.truncateHistory(start);
                } else if (start < context.historyLength()) {
                    context.truncateHistory(start); // a hole in the middle: only the prefix before it is still known
                }
            }
            return ok;
        } finally {
            context.exit(entered);
        }
    }

    /** Copies positions {@code [p0, p1)} of {@code src} into {@code dst} (shares cells, no extra memory). */
    public void copy(int src, int dst, int p0, int p1) {
        checkSeq(src, false);
        checkSeq(dst, false);
        checkRange(p0, p1);
        boolean entered = context.enter();
        try {
            Llama.llama_memory_seq_cp(context.memorySegment(), src, dst, p0, p1);
            if (dst == 0) {
                context.truncateHistory(0);
            }
        } finally {
            context.exit(entered);
        }
    }

    /** Removes every sequence except {@code seq}. */
    public void keepOnly(int seq) {
        checkSeq(seq, false);
        boolean entered = context.enter();
        try {
            // llama_memory_seq_keep only clears the kept sequence's own stream when each sequence has its own
            // (kvUnified = false), so other sequences are removed one by one.
            for (int other = 0; other < context.options().sequences(); other++) {
                if (other != seq) {
                    Llama.llama_memory_seq_rm(context.memorySegment(), other, -1, -1);
                }
            }
            if (seq != 0) {
                context.truncateHistory(0);
            }
        } finally {
            context.exit(entered);
        }
    }

    /**
     * Adds {@code delta} to the positions {@code [p0, p1)} of a sequence (context shifting).
     *
     * @throws IllegalStateException if this cache cannot shift ({@link #canShift()})
     */
    public void shift(int seq, int p0, int p1, int delta) {
        checkSeq(seq, false);
        checkRange(p0, p1);
        boolean entered = context.enter();
        try {
            if (!Llama.llama_memory_can_shift(context.memorySegment())) {
                throw new IllegalStateException("this context's KV cache cannot shift positions");
            }
            Llama.llama_memory_seq_add(context.memorySegment(), seq, p0, p1, delta);
            if (seq == 0) {
                context.truncateHistory(0); // positions no longer match token indices
            }
        } finally {
            context.exit(entered);
        }
    }

    /** Whether positions can be shifted. */
    public boolean canShift() {
        boolean entered = context.enter();
        try {
            return Llama.llama_memory_can_shift(context.memorySegment());
        } finally {
            context.exit(entered);
        }
    }

    /** Smallest position of a sequence in the cache, or -1 if empty. */
    public int minPosition(int seq) {
        checkSeq(seq, false);
        boolean entered = context.enter();
        try {
            return Llama.llama_memory_seq_pos_min(context.memorySegment(), seq);
        } finally {
            context.exit(entered);
        }
    }

    /** Largest position of a sequence in the cache, or -1 if empty. */
    public int maxPosition(int seq) {
        checkSeq(seq, false);
        boolean entered = context.enter();
        try {
            return Llama.llama_memory_seq_pos_max(context.memorySegment(), seq);
        } finally {
            context.exit(entered);
        }
    }

    private void checkSeq(int seq, boolean allowAll) {
        int max = context.options().sequences();
        if ((seq < 0 && !(allowAll && seq == -1)) || seq >= max) {
            throw new IllegalArgumentException("sequence id " + seq + " out of range [0, " + max + ")"
                    + (allowAll ? " (or -1 for all)" : ""));
        }
    }

    private static void checkRange(int p0, int p1) {
        if (p0 < -1 || p1 < -1 || (p0 >= 0 && p1 >= 0 && p1 < p0)) {
            throw new IllegalArgumentException("bad position range [" + p0 + ", " + p1 + ")");
        }
    }
}
