package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Deltas between successive parses of a reply (the rule the LangChain4j and Spring AI adapters and the server share).
 * Outside truth: llama.cpp's own parses of Qwen 2.5's tool-call format are checked in JinjaChatUpstreamTest and
 * StructuredOutputTest; here the parses are written out, and what the deltas add up to must be the final reply.
 */
@Tag("no-model")
class ReplyDeltasTest {
    private static ChatReply reply(String content, String reasoning, ToolCall... calls) {
        return new ChatReply(content, reasoning, List.of(calls), null);
    }

    @Test
    void contentReasoningAndCallsAddUpToTheFinalReplyInOrder() {
        ToolCall a1 = new ToolCall("a", "get_weather", "{\"ci");
        ToolCall a2 = new ToolCall("a", "get_weather", "{\"city\": \"Paris\"}");
        ToolCall b1 = new ToolCall("b", "get_time", "{");
        ToolCall b2 = new ToolCall("b", "get_time", "{\"zone\": 1}");
        ReplyDeltas deltas = new ReplyDeltas();
        List<ReplyDeltas.Delta> seen = List.of(
                deltas.next(reply("", "Let me")),
                deltas.next(reply("", "Let me think")),
                deltas.next(reply("Sure", "Let me think", a1)),
                deltas.next(reply("Sure", "Let me think", a2)),
                deltas.next(reply("Sure", "Let me think", a2, b1)),
                deltas.next(reply("Sure", "Let me think", a2, b1)), // nothing new
                deltas.finish(reply("Sure", "Let me think", a2, b2)));

        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        StringBuilder args = new StringBuilder();
        StringBuilder order = new StringBuilder();
        for (ReplyDeltas.Delta d : seen) {
            content.append(d.content());
            reasoning.append(d.reasoning());
            for (ReplyDeltas.ToolCallDelta c : d.toolCalls()) {
                args.append(c.arguments());
                order.append(c.index()).append(c.complete() ? "!" : "+");
                if (c.complete()) {
                    assertThat(c.call()).isEqualTo(c.index() == 0 ? a2 : b2);
                    assertThat(args.toString()).isEqualTo(c.call().arguments());
                    args.setLength(0);
                }
            }
        }
        assertThat(content.toString()).isEqualTo("Sure");
        assertThat(reasoning.toString()).isEqualTo("Let me think");
        assertThat(order.toString()).isEqualTo("0+0+0!1+1!");
        assertThat(seen.get(5).isEmpty()).isTrue();
    }

    @Test
    void aCallTheFinalParseLeftOutIsNeverCompletedAndRewrittenTextAddsNothing() {
        ReplyDeltas deltas = new ReplyDeltas();
        deltas.next(reply("Hello wor", ""));
        // a parse that rewrites what was sent adds nothing until it extends it again
        assertThat(deltas.next(reply("Hello, wor", "")).content()).isEmpty();
        assertThat(deltas.next(reply("Hello world", "")).content()).isEqualTo("ld");
        assertThat(deltas.next(reply("Hello world", "", new ToolCall("x", "f", "{\"a\": \"unfini"))).toolCalls())
                .singleElement().satisfies(c -> assertThat(c.complete()).isFalse());
        // the token limit cut the call off: the final parse leaves it out, so it is never completed
        assertThat(deltas.finish(reply("Hello world", "")).isEmpty()).isTrue();
    }
}
