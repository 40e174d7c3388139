package io.github.llamaffm;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

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
 * {@snippet :
 * Sampler precise = Sampler.builder().temperature(0.2f).topK(20).seed(42).build();
 * Sampler json = Sampler.builder().grammar(gbnf).build();
 * }
 */
public final class Sampler {
    /** {@code LLAMA_DEFAULT_SEED}: pick a random seed each time a chain is created. */
    public static final long RANDOM_SEED = 0xFFFFFFFFL;

    private static final Sampler DEFAULTS = builder().build();
    private static final Sampler GREEDY = builder().greedy(true).build();

    private final long seed;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float typicalP;
    private final float temperature;
    private final float dynamicTemperatureRange;
    private final float dynamicTemperatureExponent;
    private final float xtcProbability;
    private final float xtcThreshold;
    private final float topNSigma;
    private final int penaltyLastN;
    private final float repeatPenalty;
    private final float frequencyPenalty;
    private final float presencePenalty;
    private final float dryMultiplier;
    private final float dryBase;
    private final int dryAllowedLength;
    private final int dryPenaltyLastN;
    private final List<String> drySequenceBreakers;
    private final int mirostat;
    private final float mirostatTau;
    private final float mirostatEta;
    private final float adaptiveTarget;
    private final float adaptiveDecay;
    private final Map<Integer, Float> logitBias;
    private final String grammar;
    private final String grammarRoot;
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
        this.dynamicTemperatureRange = b.dynamicTemperatureRange;
        this.dynamicTemperatureExponent = b.dynamicTemperatureExponent;
        this.xtcProbability = b.xtcProbability;
        this.xtcThreshold = b.xtcThreshold;
        this.topNSigma = b.topNSigma;
        this.penaltyLastN = b.penaltyLastN;
        this.repeatPenalty = b.repeatPenalty;
        this.frequencyPenalty = b.frequencyPenalty;
        this.presencePenalty = b.presencePenalty;
        this.dryMultiplier = b.dryMultiplier;
        this.dryBase = b.dryBase;
        this.dryAllowedLength = b.dryAllowedLength;
        this.dryPenaltyLastN = b.dryPenaltyLastN;
        this.drySequenceBreakers = b.drySequenceBreakers; // already an immutable copy
        this.mirostat = b.mirostat;
        this.mirostatTau = b.mirostatTau;
        this.mirostatEta = b.mirostatEta;
        this.adaptiveTarget = b.adaptiveTarget;
        this.adaptiveDecay = b.adaptiveDecay;
        this.logitBias = Collections.unmodifiableMap(new LinkedHashMap<>(b.logitBias));
        this.grammar = b.grammar;
        this.grammarRoot = b.grammarRoot;
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
        b.dynamicTemperatureRange = dynamicTemperatureRange;
        b.dynamicTemperatureExponent = dynamicTemperatureExponent;
        b.xtcProbability = xtcProbability;
        b.xtcThreshold = xtcThreshold;
        b.topNSigma = topNSigma;
        b.penaltyLastN = penaltyLastN;
        b.repeatPenalty = repeatPenalty;
        b.frequencyPenalty = frequencyPenalty;
        b.presencePenalty = presencePenalty;
        b.dryMultiplier = dryMultiplier;
        b.dryBase = dryBase;
        b.dryAllowedLength = dryAllowedLength;
        b.dryPenaltyLastN = dryPenaltyLastN;
        b.drySequenceBreakers = drySequenceBreakers;
        b.mirostat = mirostat;
        b.adaptiveTarget = adaptiveTarget;
        b.adaptiveDecay = adaptiveDecay;
        b.mirostatTau = mirostatTau;
        b.mirostatEta = mirostatEta;
        b.logitBias.putAll(logitBias);
        b.grammar = grammar;
        b.grammarRoot = grammarRoot;
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
    /** Dynamic temperature range; 0 = disabled. */
    public float dynamicTemperatureRange() { return dynamicTemperatureRange; }
    /** Dynamic temperature exponent. */
    public float dynamicTemperatureExponent() { return dynamicTemperatureExponent; }
    /** XTC probability; 0 = disabled. */
    public float xtcProbability() { return xtcProbability; }
    /** XTC threshold; above 0.5 disables XTC. */
    public float xtcThreshold() { return xtcThreshold; }
    /** Top-n-sigma; {@code <= 0} = disabled. */
    public float topNSigma() { return topNSigma; }
    /** Number of recent tokens the repetition penalties look at; 0 = disabled. */
    public int penaltyLastN() { return penaltyLastN; }
    /** Repetition penalty; 1 = disabled. */
    public float repeatPenalty() { return repeatPenalty; }
    /** Frequency penalty; 0 = disabled. */
    public float frequencyPenalty() { return frequencyPenalty; }
    /** Presence penalty; 0 = disabled. */
    public float presencePenalty() { return presencePenalty; }
    /** DRY multiplier; 0 = disabled. */
    public float dryMultiplier() { return dryMultiplier; }
    /** DRY base. */
    public float dryBase() { return dryBase; }
    /** DRY allowed repetition length. */
    public int dryAllowedLength() { return dryAllowedLength; }
    /** Number of recent tokens DRY scans; 0 = disabled. */
    public int dryPenaltyLastN() { return dryPenaltyLastN; }
    /** DRY sequence breakers (immutable). */
    public List<String> drySequenceBreakers() { return drySequenceBreakers; }
    /** Mirostat version: 0 = off, 1 = Mirostat, 2 = Mirostat 2.0. */
    public int mirostat() { return mirostat; }
    /** Adaptive-p target probability, or a negative value when adaptive-p is off. */
    public float adaptiveTarget() { return adaptiveTarget; }
    public float adaptiveDecay() { return adaptiveDecay; }
    /** Mirostat target entropy (tau). */
    public float mirostatTau() { return mirostatTau; }
    /** Mirostat learning rate (eta). */
    public float mirostatEta() { return mirostatEta; }
    /** Logit biases by token id, in insertion order (immutable). */
    public Map<Integer, Float> logitBias() { return logitBias; }
    /** GBNF grammar constraining the output, if any. */
    public Optional<String> grammar() { return Optional.ofNullable(grammar); }
    /** Start symbol of the grammar; {@code "root"} by default. */
    public String grammarRoot() { return grammarRoot; }
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
        if (!(o instanceof Sampler s)) {
            return false;
        }
        return seed == s.seed && topK == s.topK && Float.compare(topP, s.topP) == 0 && Float.compare(minP, s.minP) == 0
                && Float.compare(typicalP, s.typicalP) == 0 && Float.compare(temperature, s.temperature) == 0
                && Float.compare(dynamicTemperatureRange, s.dynamicTemperatureRange) == 0
                && Float.compare(dynamicTemperatureExponent, s.dynamicTemperatureExponent) == 0
                && Float.compare(xtcProbability, s.xtcProbability) == 0
                && Float.compare(xtcThreshold, s.xtcThreshold) == 0 && Float.compare(topNSigma, s.topNSigma) == 0
                && penaltyLastN == s.penaltyLastN && Float.compare(repeatPenalty, s.repeatPenalty) == 0
                && Float.compare(frequencyPenalty, s.frequencyPenalty) == 0
                && Float.compare(presencePenalty, s.presencePenalty) == 0
                && Float.compare(dryMultiplier, s.dryMultiplier) == 0 && Float.compare(dryBase, s.dryBase) == 0
                && dryAllowedLength == s.dryAllowedLength && dryPenaltyLastN == s.dryPenaltyLastN
                && drySequenceBreakers.equals(s.drySequenceBreakers) && mirostat == s.mirostat
                && Float.compare(mirostatTau, s.mirostatTau) == 0 && Float.compare(mirostatEta, s.mirostatEta) == 0
                && Float.compare(adaptiveTarget, s.adaptiveTarget) == 0 && Float.compare(adaptiveDecay, s.adaptiveDecay) == 0
                && logitBias.equals(s.logitBias) && Objects.equals(grammar, s.grammar)
                && grammarRoot.equals(s.grammarRoot) && infill == s.infill && greedy == s.greedy
                && Objects.equals(custom, s.custom);
    }

    @Override
    public int hashCode() {
        return Objects.hash(seed, topK, topP, minP, typicalP, temperature, dynamicTemperatureRange,
                dynamicTemperatureExponent, xtcProbability, xtcThreshold, topNSigma, penaltyLastN, repeatPenalty,
                frequencyPenalty, presencePenalty, dryMultiplier, dryBase, dryAllowedLength, dryPenaltyLastN,
                drySequenceBreakers, mirostat, mirostatTau, mirostatEta, adaptiveTarget, adaptiveDecay, logitBias, grammar, grammarRoot, infill,
                greedy, custom);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Sampler[");
        sb.append("seed=").append(seed == RANDOM_SEED ? "random" : Long.toString(seed));
        if (greedy) {
            sb.append(", greedy");
        } else if (mirostat != 0) {
            sb.append(", mirostat=").append(mirostat).append(", tau=").append(mirostatTau).append(", eta=")
                    .append(mirostatEta).append(", temperature=").append(temperature);
        } else {
            sb.append(", topK=").append(topK).append(", topP=").append(topP).append(", minP=").append(minP)
                    .append(", typicalP=").append(typicalP).append(", temperature=").append(temperature);
            if (dynamicTemperatureRange > 0) {
                sb.append(", dynatemp=").append(dynamicTemperatureRange).append('/')
                        .append(dynamicTemperatureExponent);
            }
            if (xtcProbability > 0) {
                sb.append(", xtc=").append(xtcProbability).append('/').append(xtcThreshold);
            }
            if (topNSigma > 0) {
                sb.append(", topNSigma=").append(topNSigma);
            }
            if (dryMultiplier != 0) {
                sb.append(", dry=").append(dryMultiplier).append('/').append(dryBase).append('/')
                        .append(dryAllowedLength).append('/').append(dryPenaltyLastN);
            }
            if (infill) {
                sb.append(", infill");
            }
            if (adaptiveTarget >= 0) {
                sb.append(", adaptiveP=").append(adaptiveTarget).append('/').append(adaptiveDecay);
            }
        }
        sb.append(", penalties=").append(penaltyLastN).append('/').append(repeatPenalty).append('/')
                .append(frequencyPenalty).append('/').append(presencePenalty);
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
        private float dynamicTemperatureRange = 0.0f;
        private float dynamicTemperatureExponent = 1.0f;
        private float xtcProbability = 0.0f;
        private float xtcThreshold = 0.1f;
        private float topNSigma = -1.0f;
        private int penaltyLastN = 64;
        private float repeatPenalty = 1.0f;
        private float frequencyPenalty = 0.0f;
        private float presencePenalty = 0.0f;
        private float dryMultiplier = 0.0f;
        private float dryBase = 1.75f;
        private int dryAllowedLength = 2;
        private int dryPenaltyLastN = 64;
        private List<String> drySequenceBreakers = List.of("\n", ":", "\"", "*");
        private int mirostat = 0;
        private float adaptiveTarget = -1.0f;
        private float adaptiveDecay = 0.90f;
        private float mirostatTau = 5.0f;
        private float mirostatEta = 0.1f;
        private final Map<Integer, Float> logitBias = new LinkedHashMap<>();
        private String grammar;
        private String grammarRoot = "root";
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
         * Dynamic temperature (entropy-based): the temperature varies in
         * {@code [temperature - range, temperature + range]}. Defaults to range 0 (disabled), exponent 1.
         *
         * @param range    must be finite and {@code >= 0}; 0 disables dynamic temperature
         * @param exponent must be finite and {@code >= 0}
         */
        public Builder dynamicTemperature(float range, float exponent) {
            nonNegative("dynamicTemperature range", range);
            nonNegative("dynamicTemperature exponent", exponent);
            this.dynamicTemperatureRange = range;
            this.dynamicTemperatureExponent = exponent;
            return this;
        }

        /**
         * XTC ("exclude top choices"): with the given probability, remove all but the least likely of the tokens
         * above the threshold. Defaults to probability 0 (disabled), threshold 0.1.
         *
         * @param probability must be in {@code [0, 1]}; 0 disables XTC
         * @param threshold   must be in {@code [0, 1]}; above 0.5 disables XTC
         */
        public Builder xtc(float probability, float threshold) {
            unit("xtc probability", probability);
            unit("xtc threshold", threshold);
            this.xtcProbability = probability;
            this.xtcThreshold = threshold;
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

        /**
         * Repetition penalties over the last {@code lastN} tokens. Defaults to lastN 64, repeat 1 (disabled),
         * frequency 0 (disabled), presence 0 (disabled).
         *
         * @param lastN     how many recent tokens to penalize; must be {@code >= 0}, 0 disables the penalties
         * @param repeat    repetition penalty; must be finite and {@code > 0}, 1 = disabled
         * @param frequency frequency penalty; must be finite, 0 = disabled
         * @param presence  presence penalty; must be finite, 0 = disabled
         */
        public Builder penalties(int lastN, float repeat, float frequency, float presence) {
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
            this.penaltyLastN = lastN;
            this.repeatPenalty = repeat;
            this.frequencyPenalty = frequency;
            this.presencePenalty = presence;
            return this;
        }

        /**
         * DRY ("don't repeat yourself") penalty for tokens that extend a repetition: {@code multiplier *
         * base ^ (repeat length - allowedLength)}. Defaults to multiplier 0 (disabled), base 1.75, allowedLength 2,
         * penaltyLastN 64, breakers {@code ["\n", ":", "\"", "*"]}.
         *
         * @param multiplier   must be finite and {@code >= 0}; 0 disables DRY
         * @param base         must be finite and {@code >= 1}
         * @param allowedLength must be {@code >= 0}
         * @param penaltyLastN how many recent tokens to scan; must be {@code >= 0}, 0 disables DRY
         * @param breakers     sequence breakers, each a non-empty string (llama.cpp truncates each to 40 characters);
         *                     may be empty
         */
        public Builder dry(float multiplier, float base, int allowedLength, int penaltyLastN, List<String> breakers) {
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
            Objects.requireNonNull(breakers, "dry breakers");
            for (int i = 0; i < breakers.size(); i++) {
                String s = breakers.get(i);
                if (s == null || s.isEmpty()) {
                    throw new IllegalArgumentException("dry breakers must be non-empty strings, element " + i
                            + " was " + (s == null ? "null" : "empty"));
                }
            }
            this.dryMultiplier = multiplier;
            this.dryBase = base;
            this.dryAllowedLength = allowedLength;
            this.dryPenaltyLastN = penaltyLastN;
            this.drySequenceBreakers = List.copyOf(breakers);
            return this;
        }

        /**
         * Mirostat 1.0: replaces top-k ... dist by {@code temp} + {@code mirostat}, steering towards target entropy
         * {@code tau}. Defaults to off, tau 5, eta 0.1.
         *
         * @param tau target entropy; must be finite and {@code >= 0}
         * @param eta learning rate; must be finite and {@code >= 0}
         */
        public Builder mirostat(float tau, float eta) {
            return setMirostat(1, tau, eta);
        }

        /** Mirostat 2.0; otherwise as {@link #mirostat(float, float)}. */
        public Builder mirostatV2(float tau, float eta) {
            return setMirostat(2, tau, eta);
        }

        /**
         * Adaptive-p: the final stage picks tokens whose probability is near {@code target}, adapting with an
         * exponential moving average ({@code decay}; history of about 1/(1-decay) tokens). It replaces
         * {@code dist}, like llama.cpp's common sampler does when {@code adaptive_p} is listed. Defaults to off
         * (target -1, decay 0.90). {@code target} must be in {@code [0, 1]}, {@code decay} in {@code [0, 0.99]}.
         */
        public Builder adaptiveP(float target, float decay) {
            if (!(target >= 0 && target <= 1)) {
                throw new IllegalArgumentException("adaptiveP target must be in [0, 1], was " + target);
            }
            if (!(decay >= 0 && decay <= 0.99f)) {
                throw new IllegalArgumentException("adaptiveP decay must be in [0, 0.99], was " + decay);
            }
            this.adaptiveTarget = target;
            this.adaptiveDecay = decay;
            return this;
        }

        /** Turns adaptive-p off (the default). */
        public Builder adaptivePOff() {
            this.adaptiveTarget = -1.0f;
            return this;
        }

        /** Turns mirostat off (the default), keeping tau and eta. */
        public Builder mirostatOff() {
            this.mirostat = 0;
            return this;
        }

        private Builder setMirostat(int version, float tau, float eta) {
            nonNegative("mirostat tau", tau);
            nonNegative("mirostat eta", eta);
            this.mirostat = version;
            this.mirostatTau = tau;
            this.mirostatEta = eta;
            return this;
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
            return this;
        }

        /** Removes the grammar (the default). */
        public Builder noGrammar() {
            this.grammar = null;
            this.grammarRoot = "root";
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
}
