package io.github.llamaffm;

import java.util.List;
import java.util.Objects;

/**
 * A model's reply in a {@link ChatSession}: its text split by llama.cpp's chat parser for the model's format.
 *
 * @param content   the answer text (empty when the reply is only tool calls)
 * @param reasoning the model's reasoning ("thinking") when its format separates it, else empty
 * @param toolCalls the tools the model called, in order
 * @param result    the generation behind it (raw text, tokens, finish reason, timings); {@code null} only for a
 *                  partial reply parsed while streaming ({@link ChatFormat.Prompt#parsePartial})
 */
public record ChatReply(String content, String reasoning, List<ToolCall> toolCalls, GenerationResult result) {
    public ChatReply {
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(reasoning, "reasoning");
        toolCalls = List.copyOf(toolCalls);
    }

    /** Whether the model called tools. */
    public boolean hasToolCalls() {
        return !toolCalls.isEmpty();
    }

    /** The content decoded as JSON into {@code type} (for replies constrained by a schema). */
    public <T> T contentAs(Class<T> type) {
        return JsonSchema.decode(content, type);
    }
}
