package io.github.llamaffm;

import java.util.Objects;
import java.util.Optional;

/**
 * Speculative decoding: guess several next tokens cheaply, then check them all with <em>one</em> decode of the
 * target model ({@link GenerateOptions.Builder#speculation(Speculation)}). An immutable value.
 *
 * {@snippet :
 * try (LlamaModel draftModel = LlamaModel.load(Path.of("mistral-small-draft.gguf"));
 *      LlamaContext draft = draftModel.newContext(ContextOptions.builder().contextSize(8192).build())) {
 *     GenerateOptions options = GenerateOptions.builder().maxTokens(256)
 *             .speculation(Speculation.draft(draft).withDraftMax(8)).build();
 *     GenerationResult r = ctx.generate("Write a haiku", options).result();
 *     System.out.println(r.acceptedDraftTokens() + " of " + r.draftTokens() + " drafted tokens accepted");
 * }
 * GenerateOptions lookup = GenerateOptions.builder().speculation(Speculation.ngram()).build(); // no second model
 * }
 *
 * <p><b>Where the guesses come from.</b> {@link #draft(LlamaContext)}: a smaller model with the same vocabulary
 * generates them greedily in its own context (with prefix reuse; the draft context is used from the generating thread
 * and must not be in use elsewhere meanwhile). {@link #ngram()}: prompt lookup, as llama.cpp's
 * {@code ngram-simple}: the last {@link #ngramSize()} tokens (the newest sampled one included) are searched for earlier
 * in the sequence (prompt and output) and the tokens that followed the latest earlier occurrence are the guess; good
 * for output that quotes its input (code edits, summaries, RAG answers).
 *
 * <p><b>What comes out is what the target alone gives.</b> The target decodes the pending token and the guesses in one
 * batch, then samples at each position in order with its own sampler, exactly as it would have one token at a time,
 * and accepts guesses while its sample equals the guess; the first sample that differs is kept as the next token and
 * the rejected guesses' KV cells are removed. This is the acceptance rule of llama.cpp's speculative example and
 * server: every emitted token is a sample of the target's own distribution given the tokens before it, so greedy
 * output is token-identical to generating without speculation, and with a seeded sampler the same sampler draws are
 * made in the same order (the output is the same up to the floating-point difference between a batched and a
 * single-token decode). It differs from the rejection-sampling rule of the speculative-sampling papers (accept a draft
 * token with probability {@code min(1, p/q)}): that rule also preserves the target's distribution and accepts more
 * often at high temperature, but needs the draft model's probabilities; this one needs only the draft tokens.
 *
 * <p><b>When it is faster.</b> Each round costs one target decode of {@code 1 + draft} tokens plus the guessing. It
 * pays off where a decode of a few tokens costs little more than of one (GPUs; memory-bound CPU decoding of large
 * models) and the guesses are often right; rejected guesses are wasted work. {@link GenerationResult#draftTokens()} and
 * {@link GenerationResult#acceptedDraftTokens()} tell how it went.
 */
public final class Speculation {
    /** llama.cpp common's {@code --spec-draft-n-max} default. */
    public static final int DEFAULT_DRAFT_MAX = 3;
    /** llama.cpp common's {@code --spec-ngram-simple-size-n} default. */
    public static final int DEFAULT_NGRAM_SIZE = 12;
    /** llama.cpp common's {@code --spec-ngram-simple-size-m} default. */
    public static final int DEFAULT_NGRAM_DRAFT_MAX = 48;
    /** Most tokens one round may guess. */
    public static final int MAX_DRAFT = 256;

    private final LlamaContext draftContext;
    private final int ngramSize;
    private final int draftMax;
    private final float minProbability;

    private Speculation(LlamaContext draftContext, int ngramSize, int draftMax, float minProbability) {
        this.draftContext = draftContext;
        this.ngramSize = ngramSize;
        this.draftMax = draftMax;
        this.minProbability = minProbability;
    }

