package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.store.embedding.CosineSimilarity;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Embeddings through LangChain4j's API equal the facade's one-text-at-a-time vectors. */
class LlamaFfmEmbeddingModelTest {

    @Test
    void embedAllBatchesAndMatchesTheFacadeTextByText() {
        List<String> texts = List.of("sliding window attention", "a completely different sentence", "x", "Hi there",
                "the fifth", "six", "seven", "eight", "nine: more than one decode");
        try (LlamaFfmEmbeddingModel embeddings = LlamaFfmEmbeddingModel.builder()
                .modelPath(LlamaFfmChatModelTest.MODEL).build();
             LlamaModel model = LlamaModel.load(LlamaFfmChatModelTest.MODEL);
             LlamaContext one = model.newContext(ContextOptions.builder().embeddings(true).build())) {
            Response<List<Embedding>> r = embeddings.embedAll(texts.stream().map(TextSegment::from).toList());
            assertThat(r.content()).hasSize(texts.size());
            assertThat(embeddings.dimension()).isEqualTo(model.info().embeddingSize());
            int tokens = 0;
            for (int i = 0; i < texts.size(); i++) {
                float[] expected = one.embed(texts.get(i), true);
                float[] actual = r.content().get(i).vector();
                assertThat(actual).hasSize(expected.length);
                for (int j = 0; j < expected.length; j++) {
                    assertThat(actual[j]).isCloseTo(expected[j], within(1e-4f));
                }
                tokens += model.vocabulary().tokenize(texts.get(i), true, false).length;
            }
            assertThat(r.tokenUsage().inputTokenCount()).isEqualTo(tokens);
            assertThat(CosineSimilarity.between(r.content().get(0), r.content().get(0))).isCloseTo(1.0, within(1e-5));
            assertThat(CosineSimilarity.between(embeddings.embed("x").content(), r.content().get(2)))
                    .isCloseTo(1.0, within(1e-5));
        }
    }
}
