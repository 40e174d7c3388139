package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/**
 * How an embeddings context turns a text's per-token hidden states into its output ({@code enum llama_pooling_type}):
 * set with {@link ContextOptions.Builder#pooling(Pooling)}, read back with {@link LlamaContext#pooling()}.
 */
public enum Pooling {
    /** No pooling: one vector per token ({@link LlamaContext#tokenEmbeddings}). */
    NONE(Llama.LLAMA_POOLING_TYPE_NONE()),
    /** The mean of the text's token vectors ({@link LlamaContext#embed}). */
    MEAN(Llama.LLAMA_POOLING_TYPE_MEAN()),
    /** The first token's vector (BERT-style {@code [CLS]}). */
    CLS(Llama.LLAMA_POOLING_TYPE_CLS()),
    /** The last token's vector (decoder embedding models such as Qwen3-Embedding). */
    LAST(Llama.LLAMA_POOLING_TYPE_LAST()),
    /** A reranker's classification head over the query/document pair: one relevance score ({@link LlamaContext#rerank}). */
    RANK(Llama.LLAMA_POOLING_TYPE_RANK());

    private final int nativeValue;

    Pooling(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    /** The generated {@code llama_pooling_type} constant. */
    int nativeValue() {
        return nativeValue;
    }

    /** The member for a {@code llama_pooling_type} value. */
    static Pooling of(int nativeValue) {
        for (Pooling p : values()) {
            if (p.nativeValue == nativeValue) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown llama_pooling_type " + nativeValue);
    }
}
