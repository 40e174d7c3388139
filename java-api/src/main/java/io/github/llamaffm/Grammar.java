package io.github.llamaffm;

import io.github.llamaffm.internal.ChatGlue;

import java.util.List;
import java.util.Objects;

/**
 * A GBNF grammar that constrains generated text (llama.cpp's {@code grammars/README.md}), made from GBNF text, from
 * a JSON Schema (converted by llama.cpp's own {@code json_schema_to_grammar}), from a Java type, or as "any JSON".
 * Use it with {@link Sampler.Builder#grammar(Grammar)}, or let {@link GenerateOptions.Builder#jsonSchema(String)} and
 * {@link ChatSession} build one.
 *
 * {@snippet :
 * Grammar g = Grammar.fromJsonSchema("""
 *     {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}""");
 * Sampler s = Sampler.builder().grammar(g).build();
 * }
 *
 * <p>A grammar may be <em>lazy</em> ({@link #lazy}): unconstrained until the output matches one of its trigger
 * patterns (regular expressions; the grammar then applies from the match on) or a trigger token is sampled. Tool
 * calling with {@link ToolChoice#AUTO} uses this, as llama-server does. A grammar may also have a {@link #prefill()}:
 * text already placed in the prompt (the template's generation prompt) that the grammar consumes before the first
 * generated token.
 *
 * @param gbnf            the grammar text, starting at rule {@code root}
 * @param triggerPatterns for a lazy grammar, regular expressions that activate it (else empty)
 * @param triggerTokens   for a lazy grammar, tokens that activate it (else empty)
 * @param lazy            whether the grammar waits for a trigger
 * @param prefill         text the grammar consumes before generation starts ({@code ""} for none)
 */
public record Grammar(String gbnf, List<String> triggerPatterns, List<Integer> triggerTokens, boolean lazy,
                      String prefill) {
    public Grammar {
        if (gbnf == null || gbnf.isBlank()) {
            throw new IllegalArgumentException("grammar must be a non-empty GBNF string");
        }
        if (gbnf.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("grammar must not contain NUL characters");
        }
        triggerPatterns = List.copyOf(Objects.requireNonNull(triggerPatterns, "triggerPatterns"));
        triggerTokens = List.copyOf(Objects.requireNonNull(triggerTokens, "triggerTokens"));
        Objects.requireNonNull(prefill, "prefill");
        if (lazy && triggerPatterns.isEmpty() && triggerTokens.isEmpty()) {
            throw new IllegalArgumentException("a lazy grammar needs at least one trigger pattern or token");
        }
        if (!lazy && (!triggerPatterns.isEmpty() || !triggerTokens.isEmpty())) {
            throw new IllegalArgumentException("triggers are only for a lazy grammar");
        }
    }

    /** A grammar from GBNF text (checked when a sampler is built from it). */
    public static Grammar gbnf(String gbnf) {
        return new Grammar(gbnf, List.of(), List.of(), false, "");
    }

    /**
     * A grammar accepting exactly the JSON documents that satisfy {@code jsonSchema} (JSON Schema text), converted by
     * llama.cpp's {@code json_schema_to_grammar} (common/json-schema-to-grammar.h; supported keywords as listed in
     * llama.cpp's {@code grammars/README.md}).
     *
     * @throws IllegalArgumentException if the text is not JSON or the schema uses something the converter rejects
     */
    public static Grammar fromJsonSchema(String jsonSchema) {
        Objects.requireNonNull(jsonSchema, "jsonSchema");
        return gbnf(ChatGlue.jsonSchemaToGrammar(jsonSchema));
    }

    /** Any JSON value (the schema {@code {}}). */
    public static Grammar anyJson() {
        return fromJsonSchema("{}");
    }

    /** The JSON documents {@link JsonSchema#of(Class)} describes for {@code type} (e.g. a record). */
    public static Grammar fromType(Class<?> type) {
        return fromJsonSchema(JsonSchema.of(type));
    }

    /**
     * A lazy grammar: free text until a trigger matches, then constrained (llama.cpp's
     * {@code llama_sampler_init_grammar_lazy_patterns}).
     *
     * @param triggerPatterns regular expressions over the generated text; the grammar applies from the match on
     * @param triggerTokens   token ids that activate the grammar when sampled
     */
    public static Grammar lazy(String gbnf, List<String> triggerPatterns, List<Integer> triggerTokens) {
        return new Grammar(gbnf, triggerPatterns, triggerTokens, true, "");
    }

    /** This grammar, consuming {@code prefill} (text already in the prompt) before generation. */
    public Grammar withPrefill(String prefill) {
        return new Grammar(gbnf, triggerPatterns, triggerTokens, lazy, prefill);
    }

    @Override
    public String toString() {
        return "Grammar[" + gbnf.length() + " chars" + (lazy ? ", lazy, " + triggerPatterns.size() + " patterns, "
                + triggerTokens.size() + " tokens" : "") + (prefill.isEmpty() ? "" : ", prefill") + "]";
    }
}
