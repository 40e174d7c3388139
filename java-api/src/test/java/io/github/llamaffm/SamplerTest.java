package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_model_params;
import io.github.llamaffm.internal.NativeRuntime;
import io.github.llamaffm.internal.SamplerChain;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;

/** Tier 1: the sampling specification and native chain assembly; no model weights (only a vocabulary-only GGUF). */
@Tag("no-model")
class SamplerTest {

    private static final int N_VOCAB = 32000;

    // ---------------------------------------------------------------------------------------------------------------
    // Specification
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void defaultsAreLlamaCppCommonDefaults() {
        // common/common.h, struct common_params_sampling (llama.cpp v0.5.0)
        Sampler s = Sampler.defaults();
        assertThat(s.seed()).isEqualTo(0xFFFFFFFFL).isEqualTo(Sampler.RANDOM_SEED);
        assertThat(s.topK()).isEqualTo(40);
        assertThat(s.topP()).isEqualTo(0.95f);
        assertThat(s.minP()).isEqualTo(0.05f);
        assertThat(s.typicalP()).isEqualTo(1.0f);
        assertThat(s.temperature()).isEqualTo(0.8f);
        assertThat(s.dynamicTemperature().range()).isEqualTo(0.0f);
        assertThat(s.dynamicTemperature().exponent()).isEqualTo(1.0f);
        assertThat(s.xtc().probability()).isEqualTo(0.0f);
        assertThat(s.xtc().threshold()).isEqualTo(0.1f);
        assertThat(s.topNSigma()).isEqualTo(-1.0f);
        assertThat(s.penalties().lastN()).isEqualTo(64);
        assertThat(s.penalties().repeat()).isEqualTo(1.0f);
        assertThat(s.penalties().frequency()).isEqualTo(0.0f);
        assertThat(s.penalties().presence()).isEqualTo(0.0f);
        assertThat(s.dry().multiplier()).isEqualTo(0.0f);
        assertThat(s.dry().base()).isEqualTo(1.75f);
        assertThat(s.dry().allowedLength()).isEqualTo(2);
        assertThat(s.dry().penaltyLastN()).isEqualTo(64);
        assertThat(s.dry().sequenceBreakers()).containsExactly("\n", ":", "\"", "*");
        assertThat(s.mirostat().version()).isZero();
        assertThat(s.mirostat().tau()).isEqualTo(5.0f);
        assertThat(s.mirostat().eta()).isEqualTo(0.1f);
        assertThat(s.logitBias()).isEmpty();
        assertThat(s.grammar()).isEmpty();
        assertThat(s.grammarRoot()).isEqualTo("root");
        assertThat(s.isInfill()).isFalse();
        assertThat(s.isGreedy()).isFalse();
        assertThat(s.custom()).isEmpty();
        assertThat(Sampler.builder().build()).isEqualTo(s);
    }

    /** Cross-checks the numeric defaults against the pinned common.h itself, so a llama.cpp bump cannot drift. */
    @Test
    void defaultsMatchPinnedCommonHeader() throws IOException {
        Path header = TestModels.llamaSource().resolve("common/common.h");
        String text = Files.readString(header);
        int start = text.indexOf("struct common_params_sampling {");
        assertThat(start).as("common_params_sampling in " + header).isNotNegative();
        String struct = text.substring(start, text.indexOf("\n};", start));
        Sampler s = Sampler.defaults();
        assertThat(field(struct, "top_k")).isEqualTo((double) s.topK());
        assertThat((float) field(struct, "top_p")).isEqualTo(s.topP());
        assertThat((float) field(struct, "min_p")).isEqualTo(s.minP());
        assertThat((float) field(struct, "xtc_probability")).isEqualTo(s.xtc().probability());
        assertThat((float) field(struct, "xtc_threshold")).isEqualTo(s.xtc().threshold());
        assertThat((float) field(struct, "typ_p")).isEqualTo(s.typicalP());
        assertThat((float) field(struct, "temp")).isEqualTo(s.temperature());
        assertThat((float) field(struct, "dynatemp_range")).isEqualTo(s.dynamicTemperature().range());
        assertThat((float) field(struct, "dynatemp_exponent")).isEqualTo(s.dynamicTemperature().exponent());
        assertThat(field(struct, "penalty_last_n")).isEqualTo((double) s.penalties().lastN());
        assertThat((float) field(struct, "penalty_repeat")).isEqualTo(s.penalties().repeat());
        assertThat((float) field(struct, "penalty_freq")).isEqualTo(s.penalties().frequency());
        assertThat((float) field(struct, "penalty_present")).isEqualTo(s.penalties().presence());
        assertThat((float) field(struct, "dry_multiplier")).isEqualTo(s.dry().multiplier());
        assertThat((float) field(struct, "dry_base")).isEqualTo(s.dry().base());
        assertThat(field(struct, "dry_allowed_length")).isEqualTo((double) s.dry().allowedLength());
        assertThat(field(struct, "dry_penalty_last_n")).isEqualTo((double) s.dry().penaltyLastN());
        assertThat(field(struct, "mirostat")).isEqualTo((double) s.mirostat().version());
        assertThat((float) field(struct, "top_n_sigma")).isEqualTo(s.topNSigma());
        assertThat((float) field(struct, "mirostat_tau")).isEqualTo(s.mirostat().tau());
        assertThat((float) field(struct, "mirostat_eta")).isEqualTo(s.mirostat().eta());
        assertThat((float) field(struct, "adaptive_target")).isEqualTo(s.adaptiveP().target());
        assertThat((float) field(struct, "adaptive_decay")).isEqualTo(s.adaptiveP().decay());
        assertThat(struct).contains("seed = LLAMA_DEFAULT_SEED");
        assertThat(struct).contains("dry_sequence_breakers = {\"\\n\", \":\", \"\\\"\", \"*\"}");
    }

