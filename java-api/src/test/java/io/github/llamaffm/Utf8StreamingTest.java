package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Multi-byte UTF-8 (CJK, emoji) split across tokens is never emitted broken: the SPM vocabulary spells rare characters
 * with byte-fallback tokens ({@code <0xF0>} ...), one byte each.
 */
@Tag("tiny-model")
class Utf8StreamingTest {
    private static final String TEXT = "Mistral 你好世界 🦙✨ ok";

    @Test
    void generatedMultiByteCharactersAreNeverSplit() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            int[] script = model.vocabulary().tokenize(TEXT, false, false);
            long byteTokens = java.util.Arrays.stream(script)
                    .filter(t -> model.vocabulary().piece(t).contains("\uFFFD")).count();
            assertThat(byteTokens).as("the text needs byte-fallback tokens").isGreaterThanOrEqualTo(4);

            // A Java sampler that makes the model "say" exactly the scripted tokens.
            CustomSampler scripted = new CustomSampler() {
                int next;

                @Override
                public void apply(Candidates c) {
                    int want = script[Math.min(next++, script.length - 1)];
                    for (int i = 0; i < c.size(); i++) {
                        if (c.id(i) == want) {
                            c.select(i);
                            break;
                        }
                    }
                }

                @Override
                public boolean selectsToken() {
                    return true;
                }
            };
            List<String> pieces = new ArrayList<>();
            try (Generation g = ctx.generate("Say it:", GenerateOptions.builder().maxTokens(script.length)
                    .sampler(Sampler.greedy().toBuilder().custom(scripted).build()).build())) {
                g.forEach(t -> pieces.add(t.text()));
            }
            assertThat(pieces).hasSize(script.length)
                    .allSatisfy(p -> assertThat(p).doesNotContain("\uFFFD"))
                    .anySatisfy(p -> assertThat(p).isEmpty()); // bytes held back until the character is complete
            // SPM adds a dummy-prefix space to the first word.
            assertThat(String.join("", pieces).strip()).isEqualTo(TEXT);
        }
    }

    @Test
    void decoderHoldsIncompleteCharactersAndFlushesLeftovers() {
        byte[] bytes = "a你🦙".getBytes(StandardCharsets.UTF_8);
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            String s = d.decode(new byte[] {b});
            assertThat(s).doesNotContain("\uFFFD");
            out.append(s);
        }
        assertThat(out.toString()).isEqualTo("a你🦙");
        assertThat(d.decode(new byte[] {(byte) 0xE4, (byte) 0xBD})).isEmpty();
        assertThat(d.hasPending()).isTrue();
        assertThat(d.flush()).isEqualTo("\uFFFD");
        assertThat(d.hasPending()).isFalse();
    }
}
