package io.github.llamaffm;

import java.util.Map;
import java.util.Optional;

/**
 * What a loaded model is, as llama.cpp reports it.
 *
 * @param architecture     {@code general.architecture}, e.g. {@code llama} (Mistral 7B loads as {@code llama})
 * @param description      llama.cpp's one-line description (type, size, quantization)
 * @param sizeBytes        total size of the weights
 * @param parameterCount   number of parameters
 * @param trainingContext  context length the model was trained with
 * @param embeddingSize    hidden size
 * @param layers           transformer blocks
 * @param heads            attention (query) heads
 * @param kvHeads          key/value heads; fewer than {@code heads} means grouped-query attention
 * @param slidingWindow    effective sliding attention window in tokens ({@code llama_model_n_swa}); 0 = none
 * @param vocabularySize   number of tokens
 * @param chatTemplate     the model's built-in chat template, if any
 * @param metadata         all GGUF metadata as llama.cpp renders it (arrays are summarised by llama.cpp)
 */
public record ModelInfo(String architecture, String description, long sizeBytes, long parameterCount,
                        int trainingContext, int embeddingSize, int layers, int heads, int kvHeads,
                        int slidingWindow, int vocabularySize, Optional<String> chatTemplate,
                        Map<String, String> metadata) {
    public ModelInfo {
        metadata = java.util.Collections.unmodifiableSequencedMap(new java.util.LinkedHashMap<>(metadata));
    }
}
