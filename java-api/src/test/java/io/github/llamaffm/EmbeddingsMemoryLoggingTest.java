package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Embeddings, KV-cache sequence operations, and where llama.cpp's log goes. */
@Tag("tiny-model")
class EmbeddingsMemoryLoggingTest {

    @Test
    void embeddingsArePooledAndNormalisedOnRequest() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).embeddings(true).build());
             LlamaContext plain = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            float[] raw = ctx.embed("sliding window attention", false);
            float[] unit = ctx.embed("sliding window attention", true);
            float[] other = ctx.embed("a completely different sentence", true);
            assertThat(raw).hasSize(model.info().embeddingSize());
            double norm = 0;
            double rawNorm = 0;
            for (int i = 0; i < unit.length; i++) {
                norm += unit[i] * unit[i];
                rawNorm += raw[i] * raw[i];
            }
            assertThat(Math.sqrt(norm)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
            for (int i = 0; i < unit.length; i++) {
                assertThat(unit[i]).isCloseTo((float) (raw[i] / Math.sqrt(rawNorm)), org.assertj.core.data.Offset.offset(1e-5f));
            }
            assertThat(ctx.embed("sliding window attention", true)).containsExactly(unit);
            assertThat(other).isNotEqualTo(unit);
            assertThatThrownBy(() -> plain.embed("x", true)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("embeddings(true)");
        }
    }

    @Test
    void sequenceOperationsTrackPositions() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).sequences(3).build())) {
            int[] tokens = model.vocabulary().tokenize("one two three four five six seven", true, false);
            ctx.evaluate(tokens);
            ContextMemory mem = ctx.memory();
            assertThat(mem.minPosition(0)).isZero();
            assertThat(mem.maxPosition(0)).isEqualTo(tokens.length - 1);
            assertThat(mem.maxPosition(1)).isEqualTo(-1);
            mem.copy(0, 1, -1, -1);
            assertThat(mem.maxPosition(1)).isEqualTo(tokens.length - 1);
            assertThat(mem.remove(1, 3, -1)).isTrue();
            assertThat(mem.maxPosition(1)).isEqualTo(2);
            mem.keepOnly(1);
            assertThat(mem.maxPosition(0)).isEqualTo(-1);
            assertThat(ctx.tokens()).as("sequence 0 emptied, so its recorded tokens are gone").isEmpty();
            assertThat(mem.canShift()).isTrue();
            mem.shift(1, -1, -1, 10);
            assertThat(mem.minPosition(1)).isEqualTo(10);
            mem.clear();
            assertThat(mem.maxPosition(1)).isEqualTo(-1);
            assertThatThrownBy(() -> mem.copy(0, 3, -1, -1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("sequence id 3");
            assertThatThrownBy(() -> mem.remove(0, 5, 2)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("[5, 2)");
        }
    }

    @Test
    void aCancelledDecodeDoesNotLogErrors() throws Exception {
        LogCapture log = LogCapture.of("io.github.llamaffm.native");
        List<LogRecord> records = log.records;
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
             Generation g = ctx.generate("cancel quietly", GenerateOptions.builder().maxTokens(100).sampler(Sampler.greedy()).build())) {
            int[] n = {0};
            g.forEach(t -> {
                if (++n[0] == 3) {
                    ctx.cancel(); // seen by llama.cpp's abort callback in the next decode
                }
            });
            assertThat(g.result().finishReason()).isEqualTo(FinishReason.CANCELLED);
        } finally {
            log.close();
        }
        assertThat(records).noneMatch(r -> r.getLevel().intValue() >= Level.WARNING.intValue());
    }

    @Test
    void llamaCppLogGoesToSystemLoggerAndNothingToStdout() {
        LogCapture log = LogCapture.all("io.github.llamaffm.native");
        List<LogRecord> records = log.records;
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            ctx.generate("quiet", GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy()).build()).text();
        } finally {
            System.setOut(out);
            log.close();
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).isEmpty();
        // llama.cpp's INFO lines (model loader) arrive, one level down (FINE = System.Logger DEBUG).
        assertThat(records).anySatisfy(r -> {
            assertThat(r.getMessage()).contains("llama_model_loader");
            assertThat(r.getLevel()).isEqualTo(Level.FINE);
        });
    }
}
