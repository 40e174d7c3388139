package io.github.llamaffm.springai;

import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.DefaultToolCallingChatOptions;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import org.springframework.ai.tool.ToolCallback;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Spring AI's chat options with tools ({@link org.springframework.ai.model.tool.ToolCallingChatOptions}) and native
 * structured output ({@link StructuredOutputChatOptions}: the reply is constrained by a grammar built from the JSON
 * Schema), plus llama-ffm's {@link #getToolChoice() tool choice} and {@link #getSeed() seed}.
 */
public final class LlamaFfmChatOptions extends DefaultToolCallingChatOptions implements StructuredOutputChatOptions {
    private final @Nullable String outputSchema;
    private final @Nullable String toolChoice;
    private final @Nullable Long seed;

    private LlamaFfmChatOptions(@Nullable List<ToolCallback> toolCallbacks, @Nullable Map<String, Object> toolContext,
                                @Nullable String model, @Nullable Double frequencyPenalty, @Nullable Integer maxTokens,
                                @Nullable Double presencePenalty, @Nullable List<String> stopSequences,
                                @Nullable Double temperature, @Nullable Integer topK, @Nullable Double topP,
                                @Nullable String outputSchema, @Nullable String toolChoice, @Nullable Long seed) {
        super(toolCallbacks, toolContext, model, frequencyPenalty, maxTokens, presencePenalty, stopSequences,
                temperature, topK, topP);
        this.outputSchema = outputSchema;
        this.toolChoice = toolChoice;
        this.seed = seed;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** JSON Schema the reply must satisfy (set by {@code ChatClient...entity(...)} with native structured output). */
    @Override
    public @Nullable String getOutputSchema() {
        return outputSchema;
    }

    /** {@code auto} (default), {@code required} (some tool must be called), {@code none}, or a tool's name. */
    public @Nullable String getToolChoice() {
        return toolChoice;
    }

    /** Seed of the random sampler; unset: random per request. */
    public @Nullable Long getSeed() {
        return seed;
    }

    @Override
    public Builder mutate() {
        Builder b = builder().model(getModel()).frequencyPenalty(getFrequencyPenalty()).maxTokens(getMaxTokens())
                .presencePenalty(getPresencePenalty()).stopSequences(getStopSequences()).temperature(getTemperature())
                .topK(getTopK()).topP(getTopP()).toolCallbacks(getToolCallbacks()).toolContext(getToolContext());
        b.outputSchema = outputSchema;
        b.toolChoice = toolChoice;
        b.seed = seed;
        return b;
    }

    @Override
    public boolean equals(@Nullable Object o) {
        return o instanceof LlamaFfmChatOptions that && super.equals(o) && Objects.equals(outputSchema, that.outputSchema)
                && Objects.equals(toolChoice, that.toolChoice) && Objects.equals(seed, that.seed);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), outputSchema, toolChoice, seed);
    }

    /** Builds {@link LlamaFfmChatOptions}; every value defaults to unset. */
    public static final class Builder extends DefaultToolCallingChatOptions.Builder<Builder>
            implements StructuredOutputChatOptions.Builder<Builder> {
        private @Nullable String outputSchema;
        private @Nullable String toolChoice;
        private @Nullable Long seed;

        @Override
        public Builder outputSchema(@Nullable String outputSchema) {
            this.outputSchema = outputSchema;
            return this;
        }

        /** {@code auto}, {@code required}, {@code none}, or the name of the tool to call. */
        public Builder toolChoice(@Nullable String toolChoice) {
            this.toolChoice = toolChoice;
            return this;
        }

        public Builder seed(@Nullable Long seed) {
            this.seed = seed;
            return this;
        }

        @Override
        public Builder clone() {
            Builder copy = super.clone();
            copy.outputSchema = outputSchema;
            copy.toolChoice = toolChoice;
            copy.seed = seed;
            return copy;
        }

        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder that) {
                outputSchema = that.outputSchema != null ? that.outputSchema : outputSchema;
                toolChoice = that.toolChoice != null ? that.toolChoice : toolChoice;
                seed = that.seed != null ? that.seed : seed;
            }
            return this;
        }

        @Override
        public LlamaFfmChatOptions build() {
            return new LlamaFfmChatOptions(toolCallbacks, toolContext, model, frequencyPenalty, maxTokens,
                    presencePenalty, stopSequences, temperature, topK, topP, outputSchema, toolChoice, seed);
        }
    }

}
