package io.github.llamaffm.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;

import java.util.Objects;

/**
 * LangChain4j's common chat parameters plus llama.cpp sampling settings that have no common name: {@link #seed()},
 * {@link #minP()} and {@link #repeatPenalty()}. Unset ({@code null}) values keep the model's defaults (llama.cpp's
 * common sampling defaults, see {@link io.github.llamaffm.Sampler#defaults()}).
 *
 * {@snippet :
 * ChatRequest request = ChatRequest.builder()
 *         .messages(UserMessage.from("Hi"))
 *         .parameters(LlamaFfmChatRequestParameters.builder().temperature(0.7).seed(42L).minP(0.05).build())
 *         .build();
 * }
 */
public final class LlamaFfmChatRequestParameters extends DefaultChatRequestParameters {
    /** No parameter set. */
    public static final LlamaFfmChatRequestParameters EMPTY = builder().build();

    private final Long seed;
    private final Double minP;
    private final Double repeatPenalty;

    private LlamaFfmChatRequestParameters(Builder builder) {
        super(builder);
        this.seed = builder.seed;
        this.minP = builder.minP;
        this.repeatPenalty = builder.repeatPenalty;
    }

    /** Seed of the random sampler; {@code null}: a random seed per request. */
    public Long seed() {
        return seed;
    }

    /** Min-p cut-off; {@code null}: the default (0.05). */
    public Double minP() {
        return minP;
    }

    /** Repetition penalty (1 = off); {@code null}: the default (off). */
    public Double repeatPenalty() {
        return repeatPenalty;
    }

    @Override
    public LlamaFfmChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public LlamaFfmChatRequestParameters defaultedBy(ChatRequestParameters that) {
        return builder().overrideWith(that).overrideWith(this).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlamaFfmChatRequestParameters that && super.equals(o) && Objects.equals(seed, that.seed)
                && Objects.equals(minP, that.minP) && Objects.equals(repeatPenalty, that.repeatPenalty);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), seed, minP, repeatPenalty);
    }

    @Override
    public String toString() {
        return "LlamaFfmChatRequestParameters{" + super.toString() + ", seed=" + seed + ", minP=" + minP
                + ", repeatPenalty=" + repeatPenalty + "}";
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builds parameters; every value defaults to unset. */
    public static final class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private Long seed;
        private Double minP;
        private Double repeatPenalty;

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof LlamaFfmChatRequestParameters p) {
                seed = p.seed != null ? p.seed : seed;
                minP = p.minP != null ? p.minP : minP;
                repeatPenalty = p.repeatPenalty != null ? p.repeatPenalty : repeatPenalty;
            }
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder minP(Double minP) {
            this.minP = minP;
            return this;
        }

        public Builder repeatPenalty(Double repeatPenalty) {
            this.repeatPenalty = repeatPenalty;
            return this;
        }

        @Override
        public LlamaFfmChatRequestParameters build() {
            return new LlamaFfmChatRequestParameters(this);
        }
    }
}
