package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The guessing half of {@link Speculation} for one sequence: draft tokens to follow the sequence's tokens, from a
 * draft model's context or from n-gram lookup in the sequence itself. The checking half (one target batch, sampling
 * at each position, KV rollback) is in {@link SequenceEngine}. Not thread-safe (the context's claim).
 */
final class Drafter {
    /** llama.cpp's {@code SPEC_VOCAB_MAX_SIZE_DIFFERENCE}: vocabularies may differ by this many tokens at the end. */
    static final int VOCAB_MAX_SIZE_DIFFERENCE = 128;
    /** llama.cpp's {@code SPEC_VOCAB_CHECK_START_TOKEN_ID}: the first token ids (special tokens) are not compared. */
    static final int VOCAB_CHECK_START_TOKEN = 5;

    private final Speculation speculation;
    /** The draft model's context, or null for n-gram lookup. */
    private final LlamaContext draft;
    /** Tokens of the target's vocabulary: a draft vocabulary may be a little larger. */
    private final int targetVocabSize;
    private int drafted;
    private int accepted;

    private Drafter(Speculation speculation, int targetVocabSize) {
        this.speculation = speculation;
        this.targetVocabSize = targetVocabSize;
        this.draft = speculation.draftContext().orElse(null);
    }

    /**
     * The drafter for a generation on {@code target}, or null without speculation.
     *
     * @throws IllegalArgumentException if the draft context is the target itself, closed, an embeddings context, or
     *                                  its model's vocabulary is not compatible with the target's
     */
    static Drafter of(GenerateOptions options, LlamaContext target) {
        Speculation s = options.speculation().orElse(null);
        if (s == null) {
            return null;
        }
        if (Llama.llama_model_is_recurrent(target.model().segment())) {
            throw new IllegalArgumentException("speculative decoding needs a KV cache that can drop rejected "
                    + "guesses; the recurrent model " + target.model().path().getFileName() + " has none");
        }
        LlamaContext d = s.draftContext().orElse(null);
        if (d != null) {
            if (d == target) {
                throw new IllegalArgumentException("the draft context must be another context than the target's");
            }
            if (d.isClosed()) {
                throw new IllegalArgumentException("the draft context is closed");
            }
            if (d.options().embeddings()) {
                throw new IllegalArgumentException("the draft context is an embeddings context; create it without "
                        + "ContextOptions.embeddings(true)");
            }
            if (d.draftsFor != target.model()) { // the check reads every token's text: once per pair
                checkCompatible(target.model(), d.model());
                d.draftsFor = target.model();
            }
        }
        return new Drafter(s, target.vocabulary().size());
    }

    /**
     * Whether a draft model's vocabulary can stand in for the target's, by the rules of llama.cpp's
     * {@code common_speculative_are_compatible}: same tokenizer type, same BOS and EOS use, sizes within
     * {@value #VOCAB_MAX_SIZE_DIFFERENCE} tokens, and the same text for every token id from
     * {@value #VOCAB_CHECK_START_TOKEN} on.
     *
     * @throws IllegalArgumentException naming the first difference
     */
    static void checkCompatible(LlamaModel target, LlamaModel draft) {
        MemorySegment t = target.vocabulary().segment();
        MemorySegment d = draft.vocabulary().segment();
        String prefix = "the draft model " + draft.path().getFileName() + " cannot draft for "
                + target.path().getFileName() + ": ";
        int typeT = Llama.llama_vocab_type(t);
        int typeD = Llama.llama_vocab_type(d);
        if (typeT != typeD) {
            throw new IllegalArgumentException(prefix + "tokenizer type " + typeD + " differs from the target's "
                    + typeT + " (llama_vocab_type)");
        }
        boolean addBosT = Llama.llama_vocab_get_add_bos(t);
        boolean addBosD = Llama.llama_vocab_get_add_bos(d);
        if (addBosT != addBosD || (addBosT && Llama.llama_vocab_bos(t) != Llama.llama_vocab_bos(d))) {
            throw new IllegalArgumentException(prefix + "BOS differs (adds BOS: " + addBosD + ", id "
                    + Llama.llama_vocab_bos(d) + "; the target's: " + addBosT + ", id " + Llama.llama_vocab_bos(t) + ")");
        }
        boolean addEosT = Llama.llama_vocab_get_add_eos(t);
        boolean addEosD = Llama.llama_vocab_get_add_eos(d);
        if (addEosT != addEosD || (addEosT && Llama.llama_vocab_eos(t) != Llama.llama_vocab_eos(d))) {
            throw new IllegalArgumentException(prefix + "EOS differs (adds EOS: " + addEosD + ", id "
                    + Llama.llama_vocab_eos(d) + "; the target's: " + addEosT + ", id " + Llama.llama_vocab_eos(t) + ")");
        }
        int sizeT = Llama.llama_vocab_n_tokens(t);
        int sizeD = Llama.llama_vocab_n_tokens(d);
        if (Math.abs(sizeT - sizeD) > VOCAB_MAX_SIZE_DIFFERENCE) {
            throw new IllegalArgumentException(prefix + "it has " + sizeD + " tokens, the target " + sizeT
                    + " (at most " + VOCAB_MAX_SIZE_DIFFERENCE + " may differ)");
        }
        for (int i = VOCAB_CHECK_START_TOKEN; i < Math.min(sizeT, sizeD); i++) {
            String textT = Llama.llama_vocab_get_text(t, i).getString(0);
            String textD = Llama.llama_vocab_get_text(d, i).getString(0);
            if (!textT.equals(textD)) {
                throw new IllegalArgumentException(prefix + "token " + i + " is '" + textD + "', the target's is '"
                        + textT + "'");
            }
        }
    }

    /**
     * Guesses up to {@code max} tokens to follow {@code history} (the tokens of target sequence {@code sequence} in
     * the cache) and {@code pending} (the sampled token not yet decoded). Called every step of a speculating
     * sequence: the n-gram lookup reads the history in place, the draft model gets one copy.
     *
     * @return the guess, possibly empty
     */
    int[] draft(int sequence, TokenHistory history, int pending, int max) {
        int n = Math.min(max, speculation.draftMax());
        if (n <= 0) {
            return EMPTY;
        }
        int[] guess;
        if (draft != null) {
            guess = draft.draftTokens(sequence, history.toArrayWith(pending), n, speculation.minProbability());
            for (int i = 0; i < guess.length; i++) {
                if (guess[i] >= targetVocabSize) {
                    guess = Arrays.copyOf(guess, i);
                    break;
                }
            }
        } else {
            guess = lookup(history.view(), history.length(), pending, speculation.ngramSize(), speculation.draftMax());
            if (guess.length > n) {
                guess = Arrays.copyOf(guess, n);
            }
        }
        drafted += guess.length;
        return guess;
    }

    /** Records how many tokens of the last guess the target accepted. */
    void accepted(int n) {
        accepted += n;
    }

    /** Tokens guessed so far. */
    int drafted() {
        return drafted;
    }

    /** Guessed tokens the target accepted so far. */
    int acceptedCount() {
        return accepted;
    }

    private static final int[] EMPTY = new int[0];

    /**
     * Prompt lookup as llama.cpp's {@code common_ngram_simple_draft}: the pattern is the last {@code n - 1} tokens
     * plus {@code pending}; the latest earlier occurrence of it (position 0 excluded) is found and the tokens that
     * followed it, at most {@code m}, are the guess. Nothing is guessed for a sequence of {@code n + m + 1} tokens or
     * fewer, or when fewer than {@code n} tokens follow the match.
     */
    static int[] lookup(int[] tokens, int pending, int n, int m) {
        return lookup(tokens, tokens.length, pending, n, m);
    }

    /** {@link #lookup(int[], int, int, int)} over the first {@code length} entries of {@code tokens}. */
    static int[] lookup(int[] tokens, int length, int pending, int n, int m) {
        if (length <= n + m + 1) {
            return EMPTY;
        }
        int[] pattern = new int[n];
        System.arraycopy(tokens, length - n + 1, pattern, 0, n - 1);
        pattern[n - 1] = pending;
        for (int j = length - n - 1; j > 0; j--) {
            if (Arrays.equals(tokens, j, j + n, pattern, 0, n)) {
                int count = Math.min(m, length - (j + n));
                return count < n ? EMPTY : Arrays.copyOfRange(tokens, j + n, j + n + count);
            }
        }
        return EMPTY;
    }
}
