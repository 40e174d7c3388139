package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.ToolCall;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns successive parses of a growing reply ({@link ChatFormat.Prompt#parsePartial}) into OpenAI chat-completion
 * deltas: new content and reasoning text, and per tool call its id and name once, then its arguments as they grow
 * (as llama.cpp's common_chat_msg_diff::compute_diffs does). A parse that is not an extension of what was sent (a
 * partial parse may still change its mind) sends nothing until a later one is.
 */
final class DeltaStream {
    private String contentSent = "";
    private String reasoningSent = "";
    private final List<String> argumentsSent = new ArrayList<>();

    DeltaStream(ChatFormat.Prompt prompt) {
    }

    List<ObjectNode> next(ChatReply reply) {
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
        List<ToolCall> tc = reply.toolCalls();
        for (int i = 0; i < tc.size(); i++) {
            ToolCall c = tc.get(i);
            if (c.name().isEmpty()) {
                break; // not far enough to name the tool yet
            }
            ObjectNode delta = Requests.MAPPER.createObjectNode();
            ObjectNode call = delta.putArray("tool_calls").addObject().put("index", i);
            ObjectNode function = call.putObject("function");
            boolean first = i >= argumentsSent.size();
            if (first) {
                argumentsSent.add("");
                call.put("id", c.id()).put("type", "function");
                function.put("name", c.name());
            }
            String sent = argumentsSent.get(i);
            String args = c.arguments();
            if (args.length() > sent.length() && args.startsWith(sent)) {
                function.put("arguments", args.substring(sent.length()));
                argumentsSent.set(i, args);
            } else if (first) {
                function.put("arguments", "");
            } else {
                continue;
            }
            out.add(delta);
        }
        return out;
    }
}
