package io.github.llamaffm;

/**
 * One generated token.
 *
 * @param id          token id
 * @param text        text released at this step: the token's piece, except that bytes of an unfinished UTF-8
 *                    character and text that may be the start of a stop string are held back and released with a
 *                    later token (so this may be empty, or longer than the piece)
 * @param probability the token's probability under the model's raw distribution (softmax of the logits), or
 *                    {@link Float#NaN} unless {@link GenerateOptions.Builder#probabilities(boolean)} is on
 */
public record Token(int id, String text, float probability) {}
