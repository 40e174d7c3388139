package io.github.llamaffm;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * How to pick each generated token: an immutable sampling specification built with {@link #builder()}.
 *
 * <p>Defaults are those of llama.cpp's {@code common_params_sampling} ({@code common/common.h}), the values used by
 * {@code llama-cli} and {@code llama-server} when no option is given. A chain is assembled from the specification in
 * the order of llama.cpp's {@code common_sampler_init} ({@code common/sampling.cpp}):
 * <ol>
 *   <li>{@code grammar} (if set; applied first, so the sampled token always satisfies it)</li>
 *   <li>{@code logit-bias} (if any bias is set, or the model suppresses tokens)</li>
 *   <li>default mode: {@code penalties}, {@code dry}, {@code top-n-sigma}, {@code top-k}, {@code typical},
 *       {@code top-p}, {@code min-p}, {@code xtc}, {@code infill} (if enabled), {@code temp-ext}, then the
 *       {@link CustomSampler custom} stage and {@code dist(seed)}</li>
 *   <li>mirostat mode: {@code temp}, custom stage, {@code mirostat} or {@code mirostat-v2}</li>
 *   <li>greedy mode: {@code penalties}, custom stage, {@code greedy}</li>
 * </ol>
 * Stages whose parameters disable them (for instance {@code topK(0)}, {@code topP(1)}) are left out, as llama.cpp
 * turns them into no-ops.
 *
 * <p>A temperature of 0 samples greedily, as in llama.cpp: the temperature stage keeps only the most likely remaining
 * candidate, so {@code dist} has a single choice.
 *
 * <p>Related settings are small immutable records with withers ({@link Penalties}, {@link Dry}, {@link Xtc},
 * {@link Mirostat}, {@link DynamicTemperature}, {@link AdaptiveP}), so changing one value keeps the others' defaults:
 *
 * {@snippet :
 * Sampler precise = Sampler.builder().temperature(0.2f).topK(20).seed(42).build();
 * Sampler json = Sampler.builder().grammar(gbnf).build();
 * Sampler lessRepetitive = Sampler.builder().penalties(p -> p.withRepeat(1.1f)).build();
 * }
 */
public final class Sampler {
    /** {@code LLAMA_DEFAULT_SEED}: pick a random seed each time a chain is created. */
    public static final long RANDOM_SEED = 0xFFFFFFFFL;

    private static final Sampler DEFAULTS = builder().build();
    private static final Sampler GREEDY = builder().greedy(true).build();

    /**
     * Repetition penalties over the last {@code lastN} tokens ({@code penalties} stage). Defaults: lastN 64, repeat 1
     * (disabled), frequency 0 (disabled), presence 0 (disabled).
     *
     * @param lastN     how many recent tokens to penalize; {@code >= 0}, 0 disables the penalties
     * @param repeat    repetition penalty; finite and {@code > 0}, 1 = disabled
     * @param frequency frequency penalty; finite, 0 = disabled
     * @param presence  presence penalty; finite, 0 = disabled
     */
    public record Penalties(int lastN, float repeat, float frequency, float presence) {
        /** llama.cpp's common defaults (all disabled). */
        public static final Penalties DEFAULTS = new Penalties(64, 1.0f, 0.0f, 0.0f);

        public Penalties {
            if (lastN < 0) {
                throw new IllegalArgumentException("penalties lastN must be >= 0 (0 = disabled), was " + lastN);
            }
            // Same check as common_sampler_init: 1/repeat must be finite too.
            if (!Float.isFinite(repeat) || repeat <= 0 || !Float.isFinite(1.0f / repeat)) {
                throw new IllegalArgumentException("penalties repeat must be finite and > 0 (1 = disabled), was "
                        + repeat);
            }
            finite("penalties frequency", frequency);
            finite("penalties presence", presence);
        }

        public Penalties withLastN(int lastN) { return new Penalties(lastN, repeat, frequency, presence); }
        public Penalties withRepeat(float repeat) { return new Penalties(lastN, repeat, frequency, presence); }
        public Penalties withFrequency(float frequency) { return new Penalties(lastN, repeat, frequency, presence); }
        public Penalties withPresence(float presence) { return new Penalties(lastN, repeat, frequency, presence); }
    }

    /**
     * DRY ("don't repeat yourself") penalty for tokens that extend a repetition: {@code multiplier *
     * base ^ (repeat length - allowedLength)}. Defaults: multiplier 0 (disabled), base 1.75, allowedLength 2,
     * penaltyLastN 64, breakers {@code ["\n", ":", "\"", "*"]}.
     *
     * @param multiplier       finite and {@code >= 0}; 0 disables DRY
     * @param base             finite and {@code >= 1}
     * @param allowedLength    {@code >= 0}
     * @param penaltyLastN     how many recent tokens to scan; {@code >= 0}, 0 disables DRY
     * @param sequenceBreakers non-empty strings (llama.cpp truncates each to 40 characters); may be empty
     */
    public record Dry(float multiplier, float base, int allowedLength, int penaltyLastN, List<String> sequenceBreakers) {
        /** llama.cpp's common defaults (disabled). */
        public static final Dry DEFAULTS = new Dry(0.0f, 1.75f, 2, 64, List.of("\n", ":", "\"", "*"));

        public Dry {
            nonNegative("dry multiplier", multiplier);
            if (!Float.isFinite(base) || base < 1.0f) {
                throw new IllegalArgumentException("dry base must be finite and >= 1, was " + base);
            }
            if (allowedLength < 0) {
                throw new IllegalArgumentException("dry allowedLength must be >= 0, was " + allowedLength);
            }
            if (penaltyLastN < 0) {
                throw new IllegalArgumentException("dry penaltyLastN must be >= 0 (0 = disabled), was "
                        + penaltyLastN);
            }
            Objects.requireNonNull(sequenceBreakers, "dry breakers");
            for (int i = 0; i < sequenceBreakers.size(); i++) {
                String s = sequenceBreakers.get(i);
                if (s == null || s.isEmpty()) {
                    throw new IllegalArgumentException("dry breakers must be non-empty strings, element " + i
                            + " was " + (s == null ? "null" : "empty"));
                }
            }
            sequenceBreakers = List.copyOf(sequenceBreakers);
        }

        /** Whether DRY changes anything (multiplier and penaltyLastN non-zero). */
        public boolean enabled() { return multiplier != 0 && penaltyLastN != 0; }
        public Dry withMultiplier(float multiplier) { return new Dry(multiplier, base, allowedLength, penaltyLastN, sequenceBreakers); }
        public Dry withBase(float base) { return new Dry(multiplier, base, allowedLength, penaltyLastN, sequenceBreakers); }
        public Dry withAllowedLength(int allowedLength) { return new Dry(multiplier, base, allowedLength, penaltyLastN, sequenceBreakers); }
        public Dry withPenaltyLastN(int penaltyLastN) { return new Dry(multiplier, base, allowedLength, penaltyLastN, sequenceBreakers); }
        public Dry withSequenceBreakers(List<String> breakers) { return new Dry(multiplier, base, allowedLength, penaltyLastN, breakers); }
    }

    /**
     * XTC ("exclude top choices"): with the given probability, remove all but the least likely of the tokens above
     * the threshold. Defaults: probability 0 (disabled), threshold 0.1.
     *
     * @param probability in {@code [0, 1]}; 0 disables XTC
     * @param threshold   in {@code [0, 1]}; above 0.5 disables XTC
     */
    public record Xtc(float probability, float threshold) {
        /** llama.cpp's common defaults (disabled). */
        public static final Xtc DEFAULTS = new Xtc(0.0f, 0.1f);

        public Xtc {
            unit("xtc probability", probability);
            unit("xtc threshold", threshold);
        }

        public Xtc withProbability(float probability) { return new Xtc(probability, threshold); }
        public Xtc withThreshold(float threshold) { return new Xtc(probability, threshold); }
    }

    /**
     * Dynamic (entropy-based) temperature: the temperature varies in {@code [temperature - range, temperature +
     * range]}. Defaults: range 0 (disabled), exponent 1.
     *
     * @param range    finite and {@code >= 0}; 0 disables dynamic temperature
     * @param exponent finite and {@code >= 0}
     */
    public record DynamicTemperature(float range, float exponent) {
        /** llama.cpp's common defaults (disabled). */
        public static final DynamicTemperature DEFAULTS = new DynamicTemperature(0.0f, 1.0f);

        public DynamicTemperature {
            nonNegative("dynamicTemperature range", range);
            nonNegative("dynamicTemperature exponent", exponent);
        }

        public DynamicTemperature withRange(float range) { return new DynamicTemperature(range, exponent); }
        public DynamicTemperature withExponent(float exponent) { return new DynamicTemperature(range, exponent); }
    }

    /**
     * Mirostat: replaces top-k ... dist by {@code temp} + {@code mirostat}, steering towards target entropy
     * {@code tau}. Defaults: version 0 (off), tau 5, eta 0.1.
     *
     * @param version 0 = off, 1 = Mirostat, 2 = Mirostat 2.0
     * @param tau     target entropy; finite and {@code >= 0}
     * @param eta     learning rate; finite and {@code >= 0}
     */
    public record Mirostat(int version, float tau, float eta) {
        /** llama.cpp's common defaults (off). */
        public static final Mirostat DEFAULTS = new Mirostat(0, 5.0f, 0.1f);

        public Mirostat {
            if (version < 0 || version > 2) {
                throw new IllegalArgumentException("mirostat version must be 0 (off), 1 or 2, was " + version);
            }
            nonNegative("mirostat tau", tau);
            nonNegative("mirostat eta", eta);
        }

        public boolean enabled() { return version != 0; }
        public Mirostat withVersion(int version) { return new Mirostat(version, tau, eta); }
        public Mirostat withTau(float tau) { return new Mirostat(version, tau, eta); }
        public Mirostat withEta(float eta) { return new Mirostat(version, tau, eta); }
    }

    /**
     * Adaptive-p: the final stage picks tokens whose probability is near {@code target}, adapting with an exponential
     * moving average ({@code decay}; history of about 1/(1-decay) tokens). It replaces {@code dist}, like llama.cpp's
     * common sampler does when {@code adaptive_p} is listed. Defaults: off (target -1), decay 0.90.
     *
     * @param target in {@code [0, 1]}, or negative for off
     * @param decay  in {@code [0, 0.99]}
     */
    public record AdaptiveP(float target, float decay) {
        /** llama.cpp's common defaults (off). */
        public static final AdaptiveP DEFAULTS = new AdaptiveP(-1.0f, 0.90f);

        public AdaptiveP {
            if (Float.isNaN(target) || target > 1) {
                throw new IllegalArgumentException("adaptiveP target must be in [0, 1] (negative = off), was " + target);
            }
            if (!(decay >= 0 && decay <= 0.99f)) {
                throw new IllegalArgumentException("adaptiveP decay must be in [0, 0.99], was " + decay);
            }
        }

        public boolean enabled() { return target >= 0; }
        public AdaptiveP withTarget(float target) { return new AdaptiveP(target, decay); }
        public AdaptiveP withDecay(float decay) { return new AdaptiveP(target, decay); }
    }

    private final long seed;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float typicalP;
    private final float temperature;
    private final float topNSigma;
    private final DynamicTemperature dynamicTemperature;
    private final Xtc xtc;
    private final Penalties penalties;
    private final Dry dry;
    private final Mirostat mirostat;
    private final AdaptiveP adaptiveP;
    private final Map<Integer, Float> logitBias;
    private final String grammar;
    private final String grammarRoot;
    private final Grammar grammarSpec;
    private final boolean infill;
    private final boolean greedy;
    private final CustomSampler custom;

    private Sampler(Builder b) {
        this.seed = b.seed;
        this.topK = b.topK;
        this.topP = b.topP;
        this.minP = b.minP;
        this.typicalP = b.typicalP;
        this.temperature = b.temperature;
        this.topNSigma = b.topNSigma;
        this.dynamicTemperature = b.dynamicTemperature;
        this.xtc = b.xtc;
        this.penalties = b.penalties;
        this.dry = b.dry;
        this.mirostat = b.mirostat;
        this.adaptiveP = b.adaptiveP;
        this.logitBias = Collections.unmodifiableMap(new LinkedHashMap<>(b.logitBias));
        this.grammar = b.grammar;
        this.grammarRoot = b.grammarRoot;
        this.grammarSpec = b.grammarSpec;
        this.infill = b.infill;
        this.greedy = b.greedy;
        this.custom = b.custom;
    }

    /** llama.cpp's common sampling defaults (see {@link Builder} for each value). */
    public static Sampler defaults() {
        return DEFAULTS;
    }

    /**
     * Deterministic sampling: always the most likely token (after logit bias, grammar and penalties, which are
     * disabled by default). Same as {@code builder().greedy(true).build()}.
     */
    public static Sampler greedy() {
        return GREEDY;
    }

    /** A builder starting from {@link #defaults()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this specification. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.seed = seed;
        b.topK = topK;
        b.topP = topP;
        b.minP = minP;
        b.typicalP = typicalP;
        b.temperature = temperature;
        b.topNSigma = topNSigma;
        b.dynamicTemperature = dynamicTemperature;
        b.xtc = xtc;
        b.penalties = penalties;
        b.dry = dry;
        b.mirostat = mirostat;
        b.adaptiveP = adaptiveP;
        b.logitBias.putAll(logitBias);
        b.grammar = grammar;
        b.grammarRoot = grammarRoot;
        b.grammarSpec = grammarSpec;
        b.infill = infill;
        b.greedy = greedy;
        b.custom = custom;
        return b;
    }

    /** RNG seed, an unsigned 32-bit value; {@link #RANDOM_SEED} picks a random one per chain. */
    public long seed() { return seed; }
    /** Top-k; 0 = disabled. */
    public int topK() { return topK; }
    /** Top-p (nucleus); 1 = disabled. */
    public float topP() { return topP; }
    /** Min-p; 0 = disabled. */
    public float minP() { return minP; }
    /** Locally typical sampling p; 1 = disabled. */
    public float typicalP() { return typicalP; }
    /** Temperature; 0 = greedy. */
    public float temperature() { return temperature; }
    /** Top-n-sigma; {@code <= 0} = disabled. */
    public float topNSigma() { return topNSigma; }
    /** Dynamic temperature. */
    public DynamicTemperature dynamicTemperature() { return dynamicTemperature; }
    /** XTC. */
    public Xtc xtc() { return xtc; }
    /** Repetition penalties. */
    public Penalties penalties() { return penalties; }
    /** DRY. */
    public Dry dry() { return dry; }
    /** Mirostat. */
    public Mirostat mirostat() { return mirostat; }
    /** Adaptive-p. */
    public AdaptiveP adaptiveP() { return adaptiveP; }
    /** Logit biases by token id, in insertion order (immutable). */
    public Map<Integer, Float> logitBias() { return logitBias; }
    /** GBNF grammar constraining the output, if any. */
    public Optional<String> grammar() { return Optional.ofNullable(grammar); }
    /** Start symbol of the grammar; {@code "root"} by default. */
    public String grammarRoot() { return grammarRoot; }
    /** The grammar with its laziness and prefill ({@link Builder#grammar(Grammar)}), if any. */
    public Optional<Grammar> grammarSpec() { return Optional.ofNullable(grammarSpec); }
    /** Whether the fill-in-the-middle {@code infill} stage is used. */
    public boolean isInfill() { return infill; }
    /** Whether tokens are picked greedily (only logit bias, grammar, penalties and the custom stage apply). */
    public boolean isGreedy() { return greedy; }
    /** The Java-written stage, if any. */
    public Optional<CustomSampler> custom() { return Optional.ofNullable(custom); }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        return o instanceof Sampler s && seed == s.seed && topK == s.topK && Float.compare(topP, s.topP) == 0
                && Float.compare(minP, s.minP) == 0 && Float.compare(typicalP, s.typicalP) == 0
                && Float.compare(temperature, s.temperature) == 0 && Float.compare(topNSigma, s.topNSigma) == 0
                && dynamicTemperature.equals(s.dynamicTemperature) && xtc.equals(s.xtc)
                && penalties.equals(s.penalties) && dry.equals(s.dry) && mirostat.equals(s.mirostat)
                && adaptiveP.equals(s.adaptiveP) && logitBias.equals(s.logitBias) && Objects.equals(grammarSpec, s.grammarSpec)
                && grammarRoot.equals(s.grammarRoot) && infill == s.infill && greedy == s.greedy
                && Objects.equals(custom, s.custom);
    }

    @Override
    public int hashCode() {
        return Objects.hash(seed, topK, topP, minP, typicalP, temperature, topNSigma, dynamicTemperature, xtc,
                penalties, dry, mirostat, adaptiveP, logitBias, grammar, grammarRoot, infill, greedy, custom);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Sampler[");
        sb.append("seed=").append(seed == RANDOM_SEED ? "random" : Long.toString(seed));
        if (greedy) {
            sb.append(", greedy");
        } else if (mirostat.enabled()) {
            sb.append(", ").append(mirostat).append(", temperature=").append(temperature);
        } else {
            sb.append(", topK=").append(topK).append(", topP=").append(topP).append(", minP=").append(minP)
                    .append(", typicalP=").append(typicalP).append(", temperature=").append(temperature);
            if (dynamicTemperature.range() > 0) {
                sb.append(", ").append(dynamicTemperature);
            }
            if (xtc.probability() > 0) {
                sb.append(", ").append(xtc);
            }
            if (topNSigma > 0) {
                sb.append(", topNSigma=").append(topNSigma);
            }
            if (dry.multiplier() != 0) {
                sb.append(", ").append(dry);
            }
            if (infill) {
                sb.append(", infill");
            }
            if (adaptiveP.enabled()) {
                sb.append(", ").append(adaptiveP);
            }
        }
        sb.append(", ").append(penalties);
        if (!logitBias.isEmpty()) {
            sb.append(", logitBias=").append(logitBias);
        }
        if (grammar != null) {
            sb.append(", grammar=").append(grammar.length()).append(" chars, root=").append(grammarRoot);
        }
        if (custom != null) {
            sb.append(", custom=").append(custom);
        }
        return sb.append(']').toString();
    }

    /**
     * Mutable builder, starting from llama.cpp's common defaults. Each setter validates its arguments and throws
     * {@link IllegalArgumentException} naming the parameter and its allowed range.
     */
    public static final class Builder {
        private long seed = RANDOM_SEED;
        private int topK = 40;
        private float topP = 0.95f;
        private float minP = 0.05f;
        private float typicalP = 1.0f;
        private float temperature = 0.8f;
        private float topNSigma = -1.0f;
        private DynamicTemperature dynamicTemperature = DynamicTemperature.DEFAULTS;
        private Xtc xtc = Xtc.DEFAULTS;
        private Penalties penalties = Penalties.DEFAULTS;
        private Dry dry = Dry.DEFAULTS;
        private Mirostat mirostat = Mirostat.DEFAULTS;
        private AdaptiveP adaptiveP = AdaptiveP.DEFAULTS;
        private final Map<Integer, Float> logitBias = new LinkedHashMap<>();
        private String grammar;
        private String grammarRoot = "root";
        private Grammar grammarSpec;
        private boolean infill;
        private boolean greedy;
        private CustomSampler custom;

        private Builder() {}

        /**
         * RNG seed for {@code dist}, {@code xtc} and mirostat. Defaults to {@link Sampler#RANDOM_SEED}
         * ({@code 0xFFFFFFFF}, {@code LLAMA_DEFAULT_SEED}), which picks a random seed each time a chain is created.
         *
         * @param seed an unsigned 32-bit value, {@code 0..0xFFFFFFFF}
         */
        public Builder seed(long seed) {
            if (seed < 0 || seed > 0xFFFFFFFFL) {
                throw new IllegalArgumentException("seed must be in 0..4294967295 (0xFFFFFFFF), was " + seed);
            }
            this.seed = seed;
            return this;
        }

        /** Keep only the {@code k} most likely tokens. Defaults to 40; 0 disables top-k. Must be {@code >= 0}. */
        public Builder topK(int k) {
            if (k < 0) {
                throw new IllegalArgumentException("topK must be >= 0 (0 = disabled), was " + k);
            }
            this.topK = k;
            return this;
        }

        /**
         * Nucleus sampling: keep the most likely tokens whose cumulative probability reaches {@code p}.
         * Defaults to 0.95; 1 disables it. Must be in {@code [0, 1]}.
         */
        public Builder topP(float p) {
            this.topP = unit("topP", p);
            return this;
        }

        /**
         * Drop tokens less likely than {@code p} times the most likely one. Defaults to 0.05; 0 disables it.
         * Must be in {@code [0, 1]}.
         */
        public Builder minP(float p) {
            this.minP = unit("minP", p);
            return this;
        }

        /** Locally typical sampling. Defaults to 1 (disabled). Must be in {@code [0, 1]}. */
        public Builder typicalP(float p) {
            this.typicalP = unit("typicalP", p);
            return this;
        }

        /**
         * Temperature: below 1 sharpens, above 1 flattens the distribution. Defaults to 0.8; 0 samples greedily
         * (only the most likely remaining candidate is kept, as in llama.cpp). Must be finite and {@code >= 0}.
         */
        public Builder temperature(float temperature) {
            this.temperature = nonNegative("temperature", temperature);
            return this;
        }

        /**
         * Top-n-sigma: keep tokens whose logit is within {@code n} standard deviations of the maximum.
         * Defaults to -1 (disabled); any value {@code <= 0} disables it. Must be finite.
         */
        public Builder topNSigma(float n) {
            this.topNSigma = finite("topNSigma", n);
            return this;
        }

        /** Dynamic temperature ({@link DynamicTemperature}; defaults to disabled). */
        public Builder dynamicTemperature(DynamicTemperature dynamicTemperature) {
            this.dynamicTemperature = Objects.requireNonNull(dynamicTemperature, "dynamicTemperature");
            return this;
        }

        /** Dynamic temperature with this range and exponent (see {@link DynamicTemperature}). */
        public Builder dynamicTemperature(float range, float exponent) {
            return dynamicTemperature(new DynamicTemperature(range, exponent));
        }

        /** XTC ({@link Xtc}; defaults to disabled). */
        public Builder xtc(Xtc xtc) {
            this.xtc = Objects.requireNonNull(xtc, "xtc");
            return this;
        }

        /** XTC with this probability and threshold (see {@link Xtc}). */
        public Builder xtc(float probability, float threshold) {
            return xtc(new Xtc(probability, threshold));
        }

        /** Repetition penalties ({@link Penalties}; defaults to {@link Penalties#DEFAULTS}, all disabled). */
        public Builder penalties(Penalties penalties) {
            this.penalties = Objects.requireNonNull(penalties, "penalties");
            return this;
        }

        /** Changes some penalties and keeps the rest, e.g. {@code penalties(p -> p.withRepeat(1.1f))}. */
        public Builder penalties(UnaryOperator<Penalties> change) {
            return penalties(change.apply(penalties));
        }

        /** Repetition penalties with every value given (see {@link Penalties}). */
        public Builder penalties(int lastN, float repeat, float frequency, float presence) {
            return penalties(new Penalties(lastN, repeat, frequency, presence));
        }

        /** DRY ({@link Dry}; defaults to {@link Dry#DEFAULTS}, disabled). */
        public Builder dry(Dry dry) {
            this.dry = Objects.requireNonNull(dry, "dry");
            return this;
        }

        /** Changes some DRY values and keeps the rest, e.g. {@code dry(d -> d.withMultiplier(0.8f))}. */
        public Builder dry(UnaryOperator<Dry> change) {
            return dry(change.apply(dry));
        }

        /** DRY with every value given (see {@link Dry}). */
        public Builder dry(float multiplier, float base, int allowedLength, int penaltyLastN, List<String> breakers) {
            return dry(new Dry(multiplier, base, allowedLength, penaltyLastN, breakers));
        }

        /** Mirostat ({@link Mirostat}; defaults to off). */
        public Builder mirostat(Mirostat mirostat) {
            this.mirostat = Objects.requireNonNull(mirostat, "mirostat");
            return this;
        }

        /** Mirostat 1.0 with target entropy {@code tau} and learning rate {@code eta} (see {@link Mirostat}). */
        public Builder mirostat(float tau, float eta) {
            return mirostat(new Mirostat(1, tau, eta));
        }

        /** Mirostat 2.0; otherwise as {@link #mirostat(float, float)}. */
        public Builder mirostatV2(float tau, float eta) {
            return mirostat(new Mirostat(2, tau, eta));
        }

        /** Turns mirostat off (the default), keeping tau and eta. */
        public Builder mirostatOff() {
            return mirostat(mirostat.withVersion(0));
        }

        /** Adaptive-p ({@link AdaptiveP}; defaults to off). */
        public Builder adaptiveP(AdaptiveP adaptiveP) {
            this.adaptiveP = Objects.requireNonNull(adaptiveP, "adaptiveP");
            return this;
        }

        /** Adaptive-p with {@code target} in {@code [0, 1]} and {@code decay} in {@code [0, 0.99]} (see {@link AdaptiveP}). */
        public Builder adaptiveP(float target, float decay) {
            if (!(target >= 0 && target <= 1)) {
                throw new IllegalArgumentException("adaptiveP target must be in [0, 1], was " + target);
            }
            return adaptiveP(new AdaptiveP(target, decay));
        }

        /** Turns adaptive-p off (the default). */
        public Builder adaptivePOff() {
            return adaptiveP(adaptiveP.withTarget(-1.0f));
        }

        /**
         * Adds {@code bias} to the logit of {@code token}. Calls accumulate: biases for the same token add up.
         * {@link Float#NEGATIVE_INFINITY} bans the token. None by default.
         *
         * @param token a token id, {@code >= 0} (checked against the vocabulary size when the chain is built)
         * @param bias  finite, or negative infinity
         */
        public Builder logitBias(int token, float bias) {
            if (token < 0) {
                throw new IllegalArgumentException("logitBias token must be >= 0, was " + token);
            }
            if (Float.isNaN(bias) || bias == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("logitBias bias must be finite or negative infinity, was " + bias);
            }
            logitBias.merge(token, bias, Float::sum);
            return this;
        }

        /** Removes all logit biases. */
        public Builder clearLogitBias() {
            logitBias.clear();
            return this;
        }

        /**
         * Constrains the output to a GBNF grammar (llama.cpp's {@code grammars/README.md}) starting at rule
         * {@code root}. None by default. The grammar is parsed when the chain is built; an invalid one fails there
         * with {@link IllegalArgumentException}.
         *
         * @param gbnf must be non-null and not blank
         */
        public Builder grammar(String gbnf) {
            return grammar(gbnf, "root");
        }

        /**
         * Constrains the output to a GBNF grammar starting at rule {@code root}.
         *
         * @param gbnf must be non-null and not blank
         * @param root must be non-null and not blank
         */
        public Builder grammar(String gbnf, String root) {
            if (gbnf == null || gbnf.isBlank()) {
                throw new IllegalArgumentException("grammar must be a non-empty GBNF string");
            }
            if (root == null || root.isBlank()) {
                throw new IllegalArgumentException("grammar root must be a non-empty rule name");
            }
            if (gbnf.indexOf('\0') >= 0 || root.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("grammar must not contain NUL characters");
            }
            this.grammar = gbnf;
            this.grammarRoot = root;
            this.grammarSpec = Grammar.gbnf(gbnf);
            return this;
        }

        /**
         * Constrains the output to {@code grammar} (GBNF text, a JSON Schema's grammar, or a lazy grammar with
         * triggers), starting at rule {@code root}. None by default.
         */
        public Builder grammar(Grammar grammar) {
            Objects.requireNonNull(grammar, "grammar");
            this.grammar = grammar.gbnf();
            this.grammarRoot = "root";
            this.grammarSpec = grammar;
            return this;
        }

        /** Removes the grammar (the default). */
        public Builder noGrammar() {
            this.grammar = null;
            this.grammarRoot = "root";
            this.grammarSpec = null;
            return this;
        }

        /**
         * Adds llama.cpp's fill-in-the-middle {@code infill} stage (after top-k/top-p/min-p/xtc, before the
         * temperature). Defaults to {@code false}; needs a vocabulary.
         */
        public Builder infill(boolean infill) {
            this.infill = infill;
            return this;
        }

        /**
         * Picks the most likely token: the chain is then logit bias, grammar, penalties, the custom stage and
         * {@code greedy}; top-k/p, temperature, DRY, XTC, mirostat etc. are ignored. Defaults to {@code false}.
         */
        public Builder greedy(boolean greedy) {
            this.greedy = greedy;
            return this;
        }

        /**
         * A Java-written stage, run just before the token-selecting stage (or replacing it if
         * {@link CustomSampler#selectsToken()}). {@code null} removes it. None by default.
         */
        public Builder custom(CustomSampler custom) {
            this.custom = custom;
            return this;
        }

        public Sampler build() {
            return new Sampler(this);
        }
    }

    private static float finite(String name, float v) {
        if (!Float.isFinite(v)) {
            throw new IllegalArgumentException(name + " must be finite, was " + v);
        }
        return v;
    }

    private static float nonNegative(String name, float v) {
        if (!Float.isFinite(v) || v < 0) {
            throw new IllegalArgumentException(name + " must be finite and >= 0, was " + v);
        }
        return v;
    }

    private static float unit(String name, float v) {
        if (!(v >= 0.0f && v <= 1.0f)) {
            throw new IllegalArgumentException(name + " must be in [0, 1], was " + v);
        }
        return v;
    }
}
