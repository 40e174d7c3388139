package io.github.llamaffm;

/** Why a generation ended. */
public enum FinishReason {
    /** The model produced an end-of-generation token (EOS/EOT). */
    END_OF_GENERATION,
    /** The token limit ({@link GenerateOptions#maxTokens()}) was reached. */
    MAX_TOKENS,
    /** A stop string was produced; the text stops right before it. */
    STOP_STRING,
    /** The context has no room for another token. */
    CONTEXT_FULL,
    /** {@link Generation#cancel()} or {@link LlamaContext#cancel()} was called, or the generation was closed early. */
    CANCELLED
}
