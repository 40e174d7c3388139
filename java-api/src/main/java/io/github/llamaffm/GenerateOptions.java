package io.github.llamaffm;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/** What to generate: an immutable value built with {@link #builder()}. */
public final class GenerateOptions {
    private static final GenerateOptions DEFAULTS = builder().build();

    private final int maxTokens;
    private final Sampler sampler;
    private final Sampler baseSampler;
    private final String jsonSchema;
    private final List<String> stopStrings;
    private final boolean probabilities;
    private final int topProbabilities;
    private final boolean addSpecial;
    private final boolean parseSpecial;
    private final Map<LoraAdapter, Float> loras;
    private final Speculation speculation;

    private GenerateOptions(Builder b) {
        this.speculation = b.speculation;
        this.maxTokens = b.maxTokens;
        this.baseSampler = b.sampler;
        this.jsonSchema = b.jsonSchema;
        if (b.jsonSchema != null) {
            if (b.sampler.grammar().isPresent()) {
                throw new IllegalArgumentException("a JSON schema and the sampler's own grammar cannot be combined");
            }
            this.sampler = b.sampler.toBuilder().grammar(Grammar.fromJsonSchema(b.jsonSchema)).build();
        } else {
            this.sampler = b.sampler;
        }
        this.stopStrings = List.copyOf(b.stopStrings);
        this.probabilities = b.probabilities || b.topProbabilities > 0;
        this.topProbabilities = b.topProbabilities;
        this.addSpecial = b.addSpecial;
        this.parseSpecial = b.parseSpecial;
        this.loras = b.loras;
    }

