package io.github.llamaffm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.internal.ChatGlue;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The chat glue (llama.cpp's common: Jinja engine, chat.h) against upstream's own expectations, read from the pinned
 * source at test time: every Jinja case of tests/test-chat-template.cpp renders byte-identically, and the tool-call
 * parsing vectors of tests/test-chat.cpp for the Mistral (Nemo, Small 3.2, Devstral, Ministral 3), Llama 3.x, Qwen
 * 2.5/3, Hermes 2 Pro/3 and Functionary v3.1/v3.2 templates (models/templates/*.jinja) give upstream's messages.
 */
@Tag("no-model")
class JinjaChatUpstreamTest {
    private static Path src;
    private static String testChat;
    /** test-chat.cpp with adjacent string literals joined, to find a vector written over several lines. */
    private static String testChatJoined;

    @BeforeAll
    static void readUpstream() throws IOException {
        src = TestModels.llamaSource();
        testChat = Files.readString(src.resolve("tests/test-chat.cpp"));
        testChatJoined = testChat.replaceAll("\"\\s*\n\\s*\"", "");
        assertThat(tool("special_function_tool").at("/function/parameters/required/0").asText()).isEqualTo("arg1");
    }

    /** A tool of test-chat.cpp ({@code static common_chat_tool <variable>{name, description, R"(schema)"}}). */
    private static ObjectNode tool(String variable) throws IOException {
        int at = testChat.indexOf("static common_chat_tool " + variable + "{");
        assertThat(at).as(variable + " in test-chat.cpp").isPositive();
        String name = literalAfter(testChat, testChat.indexOf("/* .name = */", at) + 13);
        String description = literalAfter(testChat, testChat.indexOf("/* .description = */", at) + 20);
        int open = testChat.indexOf("R\"(", at) + 3;
        ObjectNode tool = ChatGlue.JSON.createObjectNode().put("type", "function");
        tool.putObject("function").put("name", name).put("description", description)
                .set("parameters", ChatGlue.JSON.readTree(testChat.substring(open, testChat.indexOf(")\"", open))));
        return tool;
    }

    // --- rendering: tests/test-chat-template.cpp, jinja half (format_using_common) -----------------------------

    record TemplateCase(String name, String template, String expected, String expectedJinja, String bos, String eos,
                        boolean jinja, boolean extraConversation) {}

    static List<TemplateCase> templateCases() throws IOException {
        String s = Files.readString(src.resolve("tests/test-chat-template.cpp"));
        List<TemplateCase> cases = new ArrayList<>();
        Matcher m = Pattern.compile("/\\* \\.name= \\*/").matcher(s);
        List<Integer> starts = new ArrayList<>();
        while (m.find()) {
            starts.add(m.end());
        }
        for (int k = 0; k < starts.size(); k++) {
            int at = starts.get(k);
            int end = k + 1 < starts.size() ? starts.get(k + 1) : s.length();
            String block = s.substring(at, end);
            cases.add(new TemplateCase(literalAfter(block, 0), field(block, "template_str"),
                    field(block, "expected_output"), field(block, "expected_output_jinja"), field(block, "bos_token"),
                    field(block, "eos_token"), !block.contains("/* .supported_with_jinja= */ false"),
                    block.contains("/* .extra_conversation= */")));
        }
        return cases;
    }

    /** The literal after a field comment {@code / * .field= * /} (upstream writes some without the '='), or "". */
    private static String field(String block, String name) {
        Matcher m = Pattern.compile("/\\* \\." + name + "=? \\*/").matcher(block);
        return m.find() ? literalAfter(block, m.end()) : "";
    }

    /** The conversation test-chat-template.cpp renders with every template. */
    private static ArrayNode conversation() {
        ArrayNode a = ChatGlue.JSON.createArrayNode();
        String[][] msgs = {{"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"},
                {"user", "Who are you"}, {"assistant", "   I am an assistant   "}, {"user", "Another question"}};
        for (String[] msg : msgs) {
            a.addObject().put("role", msg[0]).put("content", msg[1]);
        }
        return a;
    }

    @Test
    void everyJinjaCaseOfTestChatTemplateRendersAsUpstreamExpects() throws IOException {
        String upstream = Files.readString(src.resolve("tests/test-chat-template.cpp"));
        assertThat(upstream).contains("{\"system\", \"You are a helpful assistant\"}",
                "{\"assistant\", \"   I am an assistant   \"}", "inputs.add_generation_prompt = true;");
        List<TemplateCase> cases = templateCases().stream().filter(c -> c.jinja() && !c.extraConversation()).toList();
        assertThat(cases.stream().map(TemplateCase::name)).as("families covered")
                .anyMatch(n -> n.contains("'v1' template")).anyMatch(n -> n.contains("'v3' template"))
                .anyMatch(n -> n.contains("'v3-tekken'")).anyMatch(n -> n.contains("'v7' template"))
                .anyMatch(n -> n.equals("Llama-3"));
        assertThat(cases).hasSizeGreaterThan(25);
        assertThat(cases.stream().filter(c -> c.template().isEmpty()).map(TemplateCase::name)).isEmpty();
        for (TemplateCase c : cases) {
            try (ChatGlue.Templates t = ChatGlue.Templates.create(null, c.template(), c.bos(), c.eos())) {
                ObjectNode in = ChatGlue.JSON.createObjectNode();
                in.set("messages", conversation());
                in.put("add_generation_prompt", true);
                String expected = c.expectedJinja().isEmpty() ? c.expected() : c.expectedJinja();
                assertThat(t.apply(in).get("prompt").asText()).as(c.name()).isEqualTo(expected);
            }
        }
    }

    // --- parsing: tests/test-chat.cpp peg_tester vectors --------------------------------------------------------

    /** Expected tool call; arguments compared as JSON values (upstream renormalises them the same way). */
    record Call(String name, String arguments, String id) {}

    /**
     * Renders upstream's one-user-message conversation ({@code message_user}) with {@code template} (a models/templates
     * file), parses {@code output} with the returned parser, and checks the message. {@code output} must be a literal
     * of test-chat.cpp (checked), so the vector is upstream's.
     */
    private static void assertParses(String template, boolean tools, String reasoningFormat, String output,
                                     String content, String reasoning, Call... calls) throws IOException {
        assertParses(template, tools ? List.of("special_function_tool") : List.of(), reasoningFormat, output,
                content, reasoning, calls);
    }

    private static void assertParses(String template, List<String> tools, String reasoningFormat, String output,
                                     String content, String reasoning, Call... calls) throws IOException {
        assertThat(testChatJoined.contains(cLiteral(output)) || testChat.contains("R\"(" + output + ")\""))
                .as("vector is upstream's: " + output).isTrue();
        assertThat(testChat).contains("\"models/templates/" + template + "\"");
        String source = Files.readString(src.resolve("models/templates").resolve(template));
        try (ChatGlue.Templates t = ChatGlue.Templates.create(null, source, "", "")) {
            ObjectNode in = ChatGlue.JSON.createObjectNode();
            in.putArray("messages").addObject().put("role", "user").put("content", "Hey there!");
            for (String tool : tools) {
                in.withArray("tools").add(tool(tool));
            }
            in.put("reasoning_format", reasoningFormat);
            in.put("parallel_tool_calls", calls.length > 1);
            ObjectNode applied = t.apply(in);
            assertThat(applied.get("prompt").asText()).as(template + " prompt").contains("Hey there!");
            if (!tools.isEmpty()) {
                assertThat(applied.get("prompt").asText()).as(template + " describes the tool")
                        .contains("special_function");
            }
            ObjectNode p = ChatGlue.JSON.createObjectNode();
            p.put("text", output).put("partial", false).put("format", applied.get("format").asInt())
                    .put("parser", applied.get("parser").asText())
                    .put("generation_prompt", applied.get("generation_prompt").asText())
                    .put("reasoning_format", reasoningFormat);
            ObjectNode msg = ChatGlue.parse(p);
            // test_peg_parser compares with assert_msg_equals(..., ignore_whitespace_differences = true)
            assertThat(msg.get("content").asText().strip()).as(template + " content").isEqualTo(content.strip());
            assertThat(msg.get("reasoning_content").asText().strip()).as(template + " reasoning")
                    .isEqualTo(reasoning.strip());
            JsonNode got = msg.get("tool_calls");
            assertThat(got).as(template + " tool calls").hasSize(calls.length);
            for (int i = 0; i < calls.length; i++) {
                assertThat(got.get(i).get("name").asText()).isEqualTo(calls[i].name());
                assertThat(ChatGlue.JSON.readTree(got.get(i).get("arguments").asText()))
                        .as(template + " arguments").isEqualTo(ChatGlue.JSON.readTree(calls[i].arguments()));
                assertThat(got.get(i).get("id").asText()).isEqualTo(calls[i].id());
            }
        }
    }

    private static final String HELLO = "Hello, world!\nWhat's up?";
    private static final Call SPECIAL = new Call("special_function", "{\"arg1\": 1}", "");

    @Test
    void mistralFamiliesParseAsUpstream() throws IOException {
        assertParses("mistralai-Mistral-Nemo-Instruct-2407.jinja", false, "none", HELLO, HELLO, "");
        assertParses("mistralai-Mistral-Nemo-Instruct-2407.jinja", true, "none",
                "[TOOL_CALLS][{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}, \"id\": \"123456789\"}]",
                "", "", new Call("special_function", "{\"arg1\":1}", "123456789"));
        assertParses("Mistral-Small-3.2-24B-Instruct-2506.jinja", true, "none",
                "[TOOL_CALLS]special_function[CALL_ID]123456789[ARGS]{\"arg1\": 1}", "", "",
                new Call("special_function", "{\"arg1\":1}", "123456789"));
        assertParses("unsloth-mistral-Devstral-Small-2507.jinja", true, "none",
                "[TOOL_CALLS]special_function[ARGS]{\"arg1\": 1}", "", "", SPECIAL);
        assertParses("unsloth-mistral-Devstral-Small-2507.jinja", true, "none",
                "Hello, world!\nWhat's up?[TOOL_CALLS]special_function[ARGS]{\"arg1\": 1}", HELLO, "", SPECIAL);
        assertParses("mistralai-Ministral-3-14B-Reasoning-2512.jinja", false, "auto",
                "[THINK]I'm\nthinking[/THINK]Hello, world!\nWhat's up?", HELLO, "I'm\nthinking");
        assertParses("mistralai-Ministral-3-14B-Reasoning-2512.jinja", true, "auto",
                "[TOOL_CALLS]special_function[ARGS]{\"arg1\":1}", "", "", SPECIAL);
    }

    @Test
    void mistralSmallParsesParallelCalls() throws IOException {
        assertParses("Mistral-Small-3.2-24B-Instruct-2506.jinja",
                List.of("special_function_tool", "special_function_tool_with_optional_param"), "none",
                "[TOOL_CALLS]special_function[CALL_ID]000000001[ARGS]{\"arg1\": 1}"
                        + "[TOOL_CALLS]special_function_with_opt[CALL_ID]000000002[ARGS]{\"arg1\": 1, \"arg2\": 2}",
                "", "", new Call("special_function", "{\"arg1\": 1}", "000000001"),
                new Call("special_function_with_opt", "{\"arg1\": 1, \"arg2\": 2}", "000000002"));
    }

    @Test
    void llama3FamiliesParseAsUpstream() throws IOException {
        for (String t : List.of("meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja")) {
            assertParses(t, true, "none", HELLO, HELLO, "");
        }
        assertParses("meta-llama-Llama-3.3-70B-Instruct.jinja", false, "none", HELLO, HELLO, "");
    }

    @Test
    void qwenHermesAndFunctionaryParseAsUpstream() throws IOException {
        String call = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>";
        for (String t : List.of("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "Qwen-Qwen2.5-7B-Instruct.jinja")) {
            assertParses(t, false, "none", HELLO, HELLO, "");
            assertParses(t, true, "none", call, "", "", SPECIAL);
        }
        assertParses("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", true, "none",
                "Hello, world!\nWhat's up?<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}"
                        + "</tool_call>", HELLO, "", SPECIAL);
        assertParses("meetkai-functionary-medium-v3.1.jinja", true, "none",
                "<function=special_function>{\"arg1\": 1}</function>", "", "", SPECIAL);
        assertParses("meetkai-functionary-medium-v3.2.jinja", false, "none", "all\nHello, world!\nWhat's up?", HELLO, "");
        assertParses("meetkai-functionary-medium-v3.2.jinja", true, "none", "special_function\n{\"arg1\": 1}", "", "",
                SPECIAL);
    }

    @Test
    void qwen3UsesTheQwenToolCallFormatAndSplitsThinking() throws IOException {
        // Qwen3's template is exercised upstream only for reasoning budgets; its tool-call format is Qwen 2.5's.
        String call = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>";
        assertParses("Qwen-Qwen3-0.6B.jinja", true, "auto", call, "", "", SPECIAL);
        assertParses("Qwen-QwQ-32B.jinja", false, "auto", "Let me think about this...\n</think>\nThe answer is 42.",
                "The answer is 42.", "Let me think about this...");
    }

    @Test
    void errorsComeBackAsExceptionsNotCrashes() {
        assertThatThrownBy(() -> ChatGlue.Templates.create(null, null, null, null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("neither a model nor a template");
        assertThatThrownBy(() -> ChatGlue.Templates.create(null, "{% for %}", "", ""))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("chat template");
        assertThatThrownBy(() -> ChatGlue.jsonSchemaToGrammar("{not json"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("JSON schema");
        ChatGlue.Templates t = ChatGlue.Templates.create(null, "{{ raise_exception('no') }}", "", "");
        ObjectNode in = ChatGlue.JSON.createObjectNode();
        in.set("messages", conversation());
        assertThatThrownBy(() -> t.apply(in)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no");
        t.close();
        t.close();
        assertThatThrownBy(() -> t.apply(in)).isInstanceOf(IllegalStateException.class);
        ObjectNode bad = ChatGlue.JSON.createObjectNode().put("text", "x").put("format", 999);
        assertThatThrownBy(() -> ChatGlue.parse(bad)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown format");
    }

    /** A Java string as the C string literal test-chat.cpp writes it. */
    static String cLiteral(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** The C string literal(s) starting after {@code from} (adjacent literals concatenated). */
    static String literalAfter(String src, int from) {
        StringBuilder out = new StringBuilder();
        int i = from;
        while (true) {
            while (Character.isWhitespace(src.charAt(i))) {
                i++;
            }
            if (src.startsWith("u8\"", i)) {
                i += 2;
            }
            if (src.startsWith("U8C(", i)) { // test-chat-template.cpp's UTF-8 literal macro
                i += 4;
            }
            if (src.charAt(i) != '"') {
                return out.toString();
            }
            i++;
            while (src.charAt(i) != '"') {
                char c = src.charAt(i++);
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = src.charAt(i++);
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case '0' -> out.append('\0');
                    default -> out.append(e);
                }
            }
            i++;
        }
    }
}
