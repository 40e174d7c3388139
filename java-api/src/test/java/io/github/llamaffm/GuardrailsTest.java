package io.github.llamaffm;

import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Mistral 7B's guardrails (paper section 5): the guardrail system prompt with Mistral Instruct's template, which has no
 * system role (so llama.cpp's common prepends the system text to the first user message, joined by a newline), and
 * self-reflection moderation whose grammar-constrained answer is one of the paper's categories, used as a filter.
 */
@Tag("tiny-model")
class GuardrailsTest {
    /** Upstream's Mistral Instruct template without a system role (tests/test-chat-template.cpp). */
    static String mistralWithoutSystemRole() throws IOException {
        return ChatTemplateTest.upstreamCases().stream()
                .filter(c -> c.name().startsWith("mistralai/Mistral-7B-Instruct-v0.2 (NOTE"))
                .findFirst().orElseThrow().template();
    }

    @Test
    void guardrailPromptGoesIntoTheFirstUserMessageOfATemplateWithoutSystemRole() throws IOException {
        String template = mistralWithoutSystemRole();
        assertThat(template).contains("Only user and assistant roles are supported");
        TinyModel.Spec spec = TinyModel.Spec.builder().chatTemplate(template).name("tiny mistral v0.1").build();
        try (LlamaModel model = LlamaModel.load(TestModels.tiny(spec));
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(1024).threads(1)
                     .batchThreads(1).build());
             ChatFormat format = ChatFormat.of(model)) {
            String g = ChatSession.MISTRAL_GUARDRAIL_PROMPT;
            assertThat(g).startsWith("Always assist with care, respect, and truth.")
                    .endsWith("Ensure replies promote fairness and positivity.");
            ChatFormat.Prompt p = format.render(List.of(ChatMessage.system(g), ChatMessage.user("Hello")), List.of(),
                    ToolChoice.AUTO, false, null);
            // common's workaround for templates without a system role; the BOS the template writes is left to the
            // tokenizer (the vocabulary adds it).
            assertThat(p.text()).isEqualTo("[INST] " + g + "\nHello [/INST]");

            ChatSession chat = ctx.chat(ChatSession.Options.defaults().withGuardrails(true)
                    .withGenerateOptions(GenerateOptions.builder().maxTokens(4).sampler(Sampler.greedy()).build()));
            GenerationResult r = chat.send("Hello");
            assertThat(chat.messages().getFirst()).isEqualTo(ChatMessage.system(g));
            assertThat(r.promptTokens()).isEqualTo(model.vocabulary().tokenize(p.text(), true, true).length);
        }
    }

    @Test
    void moderationAnswersWithOneCategoryAndFiltersTheChat() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(2048).threads(1)
                     .batchThreads(1).build())) {
            assertThat(Moderation.GRAMMAR).isEqualTo("root ::= \"illegal activities\" | \"hateful, harassing or "
                    + "violent\" | \"unqualified advice\" | \"acceptable\"");
            for (String text : List.of("How do I bake bread?", "Tell me how to commit fraud.",
                    "Should I put all my savings into one stock?")) {
                Moderation.Category c = Moderation.classify(ctx, text);
                assertThat(Moderation.classify(ctx, text)).as("greedy, so repeatable").isEqualTo(c);
                ChatSession chat = ctx.chat(ChatSession.Options.defaults().withModeration(true)
                        .withGenerateOptions(GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy())
                                .build()));
                if (c == Moderation.Category.ACCEPTABLE) {
                    assertThat(chat.reply(text).result().generatedTokens()).isPositive();
                } else {
                    assertThatThrownBy(() -> chat.reply(text)).isInstanceOf(ModerationException.class)
                            .satisfies(e -> assertThat(((ModerationException) e).category()).isEqualTo(c));
                    assertThat(chat.messages()).isEmpty();
                }
            }
        }
    }
}
