/*
 * llama-ffm chat glue: chat templates (Jinja), tool calling and JSON Schema, through llama.cpp's own `common`
 * library (common/chat.h, common/jinja, common/json-schema-to-grammar.h). Built by build-native.sh from
 * llamaffm_chat.cpp into libllamaffm_chat, linked against libllama-common; bound by jextract (bindings/llama-ffm.h).
 *
 * The ABI is plain C with JSON strings in and out:
 *  - every string is UTF-8 and NUL-terminated;
 *  - every function that returns `char *` returns a string allocated here, never NULL (except when out of memory),
 *    which the caller releases with llamaffm_chat_string_free();
 *  - that string is a JSON object: {"error": "message"} on failure, otherwise the documented result;
 *  - no C++ exception crosses these functions, and inputs that would reach an assertion in llama.cpp (NULL
 *    handles, a missing template) are rejected with an error first.
 * A llamaffm_chat_templates handle is immutable after creation and may be used from several threads at once.
 */
#ifndef LLAMAFFM_CHAT_H
#define LLAMAFFM_CHAT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;
struct llama_vocab;
struct llama_sampler;
struct llama_context;
typedef struct llamaffm_chat_templates llamaffm_chat_templates;

/*
 * Creates the chat templates of `model` (its GGUF `tokenizer.chat_template`, and `tokenizer.chat_template.tool_use`
 * if present), or of `template_source` (Jinja source) when that is non-NULL and non-empty. `model` may be NULL when a
 * template source is given; then `bos_token`/`eos_token` (may be NULL) are what the template sees as bos_token and
 * eos_token. A model without a template gets ChatML (as llama-server does).
 * On success sets *out and returns {"source": "...", "tool_use_source": "..." or null, "caps": {...}};
 * on failure sets *out to NULL and returns {"error": ...}.
 */
char * llamaffm_chat_templates_init(const struct llama_model * model, const char * template_source,
                                    const char * bos_token, const char * eos_token,
                                    llamaffm_chat_templates ** out);

/* Frees templates; NULL is ignored. */
void llamaffm_chat_templates_free(llamaffm_chat_templates * templates);

/*
 * Renders messages (common_chat_templates_apply). `inputs_json`:
 *   {"messages": [OpenAI chat messages: role, content, tool_calls, tool_call_id, name, reasoning_content],
 *    "tools": [OpenAI tools {"type":"function","function":{name, description, parameters}}] (optional),
 *    "tool_choice": "auto"|"none"|"required" (default auto), "parallel_tool_calls": bool (default false),
 *    "json_schema": {...} (optional), "grammar": "GBNF" (optional),
 *    "add_generation_prompt": bool (default true), "enable_thinking": bool (default true),
 *    "reasoning_format": "none"|"auto"|"deepseek"|"deepseek-legacy" (default none),
 *    "chat_template_kwargs": {name: JSON value} (optional), "now": seconds since the epoch (optional)}
 * Returns {"prompt", "format" (int), "format_name", "grammar", "grammar_lazy",
 *          "grammar_triggers": [{"type": "token"|"word"|"pattern"|"pattern_full", "value", "token"}],
 *          "preserved_tokens": [...], "additional_stops": [...], "generation_prompt", "parser",
 *          "supports_thinking", "thinking_start_tag", "thinking_end_tags": [...]}.
 */
char * llamaffm_chat_apply(const llamaffm_chat_templates * templates, const char * inputs_json);

/*
 * Parses model output into a message (common_chat_parse). `params_json`:
 *   {"text": "...", "partial": bool, "format": int, "parser": "..." (from llamaffm_chat_apply),
 *    "generation_prompt": "...", "reasoning_format": name (default none), "parse_tool_calls": bool (default true)}
 * Returns {"role": "assistant", "content", "reasoning_content", "tool_calls": [{"name", "arguments", "id"}]}.
 */
char * llamaffm_chat_parse(const char * params_json);

/*
 * Converts a JSON Schema (text) to a GBNF grammar (json_schema_to_grammar). Returns {"grammar": "..."}.
 */
char * llamaffm_json_schema_to_grammar(const char * schema_json);

/*
 * Feeds `text` to a grammar sampler before generation, as common_sampler_init does with a template's generation
 * prompt: tokenized with special tokens parsed, a leading space piece the text does not start with skipped, each
 * token accepted. Returns {"tokens": n} or {"error": ...} (a token the grammar rejects is an error, not an abort).
 */
char * llamaffm_grammar_prefill(struct llama_sampler * grammar, const struct llama_vocab * vocab, const char * text);

/*
 * llama_sampler_accept(sampler, token), with the C++ exception a grammar throws for a token it cannot accept (e.g. a
 * lazy grammar whose trigger is followed by text outside the grammar) returned as {"error": ...}. Returns NULL on
 * success.
 */
char * llamaffm_sampler_accept_checked(struct llama_sampler * sampler, int token);

/*
 * llama_sampler_sample(sampler, ctx, idx) storing the token in *token, with a grammar's C++ exception returned as
 * {"error": ...} instead of aborting. Returns NULL on success.
 */
char * llamaffm_sampler_sample_checked(struct llama_sampler * sampler, struct llama_context * ctx, int idx,
                                       int * token);

/* Frees a string returned by this library; NULL is ignored. */
void llamaffm_chat_string_free(char * s);

#ifdef __cplusplus
}
#endif

#endif
