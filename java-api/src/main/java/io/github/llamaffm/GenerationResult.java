package io.github.llamaffm;

/**
 * Summary of a finished generation.
 *
 * @param text              all text the generation emitted
 * @param finishReason      why it ended
 * @param promptTokens      tokens in the prompt
 * @param cachedPromptTokens prompt tokens reused from the KV cache (not decoded again)
 * @param generatedTokens   tokens sampled
 * @param promptMillis      llama.cpp's time for prompt processing
 * @param generationMillis  llama.cpp's time for generating tokens
 */
public record GenerationResult(String text, FinishReason finishReason, int promptTokens, int cachedPromptTokens,
                               int generatedTokens, double promptMillis, double generationMillis) {
    /** Generated tokens per second of generation time (llama.cpp's eval timing); 0 if unknown. */
    public double tokensPerSecond() {
        return generationMillis > 0 ? generatedTokens * 1000.0 / generationMillis : 0;
    }
}
