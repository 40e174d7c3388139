package io.github.llamaffm;

/**
 * A sampling stage written in Java, added to a {@link Sampler} with {@link Sampler.Builder#custom(CustomSampler)}.
 *
 * <p>llama.cpp calls {@link #apply(Candidates)} once per sampled token with the current candidate list, after the
 * built-in transformation stages (grammar, logit bias, penalties, DRY, top-k, ..., temperature) and immediately
 * before the stage that picks the token ({@code dist}, {@code greedy} or mirostat). The sampler may lower or raise
 * logits, shrink the list, or, if {@link #selectsToken()} returns {@code true}, replace that final stage and pick the
 * token itself.
 *
 * {@snippet :
 * // Ban every token whose id is odd (a toy example).
 * CustomSampler evenOnly = candidates -> {
 *     for (int i = 0; i < candidates.size(); i++) {
 *         if ((candidates.id(i) & 1) == 1) {
 *             candidates.setLogit(i, Float.NEGATIVE_INFINITY);
 *         }
 *     }
 * };
 * Sampler sampler = Sampler.builder().custom(evenOnly).build();
 * }
 *
 * <p><b>Errors:</b> methods run inside a native callback, where nothing may propagate. An exception (or error) thrown
 * by any method is caught and remembered; the generation call that triggered it then fails with a
 * {@link LlamaException} whose cause is that exception.
 *
 * <p><b>Threading:</b> the methods are called on the thread that samples, one call at a time per sampler chain. The
 * same instance may be shared by several chains (one per generation) only if it is stateless or thread-safe.
 */
@FunctionalInterface
public interface CustomSampler {

    /**
     * Transforms the candidate list for one token. The {@code candidates} view is only valid during this call.
     */
    void apply(Candidates candidates);

    /** Called with every token accepted into the history (prompt tokens and sampled tokens). Does nothing by default. */
    default void accept(int token) {}

    /** Called when the chain is reset (e.g. before a new, unrelated generation). Does nothing by default. */
    default void reset() {}

    /**
     * The stage name reported by llama.cpp ({@code llama_sampler_name}); read once when the chain is built.
     * Defaults to {@code "java"}.
     */
    default String name() {
        return "java";
    }

    /**
     * Whether this sampler picks the token itself (by calling {@link Candidates#select(int)}), replacing the final
     * {@code dist}/{@code greedy}/mirostat stage. Read once when the chain is built. Defaults to {@code false}.
     *
     * <p>If a selecting sampler returns without selecting a candidate (or throws), the candidate with the highest
     * logit is chosen so that llama.cpp can continue, and the sampling call then fails with a {@link LlamaException}.
     */
    default boolean selectsToken() {
        return false;
    }

    /**
     * The candidate tokens for the next position: a view over llama.cpp's {@code llama_token_data_array}, valid only
     * during {@link CustomSampler#apply(Candidates)}. Indices run from {@code 0} to {@code size() - 1}; an index out of
     * range throws {@link IndexOutOfBoundsException}, use after {@code apply} returned throws
     * {@link IllegalStateException}.
     *
     * <p>A candidate whose logit is negative infinity has been excluded by an earlier stage (for instance by a grammar);
     * it stays excluded: {@link #setLogit} leaves it at negative infinity and {@link #select} refuses it.
     */
    interface Candidates {
        /** Number of candidates. */
        int size();

        /** Token id of candidate {@code i}. */
        int id(int i);

        /** Logit of candidate {@code i} (after the earlier stages, e.g. divided by the temperature). */
        float logit(int i);

        /**
         * Sets the logit of candidate {@code i}. {@link Float#NEGATIVE_INFINITY} excludes the candidate. A candidate
         * already at negative infinity is left unchanged. Marks the list as unsorted.
         *
         * @throws IllegalArgumentException if {@code logit} is NaN or positive infinity
         */
        void setLogit(int i, float logit);

        /**
         * Probability of candidate {@code i} as last computed by an earlier stage; it is not updated when logits
         * change and may be 0 when no earlier stage computed probabilities.
         */
        float probability(int i);

        /** Whether the candidates are sorted by descending logit. */
        boolean isSorted();

        /** Index of the selected candidate, or -1 if none is selected yet. */
        int selected();

        /**
         * Selects candidate {@code i} as the sampled token. Only meaningful for a sampler whose
         * {@link CustomSampler#selectsToken()} is {@code true}; otherwise the final stage overrides it.
         *
         * @throws IllegalArgumentException if the candidate is excluded (logit negative infinity)
         */
        void select(int i);

        /**
         * Keeps only the first {@code n} candidates (as in top-k after sorting).
         *
         * @throws IllegalArgumentException if {@code n} is not in {@code 1..size()}
         */
        void truncate(int n);
    }
}
