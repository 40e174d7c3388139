package io.github.llamaffm;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a reply adds from one parse to the next while it streams: new content and reasoning text, new argument text of
 * the tool call being written, and each call once it is certainly complete (the next call has begun, or the reply
 * ended; a call that the token limit cut off is never completed, as {@link ChatFormat.Prompt#parse} leaves it out).
 * Feed it successive parses of one reply ({@link ChatFormat.Prompt#parsePartial} of the text so far), then the final
 * {@link ChatFormat.Prompt#parse}. Text is only ever added: a parse that rewrites what was already sent (rare: a
 * partial parse that healed text differently) adds nothing until it extends it again. One instance per reply; not
 * thread-safe.
 *
 * {@snippet :
 * ReplyDeltas deltas = new ReplyDeltas();
 * // per token: text.append(token.text());
 * ReplyDeltas.Delta d = deltas.next(prompt.parsePartial(text.toString()));
 * // at the end:
 * ReplyDeltas.Delta last = deltas.finish(prompt.parse(result));
 * }
 */
public final class ReplyDeltas {
    private String contentSent = "";
    private String reasoningSent = "";
    private String argumentsSent = "";
    private int completed;

    /**
     * What one parse added.
     *
     * @param content   new answer text (empty for none)
     * @param reasoning new reasoning text (empty for none)
     * @param toolCalls tool-call changes in order: argument text of a call, then its completion, then the next call's
     */
    public record Delta(String content, String reasoning, List<ToolCallDelta> toolCalls) {
        public Delta {
            Objects.requireNonNull(content, "content");
            Objects.requireNonNull(reasoning, "reasoning");
            toolCalls = List.copyOf(toolCalls);
        }

        /** Whether the parse added nothing. */
        public boolean isEmpty() {
            return content.isEmpty() && reasoning.isEmpty() && toolCalls.isEmpty();
        }
    }

    /**
     * A change of one tool call.
     *
     * @param index     the call's position in the reply (0 for the first)
     * @param call      the call as parsed so far (its id and name do not change; its arguments are complete JSON when
     *                  {@code complete})
     * @param arguments argument text added since the call's previous delta (may be empty)
     * @param complete  whether the call is finished: no later delta names it
     */
    public record ToolCallDelta(int index, ToolCall call, String arguments, boolean complete) {
        public ToolCallDelta {
            Objects.requireNonNull(call, "call");
            Objects.requireNonNull(arguments, "arguments");
        }
    }

    /** What {@code partial} (a parse of the reply so far) adds; its last call may still be growing. */
    public Delta next(ChatReply partial) {
        return delta(partial, false);
    }

    /** What the final parse adds; every call in it is complete. */
    public Delta finish(ChatReply reply) {
        return delta(reply, true);
    }

    private Delta delta(ChatReply reply, boolean last) {
        Objects.requireNonNull(reply, "reply");
        String reasoning = added(reply.reasoning(), reasoningSent);
        reasoningSent += reasoning;
        String content = added(reply.content(), contentSent);
        contentSent += content;
        List<ToolCallDelta> calls = new ArrayList<>();
        List<ToolCall> parsed = reply.toolCalls();
        for (int i = completed; i < parsed.size(); i++) {
            ToolCall call = parsed.get(i);
            String args = added(call.arguments(), argumentsSent);
            argumentsSent += args;
            boolean complete = i < parsed.size() - 1 || last;
            if (!args.isEmpty() || complete) {
                calls.add(new ToolCallDelta(i, call, args, complete));
            }
            if (complete) {
                completed = i + 1;
                argumentsSent = "";
            }
        }
        return new Delta(content, reasoning, calls);
    }

    /** The text {@code now} adds to {@code sent}, or "" when it does not extend it. */
    private static String added(String now, String sent) {
        return now.length() > sent.length() && now.startsWith(sent) ? now.substring(sent.length()) : "";
    }
}
