package io.github.llamaffm;

/**
 * Summary of a finished generation.
 *
 * @param text              all text the generation emitted
 * @param finishReason      why it ended
 * @param promptTokens      tokens in the prompt
 * @param cachedPromptTokens prompt tokens reused from the KV cache (not decoded again)
 * @param generatedTokens   tokens sampled
 * @param promptMillis      time for prompt processing: llama.cpp's own timing for a {@link Generation}; wall-clock
 *                          from submission to the first token for a {@link SequenceScheduler} sequence
 * @param generationMillis  time for generating tokens: llama.cpp's own timing for a {@link Generation}; wall-clock
 *                          from the first token to the end for a scheduled sequence
 * @param contextShifts     context shifts made to go on past a full sequence ({@link ContextOverflow#SHIFT})
 * @param draftTokens       tokens guessed by {@link Speculation} and checked by the model (0 without speculation)
 * @param acceptedDraftTokens guessed tokens the model accepted: each saved one decode step
 */
public record GenerationResult(String text, FinishReason finishReason, int promptTokens, int cachedPromptTokens,
                               int generatedTokens, double promptMillis, double generationMillis, int contextShifts,
                               int draftTokens, int acceptedDraftTokens) {
    /** A result without speculation. */
    public GenerationResult(String text, FinishReason finishReason, int promptTokens, int cachedPromptTokens,
                            int generatedTokens, double promptMillis, double generationMillis, int contextShifts) {
        this(text, finishReason, promptTokens, cachedPromptTokens, generatedTokens, promptMillis, generationMillis,
                contextShifts, 0, 0);
    }

    /** A result without context shifts. */
    public GenerationResult(String text, FinishReason finishReason, int promptTokens, int cachedPromptTokens,
                            int generatedTokens, double promptMillis, double generationMillis) {
        this(text, finishReason, promptTokens, cachedPromptTokens, generatedTokens, promptMillis, generationMillis, 0);
    }

    /** Generated tokens per second of {@link #generationMillis()}; 0 if unknown. */
    public double tokensPerSecond() {
        return generationMillis > 0 ? generatedTokens * 1000.0 / generationMillis : 0;
    }

    /** {@link #acceptedDraftTokens()} / {@link #draftTokens()}; 0 when nothing was guessed. */
    public double draftAcceptanceRate() {
        return draftTokens > 0 ? (double) acceptedDraftTokens / draftTokens : 0;
    }
}
