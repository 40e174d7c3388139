package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.ThreadClaim;

import java.lang.foreign.MemorySegment;

/**
 * The KV cache of a context, by sequence and position ({@code llama_memory_*}). Sequence ids are
 * {@code 0 .. sequences-1}; a position range {@code [p0, p1)} uses -1 for "from the start" / "to the end".
 * Editing sequence 0 also updates the context's record of its tokens, so prefix reuse stays correct.
 */
public final class ContextMemory {
    private final LlamaContext context;
    private final ThreadClaim claims;
    private final MemorySegment memory;
    private final TokenHistory history;

    ContextMemory(LlamaContext context, ThreadClaim claims, MemorySegment memory, TokenHistory history) {
        this.context = context;
        this.claims = claims;
        this.memory = memory;
        this.history = history;
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
        try (var claim = claims.claim()) {
            boolean ok = Llama.llama_memory_seq_rm(memory, seq, p0, p1);
            if (ok && (seq == 0 || seq == -1)) {
                // Removing the end, or a hole in the middle: only the prefix before it is still known.
                history.truncate(Math.max(0, p0));
            }
            return ok;
        }
    }

    /** Copies positions {@code [p0, p1)} of {@code src} into {@code dst} (shares cells, no extra memory). */
    public void copy(int src, int dst, int p0, int p1) {
        checkSeq(src, false);
        checkSeq(dst, false);
        checkRange(p0, p1);
        try (var claim = claims.claim()) {
            Llama.llama_memory_seq_cp(memory, src, dst, p0, p1);
            if (dst == 0) {
                history.truncate(0);
            }
        }
    }

    /** Removes every sequence except {@code seq}. */
    public void keepOnly(int seq) {
        checkSeq(seq, false);
        try (var claim = claims.claim()) {
            // llama_memory_seq_keep only clears the kept sequence's own stream when each sequence has its own
            // (kvUnified = false), so other sequences are removed one by one.
            for (int other = 0; other < context.options().sequences(); other++) {
                if (other != seq) {
                    Llama.llama_memory_seq_rm(memory, other, -1, -1);
                }
            }
            if (seq != 0) {
                history.truncate(0);
            }
        }
    }

    /**
     * Adds {@code delta} to the positions {@code [p0, p1)} of a sequence (context shifting); cells whose position
     * becomes negative are removed, as llama.cpp does.
     *
     * @throws IllegalArgumentException if a shifted position would overflow 32 bits
     * @throws IllegalStateException    if this cache cannot shift ({@link #canShift()})
     */
    public void shift(int seq, int p0, int p1, int delta) {
        checkSeq(seq, false);
        checkRange(p0, p1);
        try (var claim = claims.claim()) {
            if (!Llama.llama_memory_can_shift(memory)) {
                throw new IllegalStateException("this context's KV cache cannot shift positions");
            }
            // llama.cpp adds in int32 without a check: an overflow wraps, and cells pushed below 0 are dropped.
            int max = Llama.llama_memory_seq_pos_max(memory, seq);
            int min = Llama.llama_memory_seq_pos_min(memory, seq);
            if (max >= 0 && ((long) Math.min(max, p1 < 0 ? max : p1 - 1) + delta > Integer.MAX_VALUE
                    || (long) Math.max(min, p0 < 0 ? min : p0) + delta < Integer.MIN_VALUE)) {
                throw new IllegalArgumentException("shifting positions [" + p0 + ", " + p1 + ") of sequence " + seq
                        + " (now " + min + ".." + max + ") by " + delta + " overflows a 32-bit position");
            }
            Llama.llama_memory_seq_add(memory, seq, p0, p1, delta);
            if (seq == 0) {
                history.truncate(0); // positions no longer match token indices
            }
        }
    }

    /** Whether positions can be shifted. */
    public boolean canShift() {
        try (var claim = claims.claim()) {
            return Llama.llama_memory_can_shift(memory);
        }
    }

    /** Smallest position of a sequence in the cache, or -1 if empty. */
    public int minPosition(int seq) {
        checkSeq(seq, false);
        try (var claim = claims.claim()) {
            return Llama.llama_memory_seq_pos_min(memory, seq);
        }
    }

    /** Largest position of a sequence in the cache, or -1 if empty. */
    public int maxPosition(int seq) {
        checkSeq(seq, false);
        try (var claim = claims.claim()) {
            return Llama.llama_memory_seq_pos_max(memory, seq);
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