    private static double field(String struct, String name) {
        Matcher m = Pattern.compile("\\b" + name + "\\s*=\\s*(-?[0-9.]+)f?\\s*;").matcher(struct);
        assertThat(m.find()).as("field " + name + " in common_params_sampling").isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void groupsHaveWithersThatKeepTheOtherValues() {
        Sampler s = Sampler.builder().penalties(p -> p.withRepeat(1.1f)).dry(d -> d.withMultiplier(0.8f))
                .xtc(Sampler.Xtc.DEFAULTS.withProbability(0.5f)).build();
        assertThat(s.penalties()).isEqualTo(new Sampler.Penalties(64, 1.1f, 0f, 0f));
        assertThat(s.dry()).isEqualTo(new Sampler.Dry(0.8f, 1.75f, 2, 64, List.of("\n", ":", "\"", "*")));
        assertThat(s.dry().enabled()).isTrue();
        assertThat(s.xtc()).isEqualTo(new Sampler.Xtc(0.5f, 0.1f));
        assertThat(s.mirostat()).isEqualTo(Sampler.Mirostat.DEFAULTS);
        assertThat(s.toBuilder().penalties(p -> p.withLastN(0)).build().penalties().repeat()).isEqualTo(1.1f);
        expectIae(() -> Sampler.Penalties.DEFAULTS.withRepeat(0f), "penalties repeat", "> 0");
        expectIae(() -> Sampler.Mirostat.DEFAULTS.withVersion(3), "mirostat version", "1 or 2");
        expectIae(() -> Sampler.AdaptiveP.DEFAULTS.withDecay(1f), "adaptiveP decay", "[0, 0.99]");
    }

    @Test
    void greedyFactory() {
        assertThat(Sampler.greedy().isGreedy()).isTrue();
        assertThat(Sampler.greedy()).isEqualTo(Sampler.builder().greedy(true).build());
    }

    @Test
    void validationNamesFieldAndRange() {
        Sampler.Builder b = Sampler.builder();
        expectIae(() -> b.seed(-1), "seed", "0..4294967295");
        expectIae(() -> b.seed(0x1_0000_0000L), "seed", "0..4294967295");
        expectIae(() -> b.topK(-1), "topK", ">= 0");
        expectIae(() -> b.topP(1.5f), "topP", "[0, 1]");
        expectIae(() -> b.topP(Float.NaN), "topP", "[0, 1]");
        expectIae(() -> b.minP(-0.1f), "minP", "[0, 1]");
        expectIae(() -> b.typicalP(2f), "typicalP", "[0, 1]");
        expectIae(() -> b.temperature(-0.5f), "temperature", ">= 0");
        expectIae(() -> b.temperature(Float.POSITIVE_INFINITY), "temperature", "finite");
        expectIae(() -> b.dynamicTemperature(-1f, 1f), "dynamicTemperature range", ">= 0");
        expectIae(() -> b.dynamicTemperature(0.5f, Float.NaN), "dynamicTemperature exponent", "finite");
        expectIae(() -> b.xtc(1.1f, 0.1f), "xtc probability", "[0, 1]");
        expectIae(() -> b.xtc(0.5f, -1f), "xtc threshold", "[0, 1]");
        expectIae(() -> b.topNSigma(Float.NaN), "topNSigma", "finite");
        expectIae(() -> b.penalties(-1, 1f, 0f, 0f), "penalties lastN", ">= 0");
        expectIae(() -> b.penalties(64, 0f, 0f, 0f), "penalties repeat", "> 0");
        expectIae(() -> b.penalties(64, 1e-39f, 0f, 0f), "penalties repeat", "finite"); // 1/repeat overflows
        expectIae(() -> b.penalties(64, 1f, Float.NaN, 0f), "penalties frequency", "finite");
        expectIae(() -> b.penalties(64, 1f, 0f, Float.NEGATIVE_INFINITY), "penalties presence", "finite");
        expectIae(() -> b.dry(-1f, 1.75f, 2, 64, List.of()), "dry multiplier", ">= 0");
        expectIae(() -> b.dry(0.8f, 0.5f, 2, 64, List.of()), "dry base", ">= 1");
        expectIae(() -> b.dry(0.8f, 1.75f, -1, 64, List.of()), "dry allowedLength", ">= 0");
        expectIae(() -> b.dry(0.8f, 1.75f, 2, -1, List.of()), "dry penaltyLastN", ">= 0");
        expectIae(() -> b.dry(0.8f, 1.75f, 2, 64, List.of("\n", "")), "dry breakers", "element 1");
        expectIae(() -> b.mirostat(-1f, 0.1f), "mirostat tau", ">= 0");
        expectIae(() -> b.mirostatV2(5f, Float.NaN), "mirostat eta", "finite");
        expectIae(() -> b.logitBias(-3, 1f), "logitBias token", ">= 0");
        expectIae(() -> b.logitBias(3, Float.NaN), "logitBias bias", "finite or negative infinity");
        expectIae(() -> b.logitBias(3, Float.POSITIVE_INFINITY), "logitBias bias", "finite or negative infinity");
        expectIae(() -> b.grammar(""), "grammar", "non-empty");
        expectIae(() -> b.grammar("   "), "grammar", "non-empty");
        expectIae(() -> b.grammar((String) null), "grammar", "non-empty");
        expectIae(() -> b.grammar("root ::= \"a\"", ""), "grammar root", "non-empty");
        // a failed setter leaves the builder unchanged
        assertThat(b.build()).isEqualTo(Sampler.defaults());
    }

    private static void expectIae(ThrowingCallable call, String field, String range) {
        assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(field).hasMessageContaining(range);
    }

    @Test
    void settersAndGetters() {
        CustomSampler c = cands -> {};
        Sampler s = Sampler.builder().seed(42).topK(5).topP(0.5f).minP(0.1f).typicalP(0.9f).temperature(0.3f)
                .dynamicTemperature(0.2f, 1.5f).xtc(0.4f, 0.2f).topNSigma(2f).penalties(32, 1.1f, 0.2f, 0.3f)
                .dry(0.8f, 2f, 3, 128, List.of("x")).mirostatV2(4f, 0.2f).logitBias(7, 1.5f)
                .grammar("start ::= \"a\"", "start").infill(true).custom(c).build();
        assertThat(s.seed()).isEqualTo(42);
        assertThat(s.topK()).isEqualTo(5);
        assertThat(s.topP()).isEqualTo(0.5f);
        assertThat(s.minP()).isEqualTo(0.1f);
        assertThat(s.typicalP()).isEqualTo(0.9f);
        assertThat(s.temperature()).isEqualTo(0.3f);
        assertThat(s.dynamicTemperature().range()).isEqualTo(0.2f);
        assertThat(s.dynamicTemperature().exponent()).isEqualTo(1.5f);
        assertThat(s.xtc().probability()).isEqualTo(0.4f);
        assertThat(s.xtc().threshold()).isEqualTo(0.2f);
        assertThat(s.topNSigma()).isEqualTo(2f);
        assertThat(s.penalties().lastN()).isEqualTo(32);
        assertThat(s.penalties().repeat()).isEqualTo(1.1f);
        assertThat(s.penalties().frequency()).isEqualTo(0.2f);
        assertThat(s.penalties().presence()).isEqualTo(0.3f);
        assertThat(s.dry().multiplier()).isEqualTo(0.8f);
        assertThat(s.dry().base()).isEqualTo(2f);
        assertThat(s.dry().allowedLength()).isEqualTo(3);
        assertThat(s.dry().penaltyLastN()).isEqualTo(128);
        assertThat(s.dry().sequenceBreakers()).containsExactly("x");
        assertThat(s.mirostat().version()).isEqualTo(2);
        assertThat(s.mirostat().tau()).isEqualTo(4f);
        assertThat(s.mirostat().eta()).isEqualTo(0.2f);
        assertThat(s.logitBias()).containsExactly(Map.entry(7, 1.5f));
        assertThat(s.grammar()).contains("start ::= \"a\"");
        assertThat(s.grammarRoot()).isEqualTo("start");
        assertThat(s.isInfill()).isTrue();
        assertThat(s.custom()).containsSame(c);
        assertThat(s.toBuilder().build()).isEqualTo(s).hasSameHashCodeAs(s);
        assertThat(s.toBuilder().mirostatOff().build().mirostat().version()).isZero();
        assertThat(s.toBuilder().noGrammar().build().grammar()).isEmpty();
        assertThat(s.toString()).contains("seed=42").contains("Mirostat[version=2");
        assertThat(Sampler.defaults().toString()).contains("seed=random").contains("topK=40");
    }

    @Test
    void logitBiasAccumulates() {
        Sampler s = Sampler.builder().logitBias(5, 1f).logitBias(9, -2f).logitBias(5, 0.5f).build();
        assertThat(s.logitBias()).containsExactly(Map.entry(5, 1.5f), Map.entry(9, -2f));
        assertThat(Sampler.builder().logitBias(5, 1f).logitBias(5, Float.NEGATIVE_INFINITY).build().logitBias())
                .containsEntry(5, Float.NEGATIVE_INFINITY);
        assertThat(s.toBuilder().clearLogitBias().build().logitBias()).isEmpty();
    }

    @Test
    void immutable() {
        Sampler.Builder b = Sampler.builder().logitBias(1, 1f);
        List<String> breakers = new ArrayList<>(List.of("a", "b"));
        b.dry(0.5f, 1.75f, 2, 64, breakers);
        Sampler s = b.build();
        // later changes to the builder or the caller's list do not leak into the built value
        b.logitBias(2, 2f).topK(3).dry(0.5f, 1.75f, 2, 64, List.of("z"));
        breakers.add("c");
        assertThat(s.logitBias()).containsOnlyKeys(1);
        assertThat(s.topK()).isEqualTo(40);
        assertThat(s.dry().sequenceBreakers()).containsExactly("a", "b");
        assertThatThrownBy(() -> s.logitBias().put(3, 1f)).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> s.dry().sequenceBreakers().add("x")).isInstanceOf(UnsupportedOperationException.class);
        // toBuilder copies: changing the copy leaves the original alone
        Sampler t = s.toBuilder().logitBias(1, 1f).build();
        assertThat(t.logitBias()).containsEntry(1, 2f);
        assertThat(s.logitBias()).containsEntry(1, 1f);
        assertThat(t).isNotEqualTo(s);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Native chains without a vocabulary
    // ---------------------------------------------------------------------------------------------------------------

    private static List<String> stages(Sampler spec) {
        try (SamplerChain chain = SamplerChain.create(spec, null, N_VOCAB)) {
            return chain.stageNames();
        }
    }

    @Test
    void defaultChainOrder() {
        // common_sampler_init: penalties, dry, top_n_sigma, top_k, typical_p, top_p, min_p, xtc, temperature, dist;
        // the disabled ones (penalties, dry, top-n-sigma, typical, xtc at their defaults) are llama.cpp no-ops.
        assertThat(stages(Sampler.defaults())).containsExactly("top-k", "top-p", "min-p", "temp-ext", "dist");
    }

    @Test
    void everyStageEnabledKeepsCommonOrder() {
        Sampler s = Sampler.builder().logitBias(3, -1f).penalties(64, 1.1f, 0.1f, 0.1f).topNSigma(1.5f)
                .typicalP(0.9f).xtc(0.5f, 0.1f).dynamicTemperature(0.5f, 1f).build();
        assertThat(stages(s)).containsExactly("logit-bias", "penalties", "top-n-sigma", "top-k", "typical", "top-p",
                "min-p", "xtc", "temp-ext", "dist");
    }

    @Test
    void adaptivePReplacesDistAtTheEnd() {
        Sampler s = Sampler.builder().topK(0).topP(1f).minP(0.05f).adaptiveP(0.5f, 0.9f).seed(7).build();
        List<String> names = stages(s);
        assertThat(names).startsWith("min-p").doesNotContain("dist");
        assertThat(names.getLast()).containsIgnoringCase("adaptive");
        assertThat(stages(s.toBuilder().adaptivePOff().build())).endsWith("dist");
        assertThatThrownBy(() -> Sampler.builder().adaptiveP(1.5f, 0.9f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("target");
        assertThatThrownBy(() -> Sampler.builder().adaptiveP(0.5f, 1f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("decay");
    }

    @Test
    void disabledStagesAreLeftOut() {
        Sampler s = Sampler.builder().topK(0).topP(1f).minP(0f).temperature(1f).build();
        assertThat(stages(s)).containsExactly("dist");
    }

    @Test
    void zeroTemperatureKeepsTheTemperatureStage() {
        // temp <= 0 in llama.cpp: the temperature stage keeps only the best candidate, dist then has one choice
        assertThat(stages(Sampler.builder().temperature(0f).build()))
                .containsExactly("top-k", "top-p", "min-p", "temp-ext", "dist");
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().temperature(0f).build(), null, N_VOCAB)) {
            for (int i = 0; i < 5; i++) {
                assertThat(chain.sample(logitsPeakingAt(1234))).isEqualTo(1234);
            }
        }
    }

    @Test
    void greedyChain() {
        assertThat(stages(Sampler.greedy())).containsExactly("greedy");
        Sampler s = Sampler.builder().greedy(true).logitBias(1, 2f).penalties(64, 1.2f, 0f, 0f)
                .dry(0.8f, 1.75f, 2, 64, List.of()).topK(3).mirostat(5f, 0.1f).build();
        assertThat(stages(s)).containsExactly("logit-bias", "penalties", "greedy");
    }

    @Test
    void mirostatReplacesTopKToDist() {
        assertThat(stages(Sampler.builder().mirostat(5f, 0.1f).build())).containsExactly("temp", "mirostat");
        assertThat(stages(Sampler.builder().mirostatV2(5f, 0.1f).penalties(64, 1.1f, 0f, 0f).build()))
                .containsExactly("temp", "mirostat-v2");
        assertThat(stages(Sampler.builder().mirostatV2(5f, 0.1f).temperature(1f).build()))
                .containsExactly("mirostat-v2");
    }

    @Test
    void customStageSitsBeforeSelection() {
        CustomSampler named = new CustomSampler() {
            @Override
            public void apply(Candidates candidates) {}

            @Override
            public String name() {
                return "my-stage";
            }
        };
        assertThat(stages(Sampler.builder().custom(named).build()))
                .containsExactly("top-k", "top-p", "min-p", "temp-ext", "my-stage", "dist");
        assertThat(stages(Sampler.builder().greedy(true).custom(c -> {}).build())).containsExactly("java", "greedy");
        assertThat(stages(Sampler.builder().mirostat(5, 0.1f).custom(c -> {}).build()))
                .containsExactly("temp", "java", "mirostat");
        assertThat(stages(Sampler.builder().custom(new Picker(7)).build()))
                .containsExactly("top-k", "top-p", "min-p", "temp-ext", "picker");
    }

    @Test
    void seed() {
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().seed(42).build(), null, N_VOCAB)) {
            assertThat(chain.seed()).isEqualTo(42);
        }
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().seed(0xFFFFFFFEL).build(), null, N_VOCAB)) {
            assertThat(Integer.toUnsignedLong(chain.seed())).isEqualTo(0xFFFFFFFEL);
        }
        try (SamplerChain chain = SamplerChain.create(Sampler.defaults(), null, N_VOCAB)) {
            // LLAMA_DEFAULT_SEED is replaced by a random seed
            assertThat(chain.seed()).isNotEqualTo(-1);
        }
    }

    @Test
    void sameSeedSameTokens() {
        float[] logits = flatLogits();
        Sampler s = Sampler.builder().seed(1234).topK(0).topP(1f).minP(0f).temperature(1f).build();
        int[] a = new int[20];
        int[] b = new int[20];
        try (SamplerChain c1 = SamplerChain.create(s, null, N_VOCAB);
             SamplerChain c2 = SamplerChain.create(s, null, N_VOCAB)) {
            for (int i = 0; i < a.length; i++) {
                a[i] = c1.sample(logits);
                b[i] = c2.sample(logits);
            }
        }
        assertThat(a).isEqualTo(b);
        assertThat(Arrays.stream(a).distinct().count()).isGreaterThan(1);
    }

    @Test
    void greedyPicksMaxAndLogitBiasApplies() {
        try (SamplerChain chain = SamplerChain.create(Sampler.greedy(), null, N_VOCAB)) {
            assertThat(chain.sample(logitsPeakingAt(99))).isEqualTo(99);
        }
        Sampler banned = Sampler.builder().greedy(true).logitBias(99, Float.NEGATIVE_INFINITY).logitBias(5, 0.5f)
                .build();
        float[] logits = logitsPeakingAt(99);
        logits[5] = 0.6f; // second best after the ban, and boosted
        try (SamplerChain chain = SamplerChain.create(banned, null, N_VOCAB)) {
            assertThat(chain.sample(logits)).isEqualTo(5);
        }
    }

    @Test
    void repetitionPenaltySeesAcceptedTokens() {
        Sampler s = Sampler.builder().greedy(true).penalties(64, 100f, 0f, 0f).build();
        float[] logits = logitsPeakingAt(99);
        logits[98] = 0.9f;
        try (SamplerChain chain = SamplerChain.create(s, null, N_VOCAB)) {
            assertThat(chain.sample(logits)).isEqualTo(99); // 99 is now in the history
            assertThat(chain.sample(logits)).isEqualTo(98); // 10 / 100 < 0.9
            chain.reset();
            assertThat(chain.sample(logits)).isEqualTo(99);
            chain.reset();
            chain.accept(99); // a prompt token
            assertThat(chain.sample(logits)).isEqualTo(98);
            assertThatThrownBy(() -> chain.accept(N_VOCAB)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token");
        }
    }

    @Test
    void vocabFreeValidation() {
        assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().logitBias(N_VOCAB, 1f).build(), null, N_VOCAB))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("logitBias token");
        assertThatThrownBy(() -> SamplerChain.create(Sampler.defaults(), null, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("vocabSize");
        assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().grammar("root ::= \"a\"").build(), null,
                N_VOCAB)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("vocabulary");
        assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().dry(0.8f, 1.75f, 2, 64, List.of("\n")).build(),
                null, N_VOCAB)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("DRY");
        assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().infill(true).build(), null, N_VOCAB))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("infill");
        try (SamplerChain chain = SamplerChain.create(Sampler.defaults(), null, N_VOCAB)) {
            assertThatThrownBy(() -> chain.sample(new float[3])).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("logits");
        }
    }

    @Test
    void closeIsIdempotent() {
        SamplerChain chain = SamplerChain.create(Sampler.builder().custom(c -> {}).build(), null, N_VOCAB);
        chain.close();
        chain.close();
        assertThat(chain.isClosed()).isTrue();
        assertThatThrownBy(chain::stageNames).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> chain.sample(flatLogits())).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> chain.accept(1)).isInstanceOf(IllegalStateException.class);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Custom samplers
    // ---------------------------------------------------------------------------------------------------------------

    /** Selects a fixed token itself. */
    private record Picker(int token) implements CustomSampler {
        @Override
        public void apply(Candidates c) {
            for (int i = 0; i < c.size(); i++) {
                if (c.id(i) == token) {
                    c.select(i);
                    return;
                }
            }
        }

        @Override
        public boolean selectsToken() {
            return true;
        }

        @Override
        public String name() {
            return "picker";
        }
    }

    @Test
    void customSamplerTransformsCandidates() {
        List<Integer> accepted = new ArrayList<>();
        int[] resets = {0};
        CustomSampler banEven = new CustomSampler() {
            @Override
            public void apply(Candidates c) {
                for (int i = 0; i < c.size(); i++) {
                    if (c.id(i) % 2 == 0) {
                        c.setLogit(i, Float.NEGATIVE_INFINITY);
                    }
                }
            }

            @Override
            public void accept(int token) {
                accepted.add(token);
            }

            @Override
            public void reset() {
                resets[0]++;
            }
        };
        Sampler s = Sampler.builder().greedy(true).custom(banEven).build();
        try (SamplerChain chain = SamplerChain.create(s, null, N_VOCAB)) {
            float[] logits = logitsPeakingAt(100);
            logits[77] = 0.5f;
            assertThat(chain.sample(logits)).isEqualTo(77);
            chain.accept(12);
            chain.reset();
            assertThat(accepted).containsExactly(77, 12);
            assertThat(resets[0]).isEqualTo(1);
        }
    }

    @Test
    void customSamplerCanSelectAndTruncate() {
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().custom(new Picker(4321)).build(), null,
                N_VOCAB)) {
            // top-k 40 of flat logits keeps some 40 tokens; pick one that survives: make 4321 the clear best
            assertThat(chain.sample(logitsPeakingAt(4321))).isEqualTo(4321);
        }
        CustomSampler keepFirstTwo = c -> {
            assertThat(c.isSorted()).isFalse();
            c.truncate(2);
            assertThat(c.size()).isEqualTo(2);
            assertThatThrownBy(() -> c.id(2)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> c.truncate(0)).isInstanceOf(IllegalArgumentException.class);
        };
        Sampler s = Sampler.builder().topK(0).topP(1f).minP(0f).temperature(1f).seed(5).custom(keepFirstTwo).build();
        try (SamplerChain chain = SamplerChain.create(s, null, N_VOCAB)) {
            for (int i = 0; i < 10; i++) {
                assertThat(chain.sample(flatLogits())).isBetween(0, 1);
            }
        }
    }

    @Test
    void excludedCandidatesStayExcluded() {
        AtomicReference<Throwable> selectError = new AtomicReference<>();
        CustomSampler sneaky = new CustomSampler() {
            @Override
            public void apply(Candidates c) {
                c.setLogit(0, 100f); // token 0 was banned by the logit bias: stays banned
                assertThat(c.logit(0)).isEqualTo(Float.NEGATIVE_INFINITY);
                try {
                    c.select(0);
                } catch (IllegalArgumentException e) {
                    selectError.set(e);
                }
                assertThatThrownBy(() -> c.setLogit(1, Float.NaN)).isInstanceOf(IllegalArgumentException.class);
            }
        };
        Sampler s = Sampler.builder().greedy(true).logitBias(0, Float.NEGATIVE_INFINITY).custom(sneaky).build();
        try (SamplerChain chain = SamplerChain.create(s, null, N_VOCAB)) {
            assertThat(chain.sample(logitsPeakingAt(0))).isNotZero();
        }
        assertThat(selectError.get()).hasMessageContaining("excluded");
    }

    @Test
    void exceptionInCustomSamplerIsRethrownNotCrashing() {
        IllegalStateException boom = new IllegalStateException("boom");
        int[] calls = {0};
        CustomSampler failing = c -> {
            calls[0]++;
            if (calls[0] == 1) {
                throw boom;
            }
        };
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().custom(failing).build(), null, N_VOCAB)) {
            assertThatThrownBy(() -> chain.sample(flatLogits())).isInstanceOf(LlamaException.class)
                    .hasMessageContaining("java").hasCause(boom);
            // the failure is reported once; the chain stays usable
            chain.sample(flatLogits());
            assertThat(calls[0]).isEqualTo(2);
        }
        CustomSampler failingAccept = new CustomSampler() {
            @Override
            public void apply(Candidates c) {}

            @Override
            public void accept(int token) {
                throw new UnsupportedOperationException("no accept");
            }
        };
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().custom(failingAccept).build(), null,
                N_VOCAB)) {
            assertThatThrownBy(() -> chain.accept(3)).isInstanceOf(LlamaException.class)
                    .hasRootCauseInstanceOf(UnsupportedOperationException.class);
        }
    }

    @Test
    void selectingSamplerThatSelectsNothingFails() {
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().custom(new Picker(-5)).build(), null,
                N_VOCAB)) {
            assertThatThrownBy(() -> chain.sample(logitsPeakingAt(3))).isInstanceOf(LlamaException.class)
                    .hasMessageContaining("selected no valid candidate");
        }
    }

    @Test
    void candidatesAreOnlyValidDuringApply() {
        AtomicReference<CustomSampler.Candidates> leaked = new AtomicReference<>();
        try (SamplerChain chain = SamplerChain.create(Sampler.builder().custom(leaked::set).build(), null,
                N_VOCAB)) {
            chain.sample(flatLogits());
        }
        assertThat(leaked.get()).isNotNull();
        assertThatThrownBy(() -> leaked.get().size()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> leaked.get().logit(0)).isInstanceOf(IllegalStateException.class);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Stages that need a vocabulary (grammar, DRY, infill): vocabulary-only GGUF, no weights
    // ---------------------------------------------------------------------------------------------------------------

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class WithVocabulary {
        private MemorySegment model;
        private MemorySegment vocab;
        private int nVocab;

        @BeforeAll
        void load() {
            NativeRuntime.ensureInitialized();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment params = Llama.llama_model_default_params(arena);
                llama_model_params.vocab_only(params, true);
                model = Llama.llama_model_load_from_file(arena.allocateFrom(TestModels.spmVocab().toString()), params);
            }
            assertThat(model).isNotEqualTo(MemorySegment.NULL);
            vocab = Llama.llama_model_get_vocab(model);
            nVocab = Llama.llama_vocab_n_tokens(vocab);
        }

        @AfterAll
        void free() {
            if (model != null && !model.equals(MemorySegment.NULL)) {
                Llama.llama_model_free(model);
            }
        }

        private List<String> stagesWithVocab(Sampler spec) {
            try (SamplerChain chain = SamplerChain.create(spec, vocab, nVocab)) {
                return chain.stageNames();
            }
        }

        @Test
        void grammarComesFirst() {
            Sampler s = Sampler.builder().grammar("root ::= \"yes\" | \"no\"").logitBias(5, 1f).build();
            assertThat(stagesWithVocab(s)).containsExactly("grammar", "logit-bias", "top-k", "top-p", "min-p",
                    "temp-ext", "dist");
            assertThat(stagesWithVocab(Sampler.builder().greedy(true).grammar("root ::= [a-z]+").build()))
                    .containsExactly("grammar", "greedy");
        }

        @Test
        void invalidGrammarIsRejected() {
            assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().grammar("root ::= (\"unclosed\"").build(),
                    vocab, nVocab)).isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("invalid grammar: ");
            assertThatThrownBy(() -> SamplerChain.create(Sampler.builder().grammar("root ::= \"a\"", "missing").build(),
                    vocab, nVocab)).isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("invalid grammar: ");
        }

        @Test
        void grammarConstrainsSampledTokens() {
            // "yes" in the SPM vocabulary: whatever the logits favour, only tokens spelling a prefix of it survive
            Sampler s = Sampler.builder().greedy(true).grammar("root ::= \"yes\"").build();
            try (SamplerChain chain = SamplerChain.create(s, vocab, nVocab)) {
                float[] logits = new float[nVocab];
                logits[100] = 50f; // some unrelated byte token is the favourite
                StringBuilder out = new StringBuilder();
                for (int i = 0; i < 3 && !out.toString().equals("yes"); i++) {
                    int token = chain.sample(logits);
                    out.append(piece(token));
                }
                assertThat(out.toString().strip()).isEqualTo("yes");
                // prompt tokens bypass the grammar (common's is_generated = false): no abort on a non-matching one
                chain.accept(100);
            }
        }

        private String piece(int token) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(64);
                int n = Llama.llama_token_to_piece(vocab, token, buf, 64, 0, true);
                return new String(buf.asSlice(0, Math.max(n, 0)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        java.nio.charset.StandardCharsets.UTF_8);
            }
        }

        @Test
        void dryAndInfillStages() {
            Sampler s = Sampler.builder().dry(0.8f, 1.75f, 2, 64, Sampler.defaults().dry().sequenceBreakers())
                    .penalties(64, 1.1f, 0f, 0f).infill(true).build();
            assertThat(stagesWithVocab(s)).containsExactly("penalties", "dry", "top-k", "top-p", "min-p", "infill",
                    "temp-ext", "dist");
        }

        @Test
        void vocabSizeMustMatch() {
            assertThatThrownBy(() -> SamplerChain.create(Sampler.defaults(), vocab, nVocab + 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("vocabSize");
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static float[] flatLogits() {
        return new float[N_VOCAB];
    }

    private static float[] logitsPeakingAt(int token) {
        float[] logits = new float[N_VOCAB];
        logits[token] = 10f;
        return logits;
    }
}
