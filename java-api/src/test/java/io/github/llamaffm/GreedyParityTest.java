package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Greedy generation through llama-ffm is token-identical to upstream's own llama-simple (built from the same
 * source by build-native.sh) on the same generated model and prompt.
 */
@Tag("tiny-model")
class GreedyParityTest {
    private static final int N_PREDICT = 40;

    @Test
    void greedyGenerationMatchesUpstreamLlamaSimple() throws Exception {
        assertParity(TestModels.tiny());
    }

    /** A model whose file carries a 16-token window (patched llama.cpp on both sides): 40 tokens run well past it. */
    @Test
    void slidingWindowModelMatchesUpstreamToo() throws Exception {
        assertParity(TestModels.tiny(io.github.llamaffm.internal.TinyModel.Spec.builder().slidingWindow(16).seed(21).build()));
    }

    private static void assertParity(Path modelFile) throws Exception {
        for (String prompt : List.of("The Mistral 7B paper shows", "Once upon a time, in a land far away")) {
            String upstream = runLlamaSimple(modelFile, prompt);
            try (LlamaModel model = LlamaModel.load(modelFile);
                 LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).build())) {
                Vocabulary vocab = model.vocabulary();
                StringBuilder promptPieces = new StringBuilder();
                for (int t : vocab.tokenize(prompt, true, true)) {
                    promptPieces.append(vocab.piece(t));
                }
                List<Integer> ids = new ArrayList<>();
                StringBuilder text = new StringBuilder();
                try (Generation g = ctx.generate(prompt, GenerateOptions.builder().maxTokens(N_PREDICT)
                        .sampler(Sampler.greedy()).build())) {
                    g.forEach(t -> {
                        ids.add(t.id());
                        text.append(t.text());
                    });
                    assertThat(g.result().generatedTokens()).isEqualTo(ids.size());
                }
                // llama-simple prints the prompt pieces, every generated piece, then a newline.
                assertThat(upstream).startsWith(promptPieces.toString()).endsWith("\n");
                String upstreamGenerated = upstream.substring(promptPieces.length(), upstream.length() - 1);
                assertThat(text.toString()).as("generated text for '%s' (%d tokens)", prompt, ids.size())
                        .isEqualTo(upstreamGenerated);
                assertThat(ids).hasSize(N_PREDICT);
                assertThat(ids.stream().distinct().count()).as("the tiny model is not stuck on one token").isGreaterThan(3);
            }
        }
    }

    static String runLlamaSimple(Path model, String prompt) throws Exception {
        Process p = new ProcessBuilder(TestModels.tool("llama-simple").toString(), "-m", model.toString(),
                "-n", String.valueOf(N_PREDICT), prompt)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("llama-simple exit code").isZero();
        return new String(out, StandardCharsets.UTF_8);
    }
}
