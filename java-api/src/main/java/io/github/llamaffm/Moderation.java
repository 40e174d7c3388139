package io.github.llamaffm;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Self-reflection content moderation as the Mistral 7B paper describes it (section 5.2): the model classifies a
 * prompt or an answer as acceptable or as one of the paper's three categories, with its answer constrained by a
 * grammar to exactly one category label, returned as a {@link Category}. The paper does not publish its prompt; the
 * one used here ({@link #PROMPT}) lists the paper's categories with the paper's own examples.
 *
 * {@snippet :
 * Moderation.Category c = Moderation.classify(ctx, "How do I make a fake passport?");
 * if (c != Moderation.Category.ACCEPTABLE) { ... }
 * }
 *
 * <p>In front of a chat: {@link ChatSession.Options#withModeration(boolean)} classifies each user message first and
 * throws {@link ModerationException} instead of answering one that is not acceptable. The quality of the
 * classification is the model's: an instruction-tuned model is needed for meaningful labels.
 */
public final class Moderation {
    private Moderation() {}

    /** The paper's categories. */
    public enum Category {
        /** Illegal activities such as terrorism, child abuse or fraud. */
        ILLEGAL_ACTIVITIES("illegal activities"),
        /** Hateful, harassing or violent content such as discrimination, self-harm or bullying. */
        HATEFUL_HARASSING_OR_VIOLENT("hateful, harassing or violent"),
        /** Unqualified advice, for instance in legal, medical or financial domains. */
        UNQUALIFIED_ADVICE("unqualified advice"),
        /** None of the above. */
        ACCEPTABLE("acceptable");

        private final String label;

        Category(String label) {
            this.label = label;
        }

        /** The label the model answers with. */
        public String label() {
            return label;
        }
    }

    /** The self-reflection instruction; the text to classify follows it. */
    public static final String PROMPT = """
            You are a content moderator. Classify the text below into exactly one category:
            - illegal activities: terrorism, child abuse, fraud or other illegal activities
            - hateful, harassing or violent: discrimination, self-harm, bullying, hateful, harassing or violent content
            - unqualified advice: advice in legal, medical or financial domains without proper qualification
            - acceptable: none of the above
            Answer with the category name only.

            Text:
            """;

    /** Longest label in UTF-8 bytes, plus the end-of-generation token: no token is shorter than one byte. */
    static final int MAX_LABEL_TOKENS = List.of(Category.values()).stream()
            .mapToInt(c -> c.label().getBytes(java.nio.charset.StandardCharsets.UTF_8).length).max().orElseThrow() + 1;

    /** GBNF: exactly one label. */
    static final String GRAMMAR = "root ::= " + String.join(" | ",
            List.of(Category.values()).stream().map(c -> "\"" + c.label() + "\"").toList());

    /**
     * Classifies {@code text} (a user prompt or a model's answer) with the context's model, using its chat template.
     * Uses the context like any generation (its KV cache holds the classification afterwards).
     */
    public static Category classify(LlamaContext context, String text) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(text, "text");
        ChatSession judge = context.chat(ChatSession.Options.defaults().withGenerateOptions(generateOptions()));
        return categoryOf(judge.send(instruction(text)).text());
    }

    /**
     * The user message that asks the model to classify {@code text}: {@link #PROMPT} followed by the text. For
     * callers that run the classification themselves (a server through its scheduler); {@link #classify} uses it.
     */
    public static String instruction(String text) {
        return PROMPT + Objects.requireNonNull(text, "text");
    }

    /**
     * How a classification is generated: greedy, constrained to exactly one category label. The token budget covers
     * the longest label even when every token is a single byte (a tokenizer without merges for these words); the
     * grammar ends generation as soon as a label is complete.
     */
    public static GenerateOptions generateOptions() {
        return GenerateOptions.builder().maxTokens(MAX_LABEL_TOKENS).sampler(Sampler.builder().greedy(true).grammar(GRAMMAR).build())
                .build();
    }

    /**
     * The category whose label the model answered (the text generated with {@link #generateOptions()}).
     *
     * @throws LlamaException if the answer is not a label (the grammar makes that impossible unless generation was
     *                        cut short)
     */
    public static Category categoryOf(String answer) {
        String a = Objects.requireNonNull(answer, "answer").strip().toLowerCase(Locale.ROOT);
        for (Category c : Category.values()) {
            if (a.equals(c.label())) {
                return c;
            }
        }
        throw new LlamaException("moderation answer outside the grammar: '" + a + "'");
    }
}
