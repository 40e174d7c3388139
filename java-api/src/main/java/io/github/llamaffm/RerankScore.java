package io.github.llamaffm;

/**
 * One document's relevance to a query, from {@link LlamaContext#rerank(String, java.util.List)}.
 *
 * @param index  the document's position in the list given to {@code rerank}
 * @param score  the reranker's first output for the pair, as llama-server reports it: for Qwen3-style rerankers the
 *               probability of "yes" (0 to 1), for BERT-style ones (bge-reranker, jina-reranker) a raw logit
 *               (higher is more relevant; apply a sigmoid for 0 to 1)
 * @param tokens the tokens of the query/document pair as decoded (the rerank prompt included)
 */
public record RerankScore(int index, float score, int tokens) {
}
