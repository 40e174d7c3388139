package io.github.llamaffm.springai;

import io.github.llamaffm.LlamaContext;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A Spring AI {@link EmbeddingModel} on an embeddings context ({@link LlamaContext#embed(List, boolean)}: many texts
 * per decode, the model's own pooling, unit length). Calls from several threads take turns on the context.
 */
public final class LlamaFfmEmbeddingModel implements EmbeddingModel {
    private final LlamaContext context;
    private final ReentrantLock lock = new ReentrantLock();

    /** @param context created with {@code ContextOptions.embeddings(true)}; not owned (close it yourself) */
    public LlamaFfmEmbeddingModel(LlamaContext context) {
        this.context = Objects.requireNonNull(context, "context");
        if (!context.options().embeddings()) {
            throw new IllegalArgumentException("the context must be created with ContextOptions.embeddings(true)");
        }
    }

    @Override
    public EmbeddingResponse call(EmbeddingRequest request) {
        List<float[]> vectors;
        lock.lock();
        try {
            vectors = context.embed(request.getInstructions(), true);
        } finally {
            lock.unlock();
        }
        List<Embedding> out = new ArrayList<>(vectors.size());
        for (int i = 0; i < vectors.size(); i++) {
            out.add(new Embedding(vectors.get(i), i));
        }
        return new EmbeddingResponse(out);
    }

    @Override
    public float[] embed(Document document) {
        String text = getEmbeddingContent(document);
        return embed(text == null ? "" : text);
    }

    @Override
    public int dimensions() {
        return context.modelInfo().embeddingSize();
    }
}
