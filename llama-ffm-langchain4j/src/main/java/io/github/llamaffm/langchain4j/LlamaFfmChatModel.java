package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.github.llamaffm.GenerationService;

/**
 * A LangChain4j {@link ChatModel} running a GGUF model in process through llama-ffm: messages rendered with the
 * model's chat template, LangChain4j's request parameters mapped onto llama.cpp's sampler, token usage and finish
 * reason reported. Calls from many threads are served together through a {@link GenerationService} (continuous
 * batching over {@link ChatModelBuilder#parallelSequences(int)} sequences).
 *
 * {@snippet :
 * try (LlamaFfmChatModel model = LlamaFfmChatModel.builder()
 *         .modelPath(Path.of("mistral-7b-instruct-v0.2.Q4_K_M.gguf"))
 *         .contextSize(8192).parallelSequences(4).temperature(0.7)
 *         .build()) {
 *     String answer = model.chat("Summarise sliding window attention in one line.");
 * }
 * }
 *
 * <p>Tools ({@code ToolSpecification}s, tool choice AUTO/REQUIRED/NONE) and JSON response formats (with or without
 * a schema) go through the model's chat format: llama.cpp's grammar constrains the reply and its parser returns the
 * tool calls ({@link dev.langchain4j.model.output.FinishReason#TOOL_EXECUTION}). Image/audio content is not
 * supported (LangChain4j's {@code UnsupportedFeatureException}, before anything is generated).
 */
public final class LlamaFfmChatModel extends LlamaFfmModelBase implements ChatModel {
    private LlamaFfmChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        Rendered rendered = render(request);
        return ChatMapping.response(rendered.prompt().parse(enqueue(rendered, token -> { }).await()), engine.modelName);
    }

    /** Builds a {@link LlamaFfmChatModel}; see {@link ChatModelBuilder}. */
    public static final class Builder extends ChatModelBuilder<Builder> {
        private Builder() {}

        /** Loads the model (for {@link #modelPath}) and starts serving. */
        public LlamaFfmChatModel build() {
            return new LlamaFfmChatModel(this);
        }
    }
}
