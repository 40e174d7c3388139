package io.github.llamaffm;

import java.util.List;
import java.util.Objects;

/**
 * One chat message.
 *
 * @param role       {@code system}, {@code user}, {@code assistant} or {@code tool} (templates may accept others)
 * @param content    the text (for a tool message: the tool's result)
 * @param toolCalls  for an assistant message, the tools it called (else empty)
 * @param toolCallId for a tool message, the id of the call it answers (else {@code null})
 * @param toolName   for a tool message, the tool's name (else {@code null})
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String toolName) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        toolCalls = List.copyOf(toolCalls);
    }

    /** A message without tool calls. */
    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null, null);
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** An assistant message that called tools. */
    public static ChatMessage assistant(String content, List<ToolCall> toolCalls) {
        return new ChatMessage("assistant", content, toolCalls, null, null);
    }

    /** The result of a tool call, sent back to the model (role {@code tool}). */
    public static ChatMessage toolResult(ToolCall call, String result) {
        Objects.requireNonNull(call, "call");
        return new ChatMessage("tool", result, List.of(), call.id(), call.name());
    }
}
