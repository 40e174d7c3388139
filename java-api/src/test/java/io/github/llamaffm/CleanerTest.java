package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.internal.NativeHandle;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.logging.LogRecord;

import static org.assertj.core.api.Assertions.assertThat;

/** Native owners a caller forgot to close are freed by their cleaner, which names where they were created. */
@Tag("tiny-model")
class CleanerTest {

    @Test
    void aForgottenContextIsFreedByTheCleanerAndTheWarningNamesWhereItWasCreated() throws Exception {
        LogCapture log = LogCapture.of("io.github.llamaffm");
        String previous = System.getProperty(NativeHandle.DEBUG_PROPERTY);
        System.setProperty(NativeHandle.DEBUG_PROPERTY, "true");
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            NativeHandle weights = model.handle();
            assertThat(weights.references()).isOne();
            createAndForgetAContext(model);
            // The forgotten context holds a reference on the model's weights until its cleaner frees it.
            assertThat(weights.references()).isEqualTo(2);
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (weights.references() != 1 && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(20);
            }
            assertThat(weights.references()).as("the context's reference on the model is released").isOne();
            LogRecord warning = log.records.stream()
                    .filter(r -> r.getMessage().startsWith("LlamaContext was not closed")).findFirst().orElseThrow();
            assertThat(warning.getLevel()).isEqualTo(java.util.logging.Level.WARNING);
            StringWriter trace = new StringWriter();
            warning.getThrown().printStackTrace(new PrintWriter(trace));
            assertThat(trace.toString()).contains("createAndForgetAContext");
            // The model itself still works: only the context was freed.
            try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(128).build())) {
                assertThat(ctx.generate("again", GenerateOptions.builder().maxTokens(2).sampler(Sampler.greedy()).build())
                        .result().generatedTokens()).isEqualTo(2);
            }
        } finally {
            log.close();
            if (previous == null) {
                System.clearProperty(NativeHandle.DEBUG_PROPERTY);
            } else {
                System.setProperty(NativeHandle.DEBUG_PROPERTY, previous);
            }
        }
    }

    private static void createAndForgetAContext(LlamaModel model) {
        LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(128).build());
        Generation g = ctx.generate("forgotten", GenerateOptions.builder().maxTokens(2).sampler(Sampler.greedy()).build());
        g.text(); // used, never closed
    }

    @Test
    void closingReleasesOnceAndTheCleanerDoesNothingMore() {
        LlamaModel model = LlamaModel.load(TestModels.tiny());
        NativeHandle weights = model.handle();
        LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(128).build());
        assertThat(weights.references()).isEqualTo(2);
        ctx.close();
        ctx.close();
        assertThat(weights.references()).isOne();
        model.close();
        assertThat(weights.references()).isZero();
    }
}
