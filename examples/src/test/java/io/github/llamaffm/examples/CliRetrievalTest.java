package io.github.llamaffm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.RerankScore;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** {@code embed --file} (one vector per line) and {@code rerank}, in process, against the facade. */
@Tag("tiny-model")
class CliRetrievalTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> LINES = List.of("sliding window attention", "a rolling buffer cache",
            "grouped-query attention", "sliding window attention");

    @TempDir
    static Path dir;

    @Test
    void embedFileWritesOneJsonLinePerLineAsTheFacadeEmbedsIt() throws Exception {
        Path file = Files.writeString(dir.resolve("lines.txt"), String.join("\n", LINES) + "\n\n");
        CliTest.Run r = run("embed", "--file", file.toString(), "--jsonl");
        assertThat(r.code()).as(r.err()).isZero();
        List<String> out = r.out().lines().toList();
        assertThat(out).hasSize(LINES.size());
        try (LlamaModel model = LlamaModel.load(demoModel());
             LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).build())) {
            for (int i = 0; i < LINES.size(); i++) {
                JsonNode line = JSON.readTree(out.get(i));
                assertThat(line.get("index").asInt()).isEqualTo(i);
                assertThat(line.get("text").asText()).isEqualTo(LINES.get(i));
                float[] expected = ctx.embed(LINES.get(i), true);
                JsonNode v = line.get("embedding");
                assertThat(v).hasSize(expected.length);
                for (int k = 0; k < expected.length; k++) {
                    assertThat(v.get(k).floatValue()).isCloseTo(expected[k], within(1e-4f));
                }
            }
        }
        // standard input as the file; plain output: one line of floats per input
        CliTest.Run piped = runWithInput(String.join("\n", LINES), "embed", "--file", "-");
        assertThat(piped.code()).as(piped.err()).isZero();
        assertThat(piped.out().lines().count()).isEqualTo(LINES.size());
        // per-token vectors: one per token, a blank line after each input
        CliTest.Run tokens = run("embed", "--pooling", "none", "--jsonl", "sliding window");
        assertThat(tokens.code()).as(tokens.err()).isZero();
        JsonNode t = JSON.readTree(tokens.out().strip());
        assertThat(t.get("embeddings")).hasSize(t.get("tokens").size());
        CliTest.Run nothing = run("embed");
        assertThat(nothing.code()).isEqualTo(2);
        assertThat(nothing.err()).contains("nothing to embed");
    }

    @Test
    void rerankPrintsDocumentsByTheFacadesScores() throws Exception {
        Path reranker = TinyModel.cachedReranker(TinyModel.Spec.defaults(), TinyModel.QWEN3_RERANK_PROMPT,
                DemoModel.vocabulary(), dir);
        List<String> docs = List.of("hi", "The giant panda is a bear.", "Paris is in France.", "Pandas eat bamboo");
        List<RerankScore> expected;
        try (LlamaModel model = LlamaModel.load(reranker);
             LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).build())) {
            expected = ctx.rerank("What is a panda?", docs);
        }
        Path file = Files.writeString(dir.resolve("docs.txt"), String.join("\n", docs));
        CliTest.Run r = run("rerank", "--model", reranker.toString(), "--file", file.toString(), "--json",
                "--top", "3", "What is a panda?");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode results = JSON.readTree(r.out()).get("results");
        assertThat(results).hasSize(3);
        double previous = Double.POSITIVE_INFINITY;
        for (JsonNode result : results) {
            int index = result.get("index").asInt();
            assertThat(result.get("relevance_score").asDouble()).isCloseTo(expected.get(index).score(), within(1e-4))
                    .isLessThanOrEqualTo(previous);
            assertThat(result.get("document").asText()).isEqualTo(docs.get(index));
            previous = result.get("relevance_score").asDouble();
        }
        CliTest.Run plain = run("rerank", "--model", reranker.toString(), "What is a panda?", "hi", "Pandas eat bamboo");
        assertThat(plain.code()).as(plain.err()).isZero();
        assertThat(plain.out().lines().toList()).hasSize(2).allMatch(l -> l.split("\t").length == 3);
        // the demo model is no reranker: a clear error, exit 1
        CliTest.Run notReranker = run("rerank", "q", "d");
        assertThat(notReranker.code()).isEqualTo(1);
        assertThat(notReranker.err()).contains("not a reranker");
    }

    private static Path demoModel() {
        return DemoModel.path(dir, new java.io.PrintWriter(new java.io.StringWriter()));
    }

    private static CliTest.Run run(String... args) {
        return CliTest.runIn(dir, "", args);
    }

    private static CliTest.Run runWithInput(String stdin, String... args) {
        return CliTest.runIn(dir, stdin, args);
    }
}
