package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Backend sampling ({@link ContextOptions.Builder#backendSampling}): the sampler chain attached to the context with
 * {@code llama_set_sampler} runs inside the decode graph. llama.cpp's CPU backend runs it too, so the proof runs here:
 * greedy and a seeded top-k/top-p/min-p/temperature chain give the same text as host sampling and as upstream's own
 * {@code llama-completion --backend-sampling} on the same model; chains that need the host's logits (a grammar,
 * probabilities) fall back to host sampling; the scheduler's sequences each sample in the graph.
 */
@Tag("tiny-model")
class BackendSamplingTest {
    private static final String PROMPT = "Once upon a time";
    private static final int N = 30;

    private static GenerateOptions options(Sampler sampler) {
        return GenerateOptions.builder().maxTokens(N).sampler(sampler).build();
    }

    private static final Sampler SEEDED = Sampler.builder().topK(40).topP(0.9f).minP(0.05f).temperature(0.8f).seed(42)
            .build();

    private static String generate(LlamaModel model, boolean backend, GenerateOptions options) {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).threads(1)
                .backendSampling(backend).build())) {
            assertThat(ctx.settings().backendSampling()).isEqualTo(backend);
            List<Integer> ids = new ArrayList<>();
            String text;
            try (Generation g = ctx.generate(PROMPT, options)) {
                g.forEach(t -> ids.add(t.id()));
                text = g.result().text();
            }
            // The last decode's output: the token the graph sampled, or none (-1) when sampling ran on the host.
            int inGraph = Llama.llama_get_sampled_token_ith(ctx.segment(), -1);
            boolean eligible = options.sampler().grammar().isEmpty() && !options.probabilities()
                    && options.topProbabilities() == 0;
            assertThat(inGraph).as("sampled in the graph").isEqualTo(backend && eligible ? ids.getLast() : -1);
            return text;
        }
    }

    @Test
    void greedyAndASeededChainMatchHostSamplingAndUpstream() {
        Path file = TestModels.tiny();
        try (LlamaModel model = LlamaModel.load(file)) {
            String greedy = generate(model, true, options(Sampler.greedy()));
            assertThat(greedy).isEqualTo(generate(model, false, options(Sampler.greedy())));
            assertThat(upstream(file, "--temp", "0")).isEqualTo((PROMPT + greedy).strip());

            String seeded = generate(model, true, options(SEEDED));
            assertThat(seeded).isEqualTo(generate(model, false, options(SEEDED))).isNotEqualTo(greedy);
            assertThat(upstream(file, "--top-k", "40", "--top-p", "0.9", "--min-p", "0.05", "--temp", "0.8", "-s", "42"))
                    .isEqualTo((PROMPT + seeded).strip());
        }
    }

    @Test
    void chainsThatNeedTheHostsLogitsSampleOnTheHost() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            GenerateOptions withProbabilities = options(Sampler.greedy()).toBuilder().topProbabilities(3).build();
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).threads(1)
                    .backendSampling(true).build());
                 Generation g = ctx.generate(PROMPT, withProbabilities)) {
                List<Token> tokens = new ArrayList<>();
                g.forEach(tokens::add);
                assertThat(tokens).allSatisfy(t -> assertThat(t.top()).hasSize(3));
                assertThat(g.result().text()).isEqualTo(generate(model, false, options(Sampler.greedy())));
            }
            GenerateOptions grammar = options(Sampler.builder().greedy(true).grammar("root ::= [a-z]+").build());
            assertThat(generate(model, true, grammar)).isEqualTo(generate(model, false, grammar)).matches("[a-z]+");
        }
    }

    @Test
    void theSchedulersSequencesSampleInTheGraphToo() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            String single = generate(model, false, options(SEEDED));
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).sequences(2).threads(1)
                    .backendSampling(true).build());
                 SequenceScheduler scheduler = ctx.newScheduler()) {
                List<StringBuilder> texts = List.of(new StringBuilder(), new StringBuilder());
                for (int i = 0; i < 2; i++) {
                    StringBuilder sb = texts.get(i);
                    scheduler.submit(PROMPT, options(SEEDED), new SequenceScheduler.Listener() {
                        @Override
                        public void onToken(SequenceScheduler.Sequence s, Token t) {
                            sb.append(t.text());
                        }
                    });
                }
                while (scheduler.step()) {
                    // until both end
                }
                assertThat(texts).allSatisfy(t -> assertThat(t.toString()).isEqualTo(single));
            }
        }
    }

    @Test
    void offByDefaultOnTheCpu() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            assertThat(ctx.options().backendSampling()).isEmpty();
            assertThat(ctx.settings().backendSampling()).isFalse();
        }
    }

    /** Upstream's completion tool with backend sampling on: the prompt and the generated text. */
    private static String upstream(Path model, String... sampling) {
        List<String> args = new ArrayList<>(List.of("-c", "256", "--backend-sampling"));
        args.addAll(List.of(sampling));
        return TestModels.llamaCompletion(model, PROMPT, N, args.toArray(String[]::new));
    }
}
