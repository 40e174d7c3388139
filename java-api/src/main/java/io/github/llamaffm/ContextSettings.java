package io.github.llamaffm;

/**
 * The values a {@link LlamaContext} really runs with, as llama.cpp reports them after creating it: unset
 * {@link ContextOptions} resolved for this model and machine, and llama.cpp's own adjustments (e.g. padding).
 *
 * @param contextSize         KV cache capacity in tokens, all sequences together ({@code llama_n_ctx})
 * @param sequenceContextSize cells one sequence can use ({@code llama_n_ctx_seq}: the context size divided by the
 *                            sequences unless the cache is unified)
 * @param sequences           parallel sequences ({@code llama_n_seq_max})
 * @param batchSize           most tokens per decode call ({@code llama_n_batch})
 * @param microBatchSize      tokens per compute graph ({@code llama_n_ubatch})
 * @param threads             threads for generation ({@code llama_n_threads})
 * @param batchThreads        threads for prompt processing ({@code llama_n_threads_batch})
 * @param kvCacheBytes        bytes of KV cache buffers llama.cpp allocated ({@link LlamaContext#kvCacheBytes()}; -1
 *                            where the natives lack the chat glue)
 * @param backendSampling     whether eligible generations sample inside the decode graph
 *                            ({@link ContextOptions.Builder#backendSampling(boolean)}, resolved)
 */
public record ContextSettings(int contextSize, int sequenceContextSize, int sequences, int batchSize,
                              int microBatchSize, int threads, int batchThreads, long kvCacheBytes,
                              boolean backendSampling) {
}
