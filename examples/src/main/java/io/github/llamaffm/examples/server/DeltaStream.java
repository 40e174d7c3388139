package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.ReplyDeltas;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns successive parses of a growing reply ({@link ChatFormat.Prompt#parsePartial}) into OpenAI chat-completion
 * deltas, through the library's {@link ReplyDeltas} (as llama.cpp's common_chat_msg_diff::compute_diffs does): new
 * reasoning and content text as it grows, and each tool call in one delta (id, name, complete arguments) once it is
 * certainly complete: when the next call has begun, or at the end ({@link #finish}), where a call the token limit cut
 * off is never sent. A call's arguments are never streamed piecemeal, since a partial parse cannot tell a cut-off call
 * from one still being written.
 */
final class DeltaStream {
    private final ReplyDeltas deltas = new ReplyDeltas();

    /** Deltas for a partial parse of the reply so far. */
    List<ObjectNode> next(ChatReply partial) {
        return json(deltas.next(partial));
    }

    /** Deltas for the final parse ({@link ChatFormat.Prompt#parse}). */
    List<ObjectNode> finish(ChatReply reply) {
        return json(deltas.finish(reply));
    }

    private static List<ObjectNode> json(ReplyDeltas.Delta d) {
        List<ObjectNode> out = new ArrayList<>();
        if (!d.reasoning().isEmpty()) {
            out.add(Requests.MAPPER.createObjectNode().put("reasoning_content", d.reasoning()));
        }
        if (!d.content().isEmpty()) {
            out.add(Requests.MAPPER.createObjectNode().put("content", d.content()));
        }
        for (ReplyDeltas.ToolCallDelta c : d.toolCalls()) {
            if (c.complete()) {
                ObjectNode delta = Requests.MAPPER.createObjectNode();
                delta.putArray("tool_calls").addObject().put("index", c.index()).put("id", c.call().id())
                        .put("type", "function").putObject("function").put("name", c.call().name())
                        .put("arguments", c.call().arguments());
                out.add(delta);
            }
        }
        return out;
    }
}
