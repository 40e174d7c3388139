package io.github.llamaffm;

/**
 * What a generation does when its sequence has no KV cell left for the next token
 * ({@link ContextOptions.Builder#overflow(ContextOverflow)}).
 */
public enum ContextOverflow {
    /** The generation ends with {@link FinishReason#CONTEXT_FULL}. The default. */
    FAIL,
    /**
     * Context shift, as llama.cpp's {@code llama-completion} and {@code llama-server} do it: when the next token would
     * take the sequence's last cell, keep the first {@link ContextOptions#shiftKeepTokens()} tokens (plus the BOS
     * token), drop the oldest half of the rest, and move the newer half down to close the gap, so generation goes on
     * indefinitely while the model sees its start and its most recent tokens.
     *
     * <p>Where the cache can move positions ({@code llama_memory_can_shift}) the dropped cells are removed and the
     * newer half's keys are re-rotated in place (no decoding). Where it cannot — a sliding-window model with the
     * rolling cache ({@link ContextOptions.Builder#swaFull(boolean) swaFull(false)}, the default), or a recurrent
     * model — the same tokens are kept by decoding them again: the sequence's cells are emptied and the kept tokens
     * plus the newer half are decoded as a fresh prompt (one prompt-sized decode per shift instead of none; the
     * continuation then equals a generation whose prompt was exactly those tokens).
     */
    SHIFT
}
