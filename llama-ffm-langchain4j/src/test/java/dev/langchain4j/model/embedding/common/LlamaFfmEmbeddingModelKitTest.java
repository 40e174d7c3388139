package dev.langchain4j.model.embedding.common;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.TestModels;
import io.github.llamaffm.langchain4j.LlamaFfmEmbeddingModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

/**
 * LangChain4j's own {@code EmbeddingModel} test kit ({@link AbstractEmbeddingModelIT}, langchain4j-core 1.19.0 tests
 * jar) against {@code LlamaFfmEmbeddingModel}: single and batched input in order, usage and model name, listeners,
 * and "fails with UnsupportedFeatureException" for input type, dimensions and images.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlamaFfmEmbeddingModelKitTest extends AbstractEmbeddingModelIT {
    private final LlamaModel model = LlamaModel.load(TestModels.tiny());
    private final LlamaContext context = model.newContext(ContextOptions.builder().embeddings(true).sequences(4)
            .kvUnified(true).build());
    private final EmbeddingModel embeddings = modelWith(null);

    @AfterAll
    void close() {
        context.close();
        model.close();
    }

    @Override
    protected List<EmbeddingModel> models() {
        return List.of(embeddings);
    }

    @Override
    protected EmbeddingModel modelWith(EmbeddingModelListener listener) {
        return LlamaFfmEmbeddingModel.builder().context(context)
                .listeners(listener == null ? List.of() : List.of(listener)).build();
    }

    @Override protected boolean supportsInputTypeParameter() { return false; }
    @Override protected boolean supportsDimensionsParameter() { return false; }
    @Override protected boolean supportsImageInput() { return false; }
}
