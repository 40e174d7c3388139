package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.ToolCall;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns successive parses of a growing reply ({@link ChatFormat.Prompt#parsePartial}) into OpenAI chat-completion
 * deltas: new content and reasoning text as it grows (as llama.cpp's common_chat_msg_diff::compute_diffs does), and
 * each tool call in one delta (id, name, complete arguments) once it is certainly complete: when the next call has
 * begun, or at the end ({@link #finish}), where a call the token limit cut off is never sent. A call's arguments are
 * never streamed piecemeal, since a partial parse cannot tell a cut-off call from one still being written.
 */
final class DeltaStream {
    private String contentSent = "";
    private String reasoningSent = "";
    private int callsSent;

    /** Deltas for a partial parse of the reply so far. */
    List<ObjectNode> next(ChatReply partial) {
        return deltas(partial, partial.toolCalls().size() - 1);
    }

    /** Deltas for the final parse ({@link ChatFormat.Prompt#parse}). */
    List<ObjectNode> finish(ChatReply reply) {
        return deltas(reply, reply.toolCalls().size());
    }

    private List<ObjectNode> deltas(ChatReply reply, int completeCalls) {
        List<ObjectNode> out = new ArrayList<>();
        String reasoning = reply.reasoning();
        if (reasoning.length() > reasoningSent.length() && reasoning.startsWith(reasoningSent)) {
            out.add(Requests.MAPPER.createObjectNode().put("reasoning_content",
                    reasoning.substring(reasoningSent.length())));
            reasoningSent = reasoning;
        }
        String content = reply.content();
        if (content.length() > contentSent.length() && content.startsWith(contentSent)) {
            out.add(Requests.MAPPER.createObjectNode().put("content", content.substring(contentSent.length())));
            contentSent = content;
        }
        List<ToolCall> calls = reply.toolCalls();
        for (; callsSent < completeCalls; callsSent++) {
            ToolCall c = calls.get(callsSent);
            ObjectNode delta = Requests.MAPPER.createObjectNode();
            delta.putArray("tool_calls").addObject().put("index", callsSent).put("id", c.id()).put("type", "function")
                    .putObject("function").put("name", c.name()).put("arguments", c.arguments());
            out.add(delta);
        }
        return out;
    }
}
