package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.ModelOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@link LlamaFfmChatModel#builder()} and {@link LlamaFfmStreamingChatModel#builder()} share: where the model
 * comes from and the default request parameters.
 *
 * <p>Either {@link #modelPath(Path)} (the chat model loads the file, owns it and frees it on {@code close()}), or
 * {@link #service(GenerationService)} (a model already loaded and served, e.g. {@code chatModel.service()}, shared by
 * several chat models; never closed by them).
 *
 * @param <B> the concrete builder
 */
public abstract class ChatModelBuilder<B extends ChatModelBuilder<B>> {
    private GenerationService service;
    private Path modelPath;
    private ModelOptions.Builder modelOptions = ModelOptions.builder();
    private ContextOptions.Builder contextOptions = ContextOptions.builder();
    private String chatTemplate;
    private String modelName;
    private final LlamaFfmChatRequestParameters.Builder parameters = LlamaFfmChatRequestParameters.builder();
    private final List<ChatModelListener> listeners = new ArrayList<>();

    ChatModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** Serve requests on an existing service (shared; not closed by this model). */
    public B service(GenerationService service) {
        this.service = Objects.requireNonNull(service, "service");
        return self();
    }

    /** Load this GGUF file (owned by the model built). */
    public B modelPath(Path modelPath) {
        this.modelPath = Objects.requireNonNull(modelPath, "modelPath");
        return self();
    }

    /** Load options for {@link #modelPath(Path)}; defaults to {@link ModelOptions#defaults()}. */
    public B modelOptions(ModelOptions options) {
        this.modelOptions = options.toBuilder();
        return self();
    }

    /** Context options for {@link #modelPath(Path)}; defaults to {@link ContextOptions#defaults()}. */
    public B contextOptions(ContextOptions options) {
        this.contextOptions = options.toBuilder();
        return self();
    }

    /** Layers offloaded to the GPU (see {@link ModelOptions.Builder#gpuLayers(int)}). */
    public B gpuLayers(int gpuLayers) {
        modelOptions.gpuLayers(gpuLayers);
        return self();
    }

    /** Sliding attention window to force, e.g. 4096 for Mistral 7B v0.1 (see {@link ModelOptions.Builder#slidingWindow(int)}). */
    public B slidingWindow(int slidingWindow) {
        modelOptions.slidingWindow(slidingWindow);
        return self();
    }

    /** Context size in tokens, shared by the parallel sequences (see {@link ContextOptions.Builder#contextSize(int)}). */
    public B contextSize(int contextSize) {
        contextOptions.contextSize(contextSize);
        return self();
    }

    /** Requests generated at once, sharing each decode; more wait in a queue. Defaults to 1. */
    public B parallelSequences(int sequences) {
        contextOptions.sequences(sequences);
        return self();
    }

    /** Chat template source or llama.cpp built-in name; defaults to the model's own. */
    public B chatTemplate(String chatTemplate) {
        this.chatTemplate = chatTemplate;
        return self();
    }

    /** The name reported in responses; defaults to the model's file name. A request naming another model fails. */
    public B modelName(String modelName) {
        this.modelName = modelName;
        return self();
    }

    public B temperature(Double temperature) {
        parameters.temperature(temperature);
        return self();
    }

    public B topP(Double topP) {
        parameters.topP(topP);
        return self();
    }

    public B topK(Integer topK) {
        parameters.topK(topK);
        return self();
    }

    public B minP(Double minP) {
        parameters.minP(minP);
        return self();
    }

    public B seed(Long seed) {
        parameters.seed(seed);
        return self();
    }

    public B frequencyPenalty(Double frequencyPenalty) {
        parameters.frequencyPenalty(frequencyPenalty);
        return self();
    }

    public B presencePenalty(Double presencePenalty) {
        parameters.presencePenalty(presencePenalty);
        return self();
    }

    public B repeatPenalty(Double repeatPenalty) {
        parameters.repeatPenalty(repeatPenalty);
        return self();
    }

    /** Most tokens per reply; defaults to {@link GenerateOptions#maxTokens()} of the defaults (512). */
    public B maxOutputTokens(Integer maxOutputTokens) {
        parameters.maxOutputTokens(maxOutputTokens);
        return self();
    }

    public B stopSequences(List<String> stopSequences) {
        parameters.stopSequences(stopSequences);
        return self();
    }

    /** Default parameters of every request (the single setters above override them). */
    public B defaultRequestParameters(ChatRequestParameters defaults) {
        LlamaFfmChatRequestParameters.Builder merged = LlamaFfmChatRequestParameters.builder()
                .overrideWith(defaults).overrideWith(parameters.build());
        parameters.overrideWith(merged.build());
        return self();
    }

    public B listeners(List<ChatModelListener> listeners) {
        this.listeners.clear();
        this.listeners.addAll(listeners);
        return self();
    }

    // --- for the models ---------------------------------------------------------------------------------------

    Engine engine() {
        if ((service == null) == (modelPath == null)) {
            throw new IllegalArgumentException("set exactly one of modelPath(...) and service(...)");
        }
        return service != null ? Engine.shared(service, chatTemplate, modelName)
                : Engine.load(modelPath, modelOptions.build(), contextOptions.build(), chatTemplate, modelName);
    }

    LlamaFfmChatRequestParameters parameters() {
        return parameters.build();
    }

    List<ChatModelListener> listeners() {
        return List.copyOf(listeners);
    }
}
