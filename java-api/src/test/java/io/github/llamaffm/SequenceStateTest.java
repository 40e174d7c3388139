package io.github.llamaffm;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** One sequence's state saved and restored (bytes and file): the continuation is the same as without the trip. */
@Tag("tiny-model")
class SequenceStateTest {
    private static final String PROMPT = "Once upon a time, in a land far away";
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static GenerateOptions greedy(int n) {
        return GenerateOptions.builder().maxTokens(n).sampler(Sampler.greedy()).build();
    }

    @Test
    void sequenceStateRoundTripsThroughBytesAndFiles(@TempDir Path dir) {
        ContextOptions options = ContextOptions.builder().contextSize(1024).sequences(4).build();
        try (LlamaContext a = model.newContext(options); LlamaContext b = model.newContext(options)) {
            GenerationResult first = a.generate(PROMPT, greedy(12)).result();
            int[] tokens = a.tokens();
            String expected = a.generate(PROMPT + first.text(), greedy(12)).text(); // reference continuation
            a.clear();
            a.generate(PROMPT, greedy(12)).result();
            assertThat(a.tokens()).isEqualTo(tokens);

            byte[] bytes = a.saveSequenceState(0);
            b.loadSequenceState(0, bytes);
            assertThat(b.tokens()).isEqualTo(tokens);
            GenerationResult continued = b.generate(PROMPT + first.text(), greedy(12)).result();
            assertThat(continued.cachedPromptTokens()).as("the loaded cells are reused").isGreaterThanOrEqualTo(tokens.length - 1);
            assertThat(continued.text()).isEqualTo(expected);

            Path file = dir.resolve("seq0.state");
            a.saveSequenceState(0, file);
            try (LlamaContext c = model.newContext(options)) {
                c.loadSequenceState(0, file);
                assertThat(c.tokens()).isEqualTo(tokens);
                assertThat(c.generate(PROMPT + first.text(), greedy(12)).text()).isEqualTo(expected);
            }

            // Into another sequence: the cells arrive there, sequence 0 is untouched.
            b.clear();
            b.loadSequenceState(2, bytes);
            assertThat(b.memory().maxPosition(2)).isEqualTo(tokens.length - 1);
            assertThat(b.memory().maxPosition(0)).isEqualTo(-1);
        }
    }

    @Test
    void badSequenceStateInputIsRefusedClearly() {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).sequences(2).build())) {
            assertThatThrownBy(() -> ctx.saveSequenceState(2)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("sequence id 2");
            assertThatThrownBy(() -> ctx.loadSequenceState(0, new byte[] {1, 2, 3}))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bad header");
            ctx.generate(PROMPT, greedy(4)).result();
            byte[] whole = ctx.saveState();
            assertThatThrownBy(() -> ctx.loadSequenceState(0, whole)).as("a whole-context state is not a sequence state")
                    .isInstanceOf(IllegalArgumentException.class);
            byte[] seq = ctx.saveSequenceState(0);
            byte[] truncated = java.util.Arrays.copyOf(seq, seq.length / 2);
            assertThatThrownBy(() -> ctx.loadSequenceState(1, truncated)).isInstanceOf(LlamaException.class)
                    .hasMessageContaining("rejected");
            assertThatThrownBy(() -> ctx.loadSequenceState(0, Path.of("/nonexistent/state")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not exist");
        }
    }
}
