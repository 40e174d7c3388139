package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Upstream's tokenizer test vectors for the Mistral 7B v0.1 / Llama SPM vocabulary
 * ({@code models/ggml-vocab-llama-spm.gguf.inp/.out}), split and compared exactly as tests/test-tokenizer-0.cpp does
 * (add_special = false, parse_special = false).
 */
@Tag("no-model")
class TokenizerVectorsTest {
    private static LlamaModel vocabModel;

    @BeforeAll
    static void load() {
        vocabModel = LlamaModel.load(TestModels.spmVocab(), ModelOptions.builder().vocabOnly(true).build());
    }

    @AfterAll
    static void close() {
        vocabModel.close();
    }

    @Test
    void everyUpstreamCaseTokenizesToTheExpectedIds() throws IOException {
        Path inp = Path.of(TestModels.spmVocab() + ".inp");
        Path out = Path.of(TestModels.spmVocab() + ".out");
        String raw = Files.readString(inp, StandardCharsets.UTF_8);
        List<String> expected = Files.readAllLines(out, StandardCharsets.UTF_8);
        String sep = "\n__ggml_vocab_test__\n";
        List<String> inputs = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(sep, pos);
            if (next < 0) {
                inputs.add(raw.substring(pos));
                break;
            }
            inputs.add(raw.substring(pos, next));
            pos = next + sep.length();
        }
        assertThat(inputs).hasSameSizeAs(expected).hasSizeGreaterThan(30);
        Vocabulary vocab = vocabModel.vocabulary();
        for (int i = 0; i < inputs.size(); i++) {
            String line = expected.get(i).strip();
            int[] want = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            assertThat(vocab.tokenize(inputs.get(i), false, false)).as("case %d: %s", i, inputs.get(i)).containsExactly(want);
        }
    }

    @Test
    void specialTokensAndRoundTrip() {
        Vocabulary vocab = vocabModel.vocabulary();
        assertThat(vocab.size()).isEqualTo(32000);
        assertThat(vocab.bos()).isEqualTo(1);
        assertThat(vocab.eos()).isEqualTo(2);
        assertThat(vocab.isEndOfGeneration(2)).isTrue();
        assertThat(vocab.isEndOfGeneration(1)).isFalse();
        int[] withBos = vocab.tokenize("Hello world", true, false);
        assertThat(withBos[0]).isEqualTo(1);
        // SPM inserts a dummy-prefix space when tokenizing; llama.cpp keeps it when detokenizing.
        assertThat(vocab.detokenize(withBos, true, false)).isEqualTo(" Hello world");
        assertThat(vocab.tokenize("<s>[INST]", false, true)[0]).isEqualTo(1);
        assertThat(vocab.tokenize("</s>", false, false)).doesNotContain(2);
    }

    @Test
    void badTokenIdsAreRejectedBeforeNativeCalls() {
        Vocabulary vocab = vocabModel.vocabulary();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> vocab.piece(32000))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("32000");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> vocab.detokenize(new int[] {5, -1}, false, false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
    }
}