    /**
     * Guesses from a draft model: {@code draftContext} is a context of a smaller model with the same vocabulary
     * (checked when a generation starts: an {@link IllegalArgumentException} names what differs, as llama.cpp's
     * {@code common_speculative_are_compatible} decides). Give it at least the target's context size; where the
     * sequence does not fit it, no guess is made. Its KV cache is the drafter's while a generation runs: sequence 0
     * for {@link LlamaContext#generate}; under a {@link SequenceScheduler}, the scheduler's sequence id modulo the
     * draft context's {@link ContextOptions#sequences()} (give it as many sequences as the scheduler, so that each
     * keeps its own draft cache instead of re-decoding another's).
     * Drafts {@value #DEFAULT_DRAFT_MAX} tokens per round ({@link #withDraftMax}) with no probability floor
     * ({@link #withMinProbability}).
     */
    public static Speculation draft(LlamaContext draftContext) {
        Objects.requireNonNull(draftContext, "draftContext");
        return new Speculation(draftContext, 0, DEFAULT_DRAFT_MAX, 0f);
    }

    /**
     * Prompt lookup without a second model, with llama.cpp's defaults: n-grams of {@value #DEFAULT_NGRAM_SIZE} tokens
     * and up to {@value #DEFAULT_NGRAM_DRAFT_MAX} guessed tokens.
     */
    public static Speculation ngram() {
        return ngram(DEFAULT_NGRAM_SIZE, DEFAULT_NGRAM_DRAFT_MAX);
    }

    /**
     * Prompt lookup matching the last {@code ngramSize} tokens and guessing up to {@code draftMax} tokens.
     *
     * @throws IllegalArgumentException if {@code ngramSize} is not in 1..64 or {@code draftMax} not in
     *                                  1..{@value #MAX_DRAFT}
     */
    public static Speculation ngram(int ngramSize, int draftMax) {
        if (ngramSize < 1 || ngramSize > 64) {
            throw new IllegalArgumentException("ngramSize must be in 1..64, was " + ngramSize);
        }
        return new Speculation(null, ngramSize, checkDraftMax(draftMax), 0f);
    }

    /**
     * The same speculation guessing at most {@code draftMax} tokens per round (defaults: {@value #DEFAULT_DRAFT_MAX}
     * for a draft model, {@value #DEFAULT_NGRAM_DRAFT_MAX} for n-grams). Fewer are guessed where the sequence, the
     * batch or {@link GenerateOptions#maxTokens()} leave less room.
     *
     * @throws IllegalArgumentException if not in 1..{@value #MAX_DRAFT}
     */
    public Speculation withDraftMax(int draftMax) {
        return new Speculation(draftContext, ngramSize, checkDraftMax(draftMax), minProbability);
    }

    /**
     * The same draft-model speculation that stops guessing at the first token the draft model gives a probability
     * below {@code p} (llama.cpp's {@code --spec-draft-p-min}; defaults to 0, no floor). A floor saves target work
     * on guesses the draft itself doubts.
     *
     * @throws IllegalArgumentException if {@code p} is not in [0, 1], or this is n-gram speculation
     */
    public Speculation withMinProbability(float p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException("minProbability must be in [0, 1], was " + p);
        }
        if (draftContext == null) {
            throw new IllegalArgumentException("minProbability applies to a draft model, not to n-gram lookup");
        }
        return new Speculation(draftContext, ngramSize, draftMax, p);
    }

    private static int checkDraftMax(int draftMax) {
        if (draftMax < 1 || draftMax > MAX_DRAFT) {
            throw new IllegalArgumentException("draftMax must be in 1.." + MAX_DRAFT + ", was " + draftMax);
        }
        return draftMax;
    }

    /** The draft model's context, or empty for n-gram lookup. */
    public Optional<LlamaContext> draftContext() {
        return Optional.ofNullable(draftContext);
    }

    /** Tokens matched by n-gram lookup; 0 for a draft model. */
    public int ngramSize() {
        return ngramSize;
    }

    /** Most tokens guessed per round. */
    public int draftMax() {
        return draftMax;
    }

    /** The draft model's probability floor (0: none). */
    public float minProbability() {
        return minProbability;
    }

    @Override
    public String toString() {
        return draftContext != null
                ? "Speculation[draft=" + draftContext.model().path().getFileName() + ", draftMax=" + draftMax
                        + (minProbability > 0 ? ", minProbability=" + minProbability : "") + "]"
                : "Speculation[ngram=" + ngramSize + ", draftMax=" + draftMax + "]";
    }
}
