package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every Mistral / Llama-2 style case of upstream's tests/test-chat-template.cpp (template string -> expected output,
 * read from the pinned source at test time) comes out byte-identical through {@link ChatTemplate}; and a chat
 * session's second turn decodes only the new tokens.
 */
@Tag("tiny-model")
class ChatTemplateTest {
    /** The conversation test-chat-template.cpp renders with every template. */
    private static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.system("You are a helpful assistant"),
            ChatMessage.user("Hello"),
            ChatMessage.assistant("Hi there"),
            ChatMessage.user("Who are you"),
            ChatMessage.assistant("   I am an assistant   "),
            ChatMessage.user("Another question"));

    record UpstreamCase(String name, String template, String expected) {}

    static List<UpstreamCase> upstreamCases() throws IOException {
        String src = Files.readString(TestModels.llamaSource().resolve("tests/test-chat-template.cpp"));
        assertThat(src).contains("{\"system\", \"You are a helpful assistant\"}", "{\"assistant\", \"   I am an assistant   \"}");
        List<UpstreamCase> cases = new ArrayList<>();
        Matcher m = Pattern.compile("/\\* \\.name= \\*/").matcher(src);
        while (m.find()) {
            int at = m.end();
            String name = literalAfter(src, at);
            String template = literalAfter(src, src.indexOf("/* .template_str= */", at) + 20);
            String expected = literalAfter(src, src.indexOf("/* .expected_output= */", at) + 23);
            cases.add(new UpstreamCase(name, template, expected));
        }
        return cases;
    }

    /** The C string literal(s) starting after {@code from} (adjacent literals concatenated). */
    private static String literalAfter(String src, int from) {
        StringBuilder out = new StringBuilder();
        int i = from;
        while (true) {
            while (Character.isWhitespace(src.charAt(i))) {
                i++;
            }
            if (src.startsWith("u8\"", i)) {
                i += 2;
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
                    default -> out.append(e); // \" \\ \'
                }
            }
            i++;
        }
    }

    @Test
    void everyMistralAndLlama2UpstreamCaseIsByteIdentical() throws IOException {
        List<UpstreamCase> inst = upstreamCases().stream().filter(c -> c.expected().contains("[INST]")).toList();
        assertThat(inst).as("Mistral/Llama-2 style cases found upstream").hasSizeGreaterThanOrEqualTo(6);
        for (UpstreamCase c : inst) {
            assertThat(ChatTemplate.apply(c.template(), CONVERSATION, true)).as(c.name()).isEqualTo(c.expected());
        }
    }

    @Test
    void invalidTemplateIsRejected() {
        assertThatThrownBy(() -> ChatTemplate.apply("INVALID TEMPLATE", CONVERSATION, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("INVALID TEMPLATE");
        assertThat(ChatTemplate.builtinNames()).contains("mistral-v1", "llama2", "chatml");
    }

    @Test
    void mistralInstructChatUsesItsTemplateAndTheSecondTurnDecodesOnlyNewTokens() throws IOException {
        String mistralTemplate = upstreamCases().stream()
                .filter(c -> c.name().startsWith("mistralai/Mistral-7B-Instruct-v0.2 (NOTE"))
                .findFirst().orElseThrow().template();
        TinyModel.Spec spec = TinyModel.Spec.builder().chatTemplate(mistralTemplate).name("tiny mistral instruct").build();
        try (LlamaModel model = LlamaModel.load(TestModels.tiny(spec));
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(1024).build())) {
            assertThat(model.info().chatTemplate()).contains(mistralTemplate);
            ChatSession chat = ctx.chat(ChatSession.Options.defaults()
                    .withGenerateOptions(GenerateOptions.builder().maxTokens(12).sampler(Sampler.greedy()).build()));
            GenerationResult first = chat.send("Summarise sliding window attention in one line.");
            assertThat(first.cachedPromptTokens()).isZero();
            assertThat(first.generatedTokens()).isPositive();
            String secondPrompt = ChatTemplate.apply(mistralTemplate, List.of(
                    ChatMessage.user("Summarise sliding window attention in one line."),
                    ChatMessage.assistant(first.text()),
                    ChatMessage.user("And in two?")), true);
            assertThat(secondPrompt).startsWith("[INST] Summarise sliding window attention in one line. [/INST]");
            GenerationResult second = chat.send("And in two?");
            // The whole first prompt (and the part of the reply that re-tokenizes identically) is not decoded again.
            assertThat(second.cachedPromptTokens()).as("first turn reused").isGreaterThanOrEqualTo(first.promptTokens());
            assertThat(second.promptTokens()).isEqualTo(model.vocabulary().tokenize(secondPrompt, true, true).length);
            assertThat(chat.messages()).hasSize(4);
        }
    }
}
