package io.github.llamaffm.spring.boot;

import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code llama-ffm.*} in {@code application.properties}. Only {@code llama-ffm.model} is required; everything else
 * defaults to llama-ffm's own defaults (which depend on the model and machine where noted).
 *
 * <pre>
 * llama-ffm.model=/models/mistral-7b-instruct-v0.2.Q4_K_M.gguf
 * # or: llama-ffm.model=hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF/mistral-7b-instruct-v0.2.Q4_K_M.gguf
 * llama-ffm.gpu-layers=99
 * llama-ffm.context-size=8192
 * llama-ffm.parallel-sequences=4
 * llama-ffm.sliding-window=0
 * llama-ffm.chat.temperature=0.7
 * llama-ffm.embedding.enabled=true
 * </pre>
 */
@ConfigurationProperties(prefix = "llama-ffm")
public class LlamaFfmProperties {
    /**
     * GGUF file to load: a local path, an {@code http(s)://} URL or {@code hf:owner/repo[@revision]/path/file.gguf}
     * (downloaded once into {@link #modelCache}, verified by Hugging Face's sha256 or a {@code #sha256=HEX} suffix,
     * then used offline). Required: without it nothing is configured.
     */
    private String model;
    /**
     * Folder for downloaded models; unset: system property {@code llamaffm.model.cache}, else environment variable
     * {@code LLAMAFFM_MODEL_CACHE}, else {@code ~/.cache/llama-ffm/models} (shared with the CLI).
     */
    private String modelCache;
    /** Layers offloaded to the GPU; unset: llama-ffm's default (all, where a GPU backend is present). */
    private Integer gpuLayers;
    /** Context size in tokens, shared by the parallel sequences; unset: 4096 capped to the model's training context. */
    private Integer contextSize;
    /** Requests generated at once, sharing each decode; more wait in a queue. */
    private int parallelSequences = 1;
    /** Sliding attention window to force (4096 for Mistral 7B v0.1); unset: the model's own. */
    private Integer slidingWindow;
    /** Chat template source or llama.cpp built-in name; unset: the model's own. */
    private String chatTemplate;
    private final Chat chat = new Chat();
    private final Embedding embedding = new Embedding();

    /** Default options of every chat call (a prompt's options override them). Unset: llama.cpp's defaults. */
    public static class Chat {
        private Double temperature;
        private Double topP;
        private Integer topK;
        private Integer maxTokens;

        public Double getTemperature() { return temperature; }
        public void setTemperature(Double temperature) { this.temperature = temperature; }
        public Double getTopP() { return topP; }
        public void setTopP(Double topP) { this.topP = topP; }
        public Integer getTopK() { return topK; }
        public void setTopK(Integer topK) { this.topK = topK; }
        public Integer getMaxTokens() { return maxTokens; }
        public void setMaxTokens(Integer maxTokens) { this.maxTokens = maxTokens; }
    }

    /** An {@code EmbeddingModel} bean on a second (embeddings) context of the same model. */
    public static class Embedding {
        /** Whether to create it. */
        private boolean enabled;

        public boolean isEnabled() { return enabled; }
        public void setEnabled(boolean enabled) { this.enabled = enabled; }
    }

    public String getModel() { return model; }
    public void setModel(String model) { this.model = model; }
    public String getModelCache() { return modelCache; }
    public void setModelCache(String modelCache) { this.modelCache = modelCache; }
    public Integer getGpuLayers() { return gpuLayers; }
    public void setGpuLayers(Integer gpuLayers) { this.gpuLayers = gpuLayers; }
    public Integer getContextSize() { return contextSize; }
    public void setContextSize(Integer contextSize) { this.contextSize = contextSize; }
    public int getParallelSequences() { return parallelSequences; }
    public void setParallelSequences(int parallelSequences) { this.parallelSequences = parallelSequences; }
    public Integer getSlidingWindow() { return slidingWindow; }
    public void setSlidingWindow(Integer slidingWindow) { this.slidingWindow = slidingWindow; }
    public String getChatTemplate() { return chatTemplate; }
    public void setChatTemplate(String chatTemplate) { this.chatTemplate = chatTemplate; }
    public Chat getChat() { return chat; }
    public Embedding getEmbedding() { return embedding; }
}
