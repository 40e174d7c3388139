package io.github.llamaffm.internal;

import io.github.llamaffm.CustomSampler;
import io.github.llamaffm.Grammar;
import io.github.llamaffm.LlamaException;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_logit_bias;
import io.github.llamaffm.bindings.llama_sampler_i;
import io.github.llamaffm.bindings.llama_token_data;
import io.github.llamaffm.bindings.llama_token_data_array;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A native {@code llama_sampler} chain built from a {@link Sampler} specification, in the order of llama.cpp's
 * {@code common_sampler_init} (common/sampling.cpp); see {@link Sampler} for the order.
 *
 * <p>Differences from common: the grammar is the first stage of the chain (common keeps it separate and applies it
 * either first or by rejection sampling; putting it first is equivalent to {@code grammar_first = true}), and stages
 * that llama.cpp creates as no-ops (names starting with {@code '?'}, e.g. {@code ?top-k} for {@code top_k = 0}) are
 * left out.
 *
 * <p>Not thread-safe: one thread samples at a time. {@link #close()} is idempotent; other methods throw
 * {@link IllegalStateException} afterwards.
 */
public final class SamplerChain implements AutoCloseable {
    /** {@code m} of {@code llama_sampler_init_mirostat}, as common passes it. */
    private static final int MIROSTAT_M = 100;
    /** {@code min_keep} of top-p, min-p, typical and XTC: common's default. */
    private static final long MIN_KEEP = 0;

    private final MemorySegment chain;
    /** The context this chain is attached to for backend sampling ({@link #attachTo}), or null. */
    private MemorySegment attachedContext;
    private int attachedSequence;
    private final int vocabSize;
    /** Index of the grammar stage in the chain, or -1. */
    private final int grammarIndex;
    /** The Java stage, or null. */
    private final CustomStage custom;
    private final NativeHandle handle;
    /** Out-parameter of the checked sample call (grammar chains). */
    private final MemorySegment tokenOut = Arena.ofAuto().allocate(ValueLayout.JAVA_INT);

    private SamplerChain(MemorySegment chain, int vocabSize, int grammarIndex, CustomStage custom) {
        this.chain = chain;
        this.vocabSize = vocabSize;
        this.grammarIndex = grammarIndex;
        this.custom = custom;
        this.handle = new NativeHandle(this, "SamplerChain", freeAction(chain, custom == null ? null : custom.arena));
    }

    /**
     * Backend sampling: attaches this chain to sequence {@code seq} of {@code ctx} ({@code llama_set_sampler}), so it
     * runs in the decode graph and {@link #sampleDecoded} returns the token the graph picked. Only for a chain without
     * a grammar (it needs the host's candidates) or a custom Java stage; which native stages run in the graph is
     * llama.cpp's choice (a prefix of the chain; the rest continues on the host). {@link #close()} detaches first.
     *
     * @return whether the chain is attached
     */
    public boolean attachTo(MemorySegment ctx, int seq) {
        ensureOpen();
        if (grammarIndex >= 0 || custom != null || attachedContext != null) {
            return false;
        }
        if (!Llama.llama_set_sampler(ctx, seq, chain)) {
            return false;
        }
        attachedContext = ctx;
        attachedSequence = seq;
        return true;
    }

    /** Frees the chain, then the custom stage's upcall stubs; captures only those, never the chain object. */
    private static Runnable freeAction(MemorySegment chain, Arena customArena) {
        return () -> {
            Llama.llama_sampler_free(chain);
            if (customArena != null) {
                customArena.close(); // after the chain: freeing it still reads the stage's iface
            }
        };
    }

    /**
     * Builds the native chain.
     *
     * @param spec      what to build
     * @param vocab     the model's {@code llama_vocab*}; may be {@code null} or {@code NULL} when no stage needs it
     *                  (grammar, DRY and infill do)
     * @param vocabSize number of tokens of the vocabulary
     * @throws IllegalArgumentException if the grammar does not parse, a logit-bias token is out of range, or a stage
     *                                  needs a vocabulary and none was given
     */
    public static SamplerChain create(Sampler spec, MemorySegment vocab, int vocabSize) {
        Objects.requireNonNull(spec, "spec");
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be > 0, was " + vocabSize);
        }
        MemorySegment v = vocab == null ? MemorySegment.NULL : vocab;
        boolean hasVocab = !v.equals(MemorySegment.NULL);
        boolean dryEnabled = !spec.isGreedy() && spec.mirostat().version() == 0 && spec.dry().multiplier() != 0
                && spec.dry().penaltyLastN() != 0;
        if (!hasVocab) {
            String needs = spec.grammar().isPresent() ? "a grammar"
                    : dryEnabled ? "DRY"
                    : spec.isInfill() && !spec.isGreedy() && spec.mirostat().version() == 0 ? "infill" : null;
            if (needs != null) {
                throw new IllegalArgumentException(needs + " needs the model's vocabulary");
            }
        }
        for (int token : spec.logitBias().keySet()) {
            if (token >= vocabSize) {
                throw new IllegalArgumentException("logitBias token must be in 0.." + (vocabSize - 1) + ", was "
                        + token);
            }
        }
        NativeRuntime.ensureInitialized();
        if (hasVocab && Llama.llama_vocab_n_tokens(v) != vocabSize) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " does not match the vocabulary ("
                    + Llama.llama_vocab_n_tokens(v) + " tokens)");
        }

        MemorySegment chain;
        try (Arena arena = Arena.ofConfined()) {
            chain = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params(arena));
        }
        if (chain.equals(MemorySegment.NULL)) {
            throw new LlamaException("llama_sampler_chain_init failed");
        }
        CustomStage customStage = null;
        try {
            int seed = (int) spec.seed();
            int grammarIndex = -1;

            // common_sampler_init keeps the grammar apart and applies it before the chain (grammar_first) or by
            // rejection sampling; as the first chain stage it constrains every token the same way.
            if (spec.grammar().isPresent()) {
                MemorySegment g = createGrammar(spec, v);
                grammarIndex = Llama.llama_sampler_chain_n(chain);
                Llama.llama_sampler_chain_add(chain, g);
            }

            // sampling.cpp:325-338 - user biases plus the model's suppress tokens (-inf); added only if any.
            Map<Integer, Float> bias = new LinkedHashMap<>(spec.logitBias());
            if (hasVocab) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
                    MemorySegment suppress = Llama.llama_vocab_get_suppress_tokens(v, n);
                    int count = n.get(ValueLayout.JAVA_INT, 0);
                    if (count > 0 && !suppress.equals(MemorySegment.NULL)) {
                        MemorySegment s = suppress.reinterpret((long) count * Integer.BYTES);
                        for (int i = 0; i < count; i++) {
                            bias.merge(s.getAtIndex(ValueLayout.JAVA_INT, i), Float.NEGATIVE_INFINITY, Float::sum);
                        }
                    }
                }
            }
            if (!bias.isEmpty()) {
                try (Arena arena = Arena.ofConfined()) {
                    // llama_sampler_init_logit_bias copies the array into a std::vector.
                    MemorySegment array = llama_logit_bias.allocateArray(bias.size(), arena);
                    int i = 0;
                    for (Map.Entry<Integer, Float> e : bias.entrySet()) {
                        MemorySegment lb = llama_logit_bias.asSlice(array, i++);
                        llama_logit_bias.token(lb, e.getKey());
                        llama_logit_bias.bias(lb, e.getValue());
                    }
                    add(chain, Llama.llama_sampler_init_logit_bias(vocabSize, bias.size(), array), "logit_bias");
                }
            }

            if (spec.isGreedy()) {
                addPenalties(chain, spec, vocabSize);
                customStage = addCustom(chain, spec);
                if (customStage == null || !customStage.selects) {
                    add(chain, Llama.llama_sampler_init_greedy(), "greedy");
                }
            } else if (spec.mirostat().version() == 0) {
                // sampling.cpp:344-400 over the default common_params_sampling::samplers order (common.h:261-271)
                addPenalties(chain, spec, vocabSize);
                if (dryEnabled) {
                    addDry(chain, spec, v);
                }
                add(chain, Llama.llama_sampler_init_top_n_sigma(spec.topNSigma()), "top_n_sigma");
                add(chain, Llama.llama_sampler_init_top_k(spec.topK()), "top_k");
                add(chain, Llama.llama_sampler_init_typical(spec.typicalP(), MIN_KEEP), "typical");
                add(chain, Llama.llama_sampler_init_top_p(spec.topP(), MIN_KEEP), "top_p");
                add(chain, Llama.llama_sampler_init_min_p(spec.minP(), MIN_KEEP), "min_p");
                add(chain, Llama.llama_sampler_init_xtc(spec.xtc().probability(), spec.xtc().threshold(), MIN_KEEP, seed),
                        "xtc");
                if (spec.isInfill()) {
                    add(chain, Llama.llama_sampler_init_infill(v), "infill");
                }
                add(chain, Llama.llama_sampler_init_temp_ext(spec.temperature(), spec.dynamicTemperature().range(),
                        spec.dynamicTemperature().exponent()), "temp_ext");
                customStage = addCustom(chain, spec);
                if (customStage == null || !customStage.selects) {
                    if (spec.adaptiveP().target() >= 0) { // sampling.cpp:394-396: adaptive-p replaces dist
                        add(chain, Llama.llama_sampler_init_adaptive_p(spec.adaptiveP().target(), spec.adaptiveP().decay(), seed),
                                "adaptive_p");
                    } else {
                        add(chain, Llama.llama_sampler_init_dist(seed), "dist"); // sampling.cpp:399
                    }
                }
            } else {
                // sampling.cpp:401-406
                add(chain, Llama.llama_sampler_init_temp(spec.temperature()), "temp");
                customStage = addCustom(chain, spec);
                if (customStage == null || !customStage.selects) {
                    if (spec.mirostat().version() == 1) {
                        add(chain, Llama.llama_sampler_init_mirostat(vocabSize, seed, spec.mirostat().tau(),
                                spec.mirostat().eta(), MIROSTAT_M), "mirostat");
                    } else {
                        add(chain, Llama.llama_sampler_init_mirostat_v2(seed, spec.mirostat().tau(),
                                spec.mirostat().eta()), "mirostat_v2");
                    }
                }
            }
            return new SamplerChain(chain, vocabSize, grammarIndex, customStage);
        } catch (RuntimeException | Error e) {
            // The chain frees every stage added so far; the custom stage's stubs must outlive that.
            Llama.llama_sampler_free(chain);
            if (customStage != null) {
                customStage.arena.close();
            }
            throw e;
        }
    }

    /**
     * The grammar stage: plain, or lazy with trigger patterns/tokens (llama_sampler_init_grammar_lazy_patterns, as
     * common_sampler_init builds it), then fed the grammar's prefill (a template's generation prompt) through the glue,
     * which turns a rejected token into an exception instead of an abort.
     */
    private static MemorySegment createGrammar(Sampler spec, MemorySegment vocab) {
        Grammar gs = spec.grammarSpec().orElseGet(() -> Grammar.gbnf(spec.grammar().get()));
        MemorySegment g;
        try (Arena arena = Arena.ofConfined()) {
            // The grammar samplers copy the strings, patterns and tokens they are given.
            NativeRuntime.clearLastError();
            MemorySegment text = arena.allocateFrom(gs.gbnf());
            MemorySegment root = arena.allocateFrom(spec.grammarRoot());
            if (gs.lazy()) {
                List<String> patterns = gs.triggerPatterns();
                MemorySegment p = arena.allocate(ValueLayout.ADDRESS, Math.max(1, patterns.size()));
                for (int i = 0; i < patterns.size(); i++) {
                    p.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(patterns.get(i)));
                }
                List<Integer> tokens = gs.triggerTokens();
                MemorySegment t = arena.allocate(ValueLayout.JAVA_INT, Math.max(1, tokens.size()));
                for (int i = 0; i < tokens.size(); i++) {
                    t.setAtIndex(ValueLayout.JAVA_INT, i, tokens.get(i));
                }
                g = Llama.llama_sampler_init_grammar_lazy_patterns(vocab, text, root, p, patterns.size(), t,
                        tokens.size());
            } else {
                g = Llama.llama_sampler_init_grammar(vocab, text, root);
            }
            if (g.equals(MemorySegment.NULL)) {
                String why = NativeRuntime.lastErrorSuffix();
                throw new IllegalArgumentException("invalid grammar: "
                        + (why.isEmpty() ? "llama.cpp could not parse it (root rule '" + spec.grammarRoot() + "')"
                                : why.substring(2)));
            }
            if (!gs.prefill().isEmpty() && !gs.lazy()) {
                try {
                    ChatGlue.call(Llama.llamaffm_grammar_prefill(g, vocab, arena.allocateFrom(gs.prefill())));
                } catch (RuntimeException e) {
                    Llama.llama_sampler_free(g);
                    throw new IllegalArgumentException("grammar does not accept its prefill: " + e.getMessage(), e);
                }
            }
        }
        return g;
    }

    private static void addPenalties(MemorySegment chain, Sampler spec, int vocabSize) {
        add(chain, Llama.llama_sampler_init_penalties(vocabSize, spec.penalties().lastN(), spec.penalties().repeat(),
                spec.penalties().frequency(), spec.penalties().presence()), "penalties");
    }

    private static void addDry(MemorySegment chain, Sampler spec, MemorySegment vocab) {
        List<String> breakers = spec.dry().sequenceBreakers();
        try (Arena arena = Arena.ofConfined()) {
            // llama_sampler_init_dry tokenizes the breakers during the call and keeps only the token sequences.
            MemorySegment array = breakers.isEmpty() ? MemorySegment.NULL
                    : arena.allocate(ValueLayout.ADDRESS, breakers.size());
            for (int i = 0; i < breakers.size(); i++) {
                array.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(breakers.get(i)));
            }
            add(chain, Llama.llama_sampler_init_dry(vocab, spec.dry().multiplier(), spec.dry().base(),
                    spec.dry().allowedLength(), spec.dry().penaltyLastN(), array, breakers.size()), "dry");
        }
    }

    private static CustomStage addCustom(MemorySegment chain, Sampler spec) {
        if (spec.custom().isEmpty()) {
            return null;
        }
        CustomStage stage = new CustomStage(spec.custom().get());
        MemorySegment smpl;
        try {
            smpl = Llama.llama_sampler_init(stage.iface, MemorySegment.NULL);
            if (smpl.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama_sampler_init failed for the custom sampler");
            }
        } catch (RuntimeException | Error e) {
            stage.arena.close();
            throw e;
        }
        // From here the chain owns the llama_sampler (it deletes it; iface->free is NULL as ctx is NULL), and the
        // caller closes the stage's arena after freeing the chain.
        Llama.llama_sampler_chain_add(chain, smpl);
        return stage;
    }

    /** Adds a stage; drops llama.cpp's no-op placeholders (names starting with '?'). */
    private static void add(MemorySegment chain, MemorySegment smpl, String what) {
        if (smpl.equals(MemorySegment.NULL)) {
            throw new LlamaException("llama_sampler_init_" + what + " failed" + NativeRuntime.lastErrorSuffix());
        }
        String name = NativeRuntime.cString(Llama.llama_sampler_name(smpl));
        if (name != null && name.startsWith("?")) {
            Llama.llama_sampler_free(smpl);
            return;
        }
        Llama.llama_sampler_chain_add(chain, smpl);
    }

    /**
     * Samples a token from output {@code outputIndex} of the last decode ({@code llama_sampler_sample}; -1 = the last
     * output) and accepts it into every stage's history, the grammar included.
     *
     * @throws IllegalArgumentException if the context has no logits for that output
     * @throws LlamaException           if the custom sampler failed (its exception is the cause)
     */
    /**
     * The generation hot path: samples output {@code outputIndex} (-1 = the last) of a decode the caller knows
     * produced logits for it, without {@link #sample(MemorySegment, int)}'s extra checking calls.
     */
    public int sampleDecoded(MemorySegment ctx, int outputIndex) {
        if (grammarIndex >= 0) {
            return sampleWithGrammar(ctx, outputIndex);
        }
        clearFailure();
        int token = grammarIndex >= 0 ? sampleChecked(ctx, outputIndex)
                : Llama.llama_sampler_sample(chain, ctx, outputIndex);
        rethrowFailure();
        return token;
    }

    /**
     * With a grammar, sampling goes through the glue: a grammar throws a C++ exception for text it cannot accept (a
     * lazy grammar's trigger followed by something else), which must become a Java exception, not an abort.
     */
    private int sampleChecked(MemorySegment ctx, int outputIndex) {
        MemorySegment err = Llama.llamaffm_sampler_sample_checked(chain, ctx, outputIndex, tokenOut);
        if (!err.equals(MemorySegment.NULL)) {
            rethrowFailure();
            ChatGlue.call(err); // throws IllegalArgumentException with the grammar's message
        }
        return tokenOut.get(ValueLayout.JAVA_INT, 0);
    }

    public int sample(MemorySegment ctx, int outputIndex) {
        ensureOpen();
        Objects.requireNonNull(ctx, "ctx");
        if (Llama.llama_get_sampled_token_ith(ctx, outputIndex) == -1) {
            NativeRuntime.clearLastError();
            if (Llama.llama_get_logits_ith(ctx, outputIndex).equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("no logits for output " + outputIndex
                        + NativeRuntime.lastErrorSuffix());
            }
        }
        if (grammarIndex >= 0) {
            return sampleWithGrammar(ctx, outputIndex);
        }
        clearFailure();
        int token = grammarIndex >= 0 ? sampleChecked(ctx, outputIndex)
                : Llama.llama_sampler_sample(chain, ctx, outputIndex);
        rethrowFailure();
        return token;
    }

    /**
     * With a grammar, llama_sampler_sample would accept whatever the last stage picks even when the grammar excluded
     * every candidate, and the grammar's accept then throws a C++ exception through the C API (std::terminate: the
     * JVM dies). So the chain is applied here and the pick checked before it is accepted.
     */
    private int sampleWithGrammar(MemorySegment ctx, int outputIndex) {
        MemorySegment logits = Llama.llama_get_logits_ith(ctx, outputIndex);
        if (logits.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("no logits for output " + outputIndex);
        }
        return sampleChecked(logits.reinterpret((long) vocabSize * Float.BYTES));
    }

    /**
     * Samples a token from caller-supplied logits (one per vocabulary token, indexed by token id) and accepts it,
     * exactly as {@link #sample(MemorySegment, int)} does with a context's logits.
     *
     * @throws IllegalArgumentException if {@code logits.length} is not the vocabulary size
     * @throws LlamaException           if the custom sampler failed (its exception is the cause) or no token was
     *                                  selected
     */
    public int sample(float[] logits) {
        ensureOpen();
        Objects.requireNonNull(logits, "logits");
        if (logits.length != vocabSize) {
            throw new IllegalArgumentException("logits must have " + vocabSize + " elements, had " + logits.length);
        }
        return sampleChecked(MemorySegment.ofArray(logits));
    }

    private static boolean anyAllowed(MemorySegment curP, long stride, long logitOffset) {
        MemorySegment data = llama_token_data_array.data(curP).reinterpret(llama_token_data_array.size(curP) * stride);
        for (long i = 0, n = llama_token_data_array.size(curP); i < n; i++) {
            if (data.get(ValueLayout.JAVA_FLOAT, i * stride + logitOffset) != Float.NEGATIVE_INFINITY) {
                return true;
            }
        }
        return false;
    }

    /** Applies the chain to {@code logits} (vocabSize floats), checks the pick, accepts it. */
    private int sampleChecked(MemorySegment logits) {
        try (Arena arena = Arena.ofConfined()) {
            long stride = llama_token_data.sizeof();
            long idOffset = llama_token_data.id$offset();
            long logitOffset = llama_token_data.logit$offset();
            MemorySegment data = llama_token_data.allocateArray(vocabSize, arena); // zeroed: p = 0
            for (int i = 0; i < vocabSize; i++) {
                data.set(ValueLayout.JAVA_INT, i * stride + idOffset, i);
                data.set(ValueLayout.JAVA_FLOAT, i * stride + logitOffset, logits.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            }
            MemorySegment curP = llama_token_data_array.allocate(arena);
            llama_token_data_array.data(curP, data);
            llama_token_data_array.size(curP, vocabSize);
            llama_token_data_array.selected(curP, -1);
            llama_token_data_array.sorted(curP, false);
            clearFailure();
            if (grammarIndex < 0) {
                Llama.llama_sampler_apply(chain, curP);
            } else {
                // The stages one by one (as the chain does), stopping after the grammar if it excluded everything:
                // the later stages (dist) would pick from nothing, and accepting the pick would throw in the grammar.
                int n = Llama.llama_sampler_chain_n(chain);
                for (int i = 0; i < n; i++) {
                    Llama.llama_sampler_apply(Llama.llama_sampler_chain_get(chain, i), curP);
                    if (i == grammarIndex && !anyAllowed(curP, stride, logitOffset)) {
                        throw new LlamaException("the grammar allows no token of this vocabulary here: no text the "
                                + "model can produce continues it");
                    }
                }
            }
            long selected = llama_token_data_array.selected(curP);
            long size = llama_token_data_array.size(curP);
            if (selected < 0 || selected >= size) {
                rethrowFailure();
                throw new LlamaException("the sampler chain selected no token");
            }
            int token = data.get(ValueLayout.JAVA_INT, selected * stride + idOffset);
            if (grammarIndex >= 0) {
                MemorySegment err = Llama.llamaffm_sampler_accept_checked(chain, token);
                if (!err.equals(MemorySegment.NULL)) {
                    rethrowFailure();
                    ChatGlue.call(err);
                }
            } else {
                Llama.llama_sampler_accept(chain, token);
            }
            rethrowFailure();
            return token;
        }
    }

    /**
     * Adds a token that is already in the context (a prompt token) to the history of the stages that keep one
     * (penalties, DRY, mirostat, the custom sampler). The grammar is not fed, as in common's
     * {@code common_sampler_accept(..., is_generated = false)}: it only constrains the generated text. Sampled tokens
     * are accepted by {@link #sample} already.
     */
    public void accept(int token) {
        ensureOpen();
        if (token < 0 || token >= vocabSize) {
            throw new IllegalArgumentException("token must be in 0.." + (vocabSize - 1) + ", was " + token);
        }
        clearFailure();
        int n = Llama.llama_sampler_chain_n(chain);
        for (int i = 0; i < n; i++) {
            if (i != grammarIndex) {
                Llama.llama_sampler_accept(Llama.llama_sampler_chain_get(chain, i), token);
            }
        }
        rethrowFailure();
    }

    /** Clears every stage's state (history, grammar position, mirostat mu); the seed's RNG is re-seeded. */
    public void reset() {
        ensureOpen();
        clearFailure();
        Llama.llama_sampler_reset(chain);
        rethrowFailure();
    }

    /** The seed in use ({@code llama_sampler_get_seed}), an unsigned 32-bit value as an int. */
    public int seed() {
        ensureOpen();
        return Llama.llama_sampler_get_seed(chain);
    }

    /** Names of the chain's stages in order ({@code llama_sampler_name}), e.g. {@code [top-k, ..., dist]}. */
    public List<String> stageNames() {
        ensureOpen();
        int n = Llama.llama_sampler_chain_n(chain);
        List<String> names = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            names.add(NativeRuntime.cString(Llama.llama_sampler_name(Llama.llama_sampler_chain_get(chain, i))));
        }
        return List.copyOf(names);
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Frees the chain and all its stages; idempotent. A chain never closed is freed by a cleaner. */
    @Override
    public void close() {
        if (attachedContext != null && !handle.isClosed()) {
            Llama.llama_set_sampler(attachedContext, attachedSequence, MemorySegment.NULL); // before the chain is freed
            attachedContext = null;
        }
        handle.close();
    }

    private void ensureOpen() {
        handle.ensureOpen();
    }

    private void clearFailure() {
        if (custom != null) {
            custom.failure = null;
        }
    }

    private void rethrowFailure() {
        if (custom != null && custom.failure != null) {
            Throwable t = custom.failure;
            custom.failure = null;
            throw new LlamaException("custom sampler '" + custom.name + "' failed: " + t, t);
        }
    }

    /**
     * The native side of a {@link CustomSampler}: a {@code llama_sampler_i} whose functions are upcall stubs bound to
     * the Java object, with {@code ctx = NULL} (so llama.cpp needs neither {@code free} nor {@code clone}: a NULL-ctx
     * sampler is only deleted). Every upcall catches everything; the first failure is kept for the chain to rethrow.
     */
    private static final class CustomStage {
        final CustomSampler sampler;
        final String name;
        final boolean selects;
        final Arena arena = Arena.ofShared();
        final MemorySegment iface;
        final MemorySegment nameSegment;
        final NativeCandidates candidates = new NativeCandidates();
        Throwable failure;

        CustomStage(CustomSampler sampler) {
            this.sampler = sampler;
            try {
                String n = sampler.name();
                this.name = n == null || n.isEmpty() ? "java" : n.replace('\0', ' ');
                this.selects = sampler.selectsToken();
                this.nameSegment = arena.allocateFrom(name);
                // Zero-filled: backend_* and copy_state stay NULL, as do clone and free (ctx is NULL).
                this.iface = llama_sampler_i.allocate(arena);
                llama_sampler_i.name(iface, llama_sampler_i.name.allocate(this::nameUpcall, arena));
                llama_sampler_i.accept(iface, llama_sampler_i.accept.allocate(this::acceptUpcall, arena));
                llama_sampler_i.apply(iface, llama_sampler_i.apply.allocate(this::applyUpcall, arena));
                llama_sampler_i.reset(iface, llama_sampler_i.reset.allocate(this::resetUpcall, arena));
            } catch (RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        }

        private void fail(Throwable t) {
            if (failure == null) {
                failure = t;
            }
        }

        private MemorySegment nameUpcall(MemorySegment smpl) {
            return nameSegment;
        }

        private void acceptUpcall(MemorySegment smpl, int token) {
            try {
                sampler.accept(token);
            } catch (Throwable t) {
                fail(t);
            }
        }

        private void resetUpcall(MemorySegment smpl) {
            try {
                sampler.reset();
            } catch (Throwable t) {
                fail(t);
            }
        }

        private void applyUpcall(MemorySegment smpl, MemorySegment curP) {
            try {
                candidates.bind(curP);
                try {
                    sampler.apply(candidates);
                } catch (Throwable t) {
                    fail(t);
                }
                if (selects && !candidates.hasValidSelection()) {
                    // llama_sampler_sample asserts a valid selection (and a grammar would abort on an excluded
                    // token): fall back to the best candidate and report the failure.
                    candidates.selectBest();
                    fail(new IllegalStateException("custom sampler '" + name
                            + "' selects tokens but selected no valid candidate"));
                }
            } catch (Throwable t) {
                fail(t);
            } finally {
                candidates.unbind();
            }
        }
    }

    /** {@link CustomSampler.Candidates} over a native {@code llama_token_data_array}, valid while bound. */
    private static final class NativeCandidates implements CustomSampler.Candidates {
        private static final long STRIDE = llama_token_data.sizeof();
        private static final long ID = llama_token_data.id$offset();
        private static final long LOGIT = llama_token_data.logit$offset();
        private static final long P = llama_token_data.p$offset();

        private MemorySegment array;
        private MemorySegment data;
        private int size;

        void bind(MemorySegment curP) {
            MemorySegment a = curP.reinterpret(llama_token_data_array.sizeof());
            long n = llama_token_data_array.size(a);
            if (n < 0 || n > Integer.MAX_VALUE) {
                throw new IllegalStateException("candidate count out of range: " + n);
            }
            MemorySegment d = llama_token_data_array.data(a);
            this.data = n == 0 ? MemorySegment.NULL : d.reinterpret(n * STRIDE);
            this.size = (int) n;
            this.array = a;
        }

        void unbind() {
            array = null;
            data = null;
            size = 0;
        }

        boolean hasValidSelection() {
            long s = llama_token_data_array.selected(array);
            return s >= 0 && s < size && logitAt((int) s) != Float.NEGATIVE_INFINITY;
        }

        void selectBest() {
            int best = 0;
            for (int i = 1; i < size; i++) {
                if (logitAt(i) > logitAt(best)) {
                    best = i;
                }
            }
            llama_token_data_array.selected(array, size == 0 ? -1 : best);
        }

        private void check(int i) {
            if (array == null) {
                throw new IllegalStateException("candidates are only valid during CustomSampler.apply");
            }
            Objects.checkIndex(i, size);
        }

        private float logitAt(int i) {
            return data.get(ValueLayout.JAVA_FLOAT, i * STRIDE + LOGIT);
        }

        @Override
        public int size() {
            if (array == null) {
                throw new IllegalStateException("candidates are only valid during CustomSampler.apply");
            }
            return size;
        }

        @Override
        public int id(int i) {
            check(i);
            return data.get(ValueLayout.JAVA_INT, i * STRIDE + ID);
        }

        @Override
        public float logit(int i) {
            check(i);
            return logitAt(i);
        }

        @Override
        public void setLogit(int i, float logit) {
            check(i);
            if (Float.isNaN(logit) || logit == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("logit must be finite or negative infinity, was " + logit);
            }
            float old = logitAt(i);
            if (old == Float.NEGATIVE_INFINITY || old == logit) {
                return;
            }
            data.set(ValueLayout.JAVA_FLOAT, i * STRIDE + LOGIT, logit);
            llama_token_data_array.sorted(array, false);
        }

        @Override
        public float probability(int i) {
            check(i);
            return data.get(ValueLayout.JAVA_FLOAT, i * STRIDE + P);
        }

        @Override
        public boolean isSorted() {
            size();
            return llama_token_data_array.sorted(array);
        }

        @Override
        public int selected() {
            size();
            long s = llama_token_data_array.selected(array);
            return s >= 0 && s < size ? (int) s : -1;
        }

        @Override
        public void select(int i) {
            check(i);
            if (logitAt(i) == Float.NEGATIVE_INFINITY) {
                throw new IllegalArgumentException("candidate " + i + " (token " + id(i)
                        + ") is excluded (logit -infinity) and cannot be selected");
            }
            llama_token_data_array.selected(array, i);
        }

        @Override
        public void truncate(int n) {
            int s = size();
            if (n < 1 || n > s) {
                throw new IllegalArgumentException("truncate size must be in 1.." + s + ", was " + n);
            }
            llama_token_data_array.size(array, n);
            if (llama_token_data_array.selected(array) >= n) {
                llama_token_data_array.selected(array, -1);
            }
            size = n;
        }

        @Override
        public String toString() {
            return array == null ? "Candidates[invalid]" : "Candidates[size=" + size + "]";
        }
    }
}
