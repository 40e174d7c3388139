package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The tokens of a query/document pair for a reranker, laid out as llama-server's {@code format_prompt_rerank} does:
 * the model's rerank prompt ({@code tokenizer.chat_template.rerank}, with {@code {query}} and {@code {document}}
 * replaced, tokenized without added specials and with special tokens parsed) when its file has one, else
 * {@code [BOS]query[EOS][SEP]document[EOS]} where each special token is there only if the vocabulary adds it
 * ({@code tokenizer.ggml.add_bos_token}, {@code add_eos_token}, {@code add_sep_token}; SEP stands in for a missing EOS).
 */
final class RerankPrompt {
    private final Vocabulary vocabulary;
    /** The model's rerank prompt, or null. */
    private final String prompt;
    private final int bos;
    private final int eos;
    private final int sep;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSep;

    private RerankPrompt(Vocabulary vocabulary, String prompt, int bos, int eos, int sep, boolean addBos,
                         boolean addEos, boolean addSep) {
        this.vocabulary = vocabulary;
        this.prompt = prompt;
        this.bos = bos;
        this.eos = eos;
        this.sep = sep;
        this.addBos = addBos;
        this.addEos = addEos;
        this.addSep = addSep;
    }

    /** Reads the model's rerank prompt and special tokens; {@code vocabulary} tokenizes (the caller's owner). */
    static RerankPrompt of(LlamaModel model, Vocabulary vocabulary) {
        MemorySegment v = vocabulary.segment();
        String prompt;
        try (Arena a = Arena.ofConfined()) {
            prompt = NativeRuntime.cString(Llama.llama_model_chat_template(model.segment(), a.allocateFrom("rerank")));
        }
        int eos = Llama.llama_vocab_eos(v);
        int sep = Llama.llama_vocab_sep(v);
        return new RerankPrompt(vocabulary, prompt, Llama.llama_vocab_bos(v), eos < 0 ? sep : eos, sep,
                Llama.llama_vocab_get_add_bos(v), Llama.llama_vocab_get_add_eos(v), Llama.llama_vocab_get_add_sep(v));
    }

    /** Whether the model's file has its own rerank prompt. */
    boolean hasPrompt() {
        return prompt != null;
    }

    /**
     * The pair's tokens.
     *
     * @throws IllegalArgumentException if the text cannot be tokenized (e.g. a lone surrogate)
     * @throws IllegalStateException    if the vocabulary asks for a special token it does not have
     */
    int[] tokens(String query, String document) {
        if (prompt != null) {
            // In this order, as upstream: a "{document}" inside the query is replaced too.
            String text = prompt.replace("{query}", query).replace("{document}", document);
            return vocabulary.tokenize(text, false, true);
        }
        int[] q = vocabulary.tokenize(query, false, false);
        int[] d = vocabulary.tokenize(document, false, false);
        int[] out = new int[q.length + d.length + 4];
        int n = 0;
        if (addBos) {
            out[n++] = special(bos, "BOS");
        }
        System.arraycopy(q, 0, out, n, q.length);
        n += q.length;
        if (addEos) {
            out[n++] = special(eos, "EOS");
        }
        if (addSep) {
            out[n++] = special(sep, "SEP");
        }
        System.arraycopy(d, 0, out, n, d.length);
        n += d.length;
        if (addEos) {
            out[n++] = special(eos, "EOS");
        }
        return Arrays.copyOf(out, n);
    }

    private static int special(int token, String name) {
        if (token < 0) {
            throw new IllegalStateException("the vocabulary adds a " + name + " token but has none; this model "
                    + "cannot lay out a query/document pair");
        }
        return token;
    }
}
