package io.github.llamaffm;

import java.util.List;
import java.util.Objects;

/**
 * One generated token.
 *
 * @param id          token id
 * @param text        text released at this step: the token's piece, except that bytes of an unfinished UTF-8
 *                    character and text that may be the start of a stop string are held back and released with a
 *                    later token (so this may be empty, or longer than the piece)
 * @param probability the token's probability under the model's raw distribution (softmax of the logits), or
 *                    {@link Float#NaN} unless {@link GenerateOptions.Builder#probabilities(boolean)} (or
 *                    {@link GenerateOptions.Builder#topProbabilities(int)}) is on
 * @param top         the most likely tokens of that distribution, most likely first, when
 *                    {@link GenerateOptions.Builder#topProbabilities(int)} asks for them (else empty)
 */
public record Token(int id, String text, float probability, List<Candidate> top) {
    public Token {
        Objects.requireNonNull(text, "text");
        top = List.copyOf(top);
    }

    /** A token without alternatives. */
    public Token(int id, String text, float probability) {
        this(id, text, probability, List.of());
    }

    /** The natural log of {@link #probability()} (OpenAI's {@code logprob}); NaN when not computed. */
    public double logprob() {
        return Math.log(probability);
    }

    /**
     * One of the most likely tokens at a step.
     *
     * @param id          token id
     * @param probability its probability under the raw distribution
     */
    public record Candidate(int id, float probability) {
        /** The natural log of the probability. */
        public double logprob() {
            return Math.log(probability);
        }
    }
}