    public static GenerateOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder().maxTokens(maxTokens).sampler(baseSampler).stopStrings(stopStrings)
                .probabilities(probabilities).topProbabilities(topProbabilities).addSpecial(addSpecial)
                .parseSpecial(parseSpecial).speculation(speculation);
        b.jsonSchema = jsonSchema;
        b.loras = loras;
        return b;
    }

    public int maxTokens() { return maxTokens; }
    /** The sampler, with the grammar of {@link #jsonSchema()} when one is set. */
    public Sampler sampler() { return sampler; }
    /** The JSON Schema the output must satisfy, if set ({@link Builder#jsonSchema(String)}). */
    public Optional<String> jsonSchema() { return Optional.ofNullable(jsonSchema); }
    public List<String> stopStrings() { return stopStrings; }
    public boolean probabilities() { return probabilities; }
    /** How many of the most likely tokens each {@link Token#top()} lists (0: none). */
    public int topProbabilities() { return topProbabilities; }
    public boolean addSpecial() { return addSpecial; }
    public boolean parseSpecial() { return parseSpecial; }
    /**
     * The LoRA adapters (with scales) this generation runs with, if set; empty (unset) means the context's own
     * ({@link LlamaContext#setLoras}).
     */
    public Optional<Map<LoraAdapter, Float>> loras() { return Optional.ofNullable(loras); }
    /** Speculative decoding, if set ({@link Builder#speculation(Speculation)}). */
    public Optional<Speculation> speculation() { return Optional.ofNullable(speculation); }

    @Override
    public String toString() {
        return "GenerateOptions[maxTokens=" + maxTokens + ", sampler=" + sampler
                + (jsonSchema == null ? "" : ", jsonSchema=" + jsonSchema.length() + " chars") + ", stopStrings=" + stopStrings
                + ", probabilities=" + probabilities + ", addSpecial=" + addSpecial + ", parseSpecial=" + parseSpecial
                + (loras == null ? "" : ", loras=" + loras)
                + (speculation == null ? "" : ", speculation=" + speculation) + "]";
    }

    public static final class Builder {
        private int maxTokens = 512;
        private Sampler sampler = Sampler.defaults();
        private String jsonSchema;
        private List<String> stopStrings = List.of();
        private boolean probabilities;
        private int topProbabilities;
        private boolean addSpecial = true;
        private boolean parseSpecial = true;
        private Map<LoraAdapter, Float> loras;
        private Speculation speculation;

        private Builder() {}

        /**
         * LoRA adapters (loaded with {@link LlamaModel#loadLora}) with their scales for this generation only, instead
         * of the context's own ({@link LlamaContext#setLoras}); an empty map runs the base model. In a
         * {@link SequenceScheduler}, sequences with different adapters are decoded in separate batches (as llama-server
         * does), and a sequence's cached prompt is reused only by a generation with the same adapters. Defaults to
         * unset: the context's adapters.
         *
         * @throws IllegalArgumentException if a scale is not finite
         */
        public Builder loras(Map<LoraAdapter, Float> adapters) {
            Map<LoraAdapter, Float> copy = new LinkedHashMap<>();
            Objects.requireNonNull(adapters, "adapters").forEach((adapter, scale) -> {
                Objects.requireNonNull(adapter, "adapter");
                Objects.requireNonNull(scale, "scale");
                if (!Float.isFinite(scale)) {
                    throw new IllegalArgumentException("scale of " + adapter + " must be finite, was " + scale);
                }
                copy.put(adapter, scale);
            });
            this.loras = Collections.unmodifiableMap(copy);
            return this;
        }

        /** Back to the default of {@link #loras(Map)}: the context's adapters. */
        public Builder contextLoras() {
            this.loras = null;
            return this;
        }

        /** Most tokens to generate; the context size also limits it. Defaults to 512. */
        public Builder maxTokens(int maxTokens) {
            if (maxTokens <= 0) {
                throw new IllegalArgumentException("maxTokens must be > 0, was " + maxTokens);
            }
            this.maxTokens = maxTokens;
            return this;
        }

        /** How to pick tokens. Defaults to {@link Sampler#defaults()} (llama.cpp's common defaults). */
        public Builder sampler(Sampler sampler) {
            this.sampler = Objects.requireNonNull(sampler, "sampler");
            return this;
        }

        /**
         * Strings that end the generation; the text stops right before the first one, even when it spans several
         * tokens. Defaults to none.
         */
        public Builder stopStrings(List<String> stopStrings) {
            for (String s : stopStrings) {
                if (Objects.requireNonNull(s, "stop string").isEmpty()) {
                    throw new IllegalArgumentException("stop strings must not be empty");
                }
            }
            this.stopStrings = List.copyOf(stopStrings);
            return this;
        }

        /** Convenience for {@link #stopStrings(List)}. */
        public Builder stopStrings(String... stopStrings) {
            return stopStrings(List.of(stopStrings));
        }

        /**
         * Also list the {@code n} most likely tokens of each step's raw distribution in {@link Token#top()} (OpenAI's
         * {@code top_logprobs}); implies {@link #probabilities(boolean)}. 0 (none) by default; at most 20.
         */
        public Builder topProbabilities(int n) {
            if (n < 0 || n > 20) {
                throw new IllegalArgumentException("topProbabilities must be in 0..20, was " + n);
            }
            this.topProbabilities = n;
            return this;
        }

        /**
         * Compute each token's probability ({@link Token#probability()}); costs a pass over the vocabulary per token.
         * Defaults to {@code false}.
         */
        public Builder probabilities(boolean probabilities) {
            this.probabilities = probabilities;
            return this;
        }

        /** Add BOS when tokenizing a text prompt, as the model asks. Defaults to {@code true}. */
        public Builder addSpecial(boolean addSpecial) {
            this.addSpecial = addSpecial;
            return this;
        }

        /** Parse special-token text (e.g. {@code [INST]}) in a text prompt. Defaults to {@code true}, like llama-simple. */
        public Builder parseSpecial(boolean parseSpecial) {
            this.parseSpecial = parseSpecial;
            return this;
        }

        /**
         * Constrains the output to JSON satisfying {@code jsonSchema} (JSON Schema text; {@code "{}"} for any JSON
         * value), through the grammar llama.cpp's {@code json_schema_to_grammar} derives from it
         * ({@link Grammar#fromJsonSchema}); {@code null} removes it. None by default. Cannot be combined with a sampler
         * that has its own grammar. For a Java type use {@link JsonSchema#of(Class)}.
         *
         * @throws IllegalArgumentException (at {@link #build()}) if the schema is not JSON or cannot be converted
         */
        public Builder jsonSchema(String jsonSchema) {
            this.jsonSchema = jsonSchema;
            return this;
        }

        /**
         * Speculative decoding: guesses from a draft model or from n-gram lookup, checked by one decode of the model
         * per round ({@link Speculation}); the output is what the model gives without it. {@code null} (the default)
         * for none. Used by {@link LlamaContext#generate} and {@link SequenceScheduler}.
         */
        public Builder speculation(Speculation speculation) {
            this.speculation = speculation;
            return this;
        }

        public GenerateOptions build() {
            return new GenerateOptions(this);
        }
    }
}
