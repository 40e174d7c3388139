package io.github.llamaffm;

/** A message that self-reflection moderation ({@link Moderation}) did not classify as acceptable. */
public final class ModerationException extends LlamaException {
    private final Moderation.Category category;

    public ModerationException(Moderation.Category category) {
        super("message rejected by moderation: " + category.label());
        this.category = category;
    }

    /** The category the model assigned. */
    public Moderation.Category category() {
        return category;
    }
}
