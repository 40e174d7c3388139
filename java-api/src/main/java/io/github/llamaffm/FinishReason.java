package io.github.llamaffm;

/** Why a generation ended. */
public enum FinishReason {
    /** The model produced an end-of-generation token (EOS/EOT). */
    END_OF_GENERATION,
    /** The token limit ({@link GenerateOptions#maxTokens()}) was reached. */
    MAX_TOKENS,
    /** A stop string was produced; the text stops right before it. */
    STOP_STRING,
    /** The context (or the sequence's share of it) has no room for another token. */
    CONTEXT_FULL,
    /**
     * Ended on request: {@link Generation#cancel()}, {@link LlamaContext#cancel()},
     * {@link SequenceScheduler.Sequence#cancel()}, closing an unfinished generation or scheduler, or starting another
     * generation on the same context.
     */
    CANCELLED,
    /**
     * Ended by a failure: a failed decode, a {@link CustomSampler} or a token consumer/listener that threw. For a
     * {@link Generation} the exception reaches the caller; for a scheduled sequence it is in
     * {@link SequenceScheduler.Sequence#failure()}.
     */
    ERROR
}
