package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.aggregator.ReRankingContentAggregator;
import dev.langchain4j.rag.query.Query;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.RerankScore;
import io.github.llamaffm.TestModels;
import io.github.llamaffm.internal.TinyModel;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Scores through LangChain4j's API, and its own re-ranking aggregator, equal the facade's rerank on the same file. */
class LlamaFfmScoringModelTest {
    private static final Path RERANKER = TestModels.tinyReranker(TinyModel.QWEN3_RERANK_PROMPT);
    private static final String QUERY = "What is a panda?";
    private static final List<String> DOCS = List.of("hi", "The giant panda is a bear species endemic to China.",
            "Paris is the capital of France.", "Pandas eat bamboo", "x");

    @Test
    void scoresAndReRankingEqualTheFacade() {
        List<RerankScore> expected;
        try (LlamaModel model = LlamaModel.load(RERANKER);
             LlamaContext ctx = model.newContext(ContextOptions.builder().embeddings(true).build())) {
            expected = ctx.rerank(QUERY, DOCS);
        }
        try (LlamaFfmScoringModel scoring = LlamaFfmScoringModel.builder().modelPath(RERANKER).build()) {
            Response<List<Double>> r = scoring.scoreAll(DOCS.stream().map(TextSegment::from).toList(), QUERY);
            assertThat(r.content()).hasSize(DOCS.size());
            for (int i = 0; i < DOCS.size(); i++) {
                assertThat(r.content().get(i)).isCloseTo(expected.get(i).score(), within(1e-4));
            }
            assertThat(r.tokenUsage().inputTokenCount()).isEqualTo(expected.stream().mapToInt(RerankScore::tokens).sum());
            assertThat(scoring.score(DOCS.get(3), QUERY).content()).isCloseTo(expected.get(3).score(), within(1e-4));
            assertThat(scoring.scoreAll(List.of(), QUERY).content()).isEmpty();

            // LangChain4j's RAG re-ranking: contents ordered by these scores, those below minScore dropped
            double minScore = expected.stream().mapToDouble(RerankScore::score).sorted().toArray()[2];
            ReRankingContentAggregator aggregator = ReRankingContentAggregator.builder().scoringModel(scoring)
                    .minScore(minScore).build();
            List<Content> contents = DOCS.stream().map(d -> Content.from(TextSegment.from(d))).toList();
            List<Content> ranked = aggregator.aggregate(Map.of(Query.from(QUERY), List.of(contents)));
            List<String> expectedOrder = expected.stream().filter(s -> s.score() >= minScore)
                    .sorted(Comparator.comparingDouble(RerankScore::score).reversed())
                    .map(s -> DOCS.get(s.index())).toList();
            assertThat(ranked).extracting(c -> c.textSegment().text()).containsExactlyElementsOf(expectedOrder);
        }
    }

    @Test
    void aModelThatIsNotARerankerIsRefusedWhenBuilt() {
        assertThatThrownBy(() -> LlamaFfmScoringModel.builder().modelPath(TestModels.tiny()).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs a reranker")
                .hasMessageContaining("MEAN");
    }
}
