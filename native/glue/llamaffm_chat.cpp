// llama-ffm chat glue: the C ABI of llamaffm_chat.h over llama.cpp's common library. See the header for the contract.
// Every entry point catches everything: no C++ exception may unwind into the JVM.
#include "llamaffm_chat.h"

#include "chat.h"
#include "common.h"
#include "json-schema-to-grammar.h"
#include "llama.h"
#include "llama-ext.h" // llama_get_memory_breakdown (staging C++ API of the same pinned build)

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#if defined(_WIN32)
#define LLAMAFFM_API extern "C" __declspec(dllexport)
#else
#define LLAMAFFM_API extern "C" __attribute__((visibility("default")))
#endif

struct llamaffm_chat_templates {
    common_chat_templates_ptr ptr;
};

namespace {

char * dup(const std::string & s) {
    char * out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out != nullptr) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
    }
    return out;
}

char * error(const std::string & message) {
    common_json e = common_json::object();
    e["error"] = message;
    return dup(e.dump_safe());
}

char * result(const common_json & j) {
    return dup(j.dump_safe());
}

// Runs f, turning any exception into {"error": ...}.
template <typename F> char * guarded(const char * what, F && f) {
    try {
        return f();
    } catch (const std::exception & e) {
        return error(std::string(what) + ": " + e.what());
    } catch (...) {
        return error(std::string(what) + ": unknown C++ exception");
    }
}

const char * trigger_type_name(common_grammar_trigger_type t) {
    switch (t) {
        case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN: return "token";
        case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: return "word";
        case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN: return "pattern";
        case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: return "pattern_full";
    }
    return "unknown";
}

common_json string_array(const std::vector<std::string> & v) {
    common_json a = common_json::array();
    for (const auto & s : v) {
        a.push_back(s);
    }
    return a;
}

}  // namespace

LLAMAFFM_API char * llamaffm_chat_templates_init(const struct llama_model * model, const char * template_source,
                                                 const char * bos_token, const char * eos_token,
                                                 llamaffm_chat_templates ** out) {
    if (out == nullptr) {
        return error("llamaffm_chat_templates_init: out is NULL");
    }
    *out = nullptr;
    return guarded("chat template", [&]() -> char * {
        std::string src = template_source != nullptr ? template_source : "";
        if (model == nullptr && src.empty()) {
            return error("chat template: neither a model nor a template source was given");
        }
        auto t = common_chat_templates_init(model, src, bos_token != nullptr ? bos_token : "",
                                            eos_token != nullptr ? eos_token : "");
        if (!t) {
            return error("chat template: common_chat_templates_init failed");
        }
        common_json r = common_json::object();
        r["source"] = common_chat_templates_source(t.get());
        std::string tool_use = common_chat_templates_source(t.get(), "tool_use");
        if (!tool_use.empty()) {
            r["tool_use_source"] = tool_use;
        } else {
            r["tool_use_source"] = nullptr;
        }
        common_json caps = common_json::object();
        for (const auto & [name, value] : common_chat_templates_get_caps(t.get())) {
            caps[name] = value;
        }
        r["caps"] = caps;
        r["explicit"] = common_chat_templates_was_explicit(t.get());
        char * s = result(r);
        *out = new llamaffm_chat_templates{ std::move(t) };
        return s;
    });
}

LLAMAFFM_API void llamaffm_chat_templates_free(llamaffm_chat_templates * templates) {
    try {
        delete templates;
    } catch (...) {
        // a destructor that throws is a bug upstream; never let it reach the JVM
    }
}

LLAMAFFM_API char * llamaffm_chat_apply(const llamaffm_chat_templates * templates, const char * inputs_json) {
    if (templates == nullptr || !templates->ptr) {
        return error("llamaffm_chat_apply: templates is NULL");
    }
    if (inputs_json == nullptr) {
        return error("llamaffm_chat_apply: inputs is NULL");
    }
    return guarded("chat template", [&]() -> char * {
        common_json in = common_json::parse(inputs_json);
        if (!in.is_object()) {
            return error("chat template: inputs must be a JSON object");
        }
        common_chat_templates_inputs inputs;
        inputs.use_jinja = true;
        inputs.messages  = common_chat_msgs_parse_oaicompat(in.value("messages", common_json::array()));
        if (in.contains("tools") && !in.at("tools").is_null()) {
            inputs.tools = common_chat_tools_parse_oaicompat(in.at("tools"));
        }
        if (in.contains("tool_choice")) {
            inputs.tool_choice = common_chat_tool_choice_parse_oaicompat(in.at("tool_choice").get<std::string>());
        }
        inputs.parallel_tool_calls = in.value("parallel_tool_calls", false);
        if (in.contains("json_schema") && !in.at("json_schema").is_null()) {
            inputs.json_schema = in.at("json_schema").dump();
        }
        inputs.grammar               = in.value("grammar", std::string());
        inputs.add_generation_prompt = in.value("add_generation_prompt", true);
        inputs.enable_thinking       = in.value("enable_thinking", true);
        inputs.reasoning_format = common_reasoning_format_from_name(in.value("reasoning_format", std::string("none")));
        if (in.contains("chat_template_kwargs")) {
            for (const auto & [k, v] : in.at("chat_template_kwargs").items()) {
                inputs.chat_template_kwargs[k] = v.dump();
            }
        }
        if (in.contains("now")) {
            inputs.now = std::chrono::system_clock::time_point(
                std::chrono::seconds(in.at("now").get<long long>()));
        }

        common_chat_params p = common_chat_templates_apply(templates->ptr.get(), inputs);

        common_json r = common_json::object();
        r["prompt"]       = p.prompt;
        r["format"]       = (int) p.format;
        r["format_name"]  = common_chat_format_name(p.format);
        r["grammar"]      = p.grammar;
        r["grammar_lazy"] = p.grammar_lazy;
        common_json triggers = common_json::array();
        for (const auto & t : p.grammar_triggers) {
            common_json jt = common_json::object();
            jt["type"]  = trigger_type_name(t.type);
            jt["value"] = t.value;
            jt["token"] = (int) t.token;
            triggers.push_back(jt);
        }
        r["grammar_triggers"]   = triggers;
        r["preserved_tokens"]   = string_array(p.preserved_tokens);
        r["additional_stops"]   = string_array(p.additional_stops);
        r["generation_prompt"]  = p.generation_prompt;
        r["parser"]             = p.parser;
        r["supports_thinking"]  = p.supports_thinking;
        r["thinking_start_tag"] = p.thinking_start_tag;
        r["thinking_end_tags"]  = string_array(p.thinking_end_tags);
        return result(r);
    });
}

LLAMAFFM_API char * llamaffm_chat_parse(const char * params_json) {
    if (params_json == nullptr) {
        return error("llamaffm_chat_parse: params is NULL");
    }
    return guarded("chat parse", [&]() -> char * {
        common_json in = common_json::parse(params_json);
        if (!in.is_object()) {
            return error("chat parse: params must be a JSON object");
        }
        int format = in.value("format", 0);
        if (format < 0 || format >= COMMON_CHAT_FORMAT_COUNT) {
            return error("chat parse: unknown format " + std::to_string(format));
        }
        common_chat_parser_params pp;
        pp.format            = (common_chat_format) format;
        pp.generation_prompt = in.value("generation_prompt", std::string());
        pp.reasoning_format  = common_reasoning_format_from_name(in.value("reasoning_format", std::string("none")));
        pp.parse_tool_calls  = in.value("parse_tool_calls", true);
        std::string parser   = in.value("parser", std::string());
        if (!parser.empty()) {
            pp.parser.load(parser);
        }
        common_chat_msg msg = common_chat_parse(in.value("text", std::string()), in.value("partial", false), pp);

        common_json r = common_json::object();
        r["role"]              = msg.role.empty() ? std::string("assistant") : msg.role;
        r["content"]           = msg.content;
        r["reasoning_content"] = msg.reasoning_content;
        common_json calls = common_json::array();
        for (const auto & tc : msg.tool_calls) {
            common_json c = common_json::object();
            c["name"]      = tc.name;
            c["arguments"] = tc.arguments;
            c["id"]        = tc.id;
            calls.push_back(c);
        }
        r["tool_calls"] = calls;
        return result(r);
    });
}

LLAMAFFM_API char * llamaffm_json_schema_to_grammar(const char * schema_json) {
    if (schema_json == nullptr) {
        return error("llamaffm_json_schema_to_grammar: schema is NULL");
    }
    return guarded("JSON schema", [&]() -> char * {
        common_json r = common_json::object();
        r["grammar"] = json_schema_to_grammar(common_json::parse(schema_json));
        return result(r);
    });
}

LLAMAFFM_API char * llamaffm_grammar_prefill(struct llama_sampler * grammar, const struct llama_vocab * vocab,
                                             const char * text) {
    if (grammar == nullptr || vocab == nullptr || text == nullptr) {
        return error("llamaffm_grammar_prefill: NULL argument");
    }
    return guarded("grammar prefill", [&]() -> char * {
        // common/sampling.cpp, common_sampler_init: "Compute prefill tokens from the generation prompt", where a first
        // piece that is only the space some tokenizers put before a special token is skipped. A first piece that is
        // that space glued to text (SentencePiece's "▁<" for a non-special "<|im_start|>") is fed as the text's
        // single-byte tokens instead, so the grammar sees exactly the prompt's text.
        std::string prompt = text;
        auto tokens = common_tokenize(vocab, prompt, false, true);
        int n = 0;
        for (size_t i = 0; i < tokens.size(); i++) {
            std::string piece = common_token_to_piece(vocab, tokens[i], true);
            if (i == 0 && !piece.empty() && std::isspace((unsigned char) piece[0]) && !prompt.empty()
                && !std::isspace((unsigned char) prompt[0])) {
                std::string rest = piece.substr(1);
                if (!rest.empty()) {
                    std::vector<llama_token> single(256, LLAMA_TOKEN_NULL);
                    const int n_vocab = llama_vocab_n_tokens(vocab);
                    for (llama_token t = 0; t < n_vocab; t++) {
                        std::string p = common_token_to_piece(vocab, t, true);
                        if (p.size() == 1 && single[(unsigned char) p[0]] == LLAMA_TOKEN_NULL) {
                            single[(unsigned char) p[0]] = t;
                        }
                    }
                    for (char c : rest) {
                        llama_token t = single[(unsigned char) c];
                        if (t == LLAMA_TOKEN_NULL) {
                            return error("grammar prefill: no single-byte token for the prompt's text");
                        }
                        llama_sampler_accept(grammar, t);
                        n++;
                    }
                }
                continue;
            }
            llama_sampler_accept(grammar, tokens[i]);
            n++;
        }
        common_json r = common_json::object();
        r["tokens"] = n;
        return result(r);
    });
}

LLAMAFFM_API char * llamaffm_sampler_accept_checked(struct llama_sampler * sampler, int token) {
    if (sampler == nullptr) {
        return error("llamaffm_sampler_accept_checked: sampler is NULL");
    }
    try {
        llama_sampler_accept(sampler, token);
        return nullptr;
    } catch (const std::exception & e) {
        return error(std::string("sampler rejected token ") + std::to_string(token) + ": " + e.what());
    } catch (...) {
        return error("sampler rejected token " + std::to_string(token));
    }
}

LLAMAFFM_API char * llamaffm_sampler_sample_checked(struct llama_sampler * sampler, struct llama_context * ctx,
                                                    int idx, int * token) {
    if (sampler == nullptr || ctx == nullptr || token == nullptr) {
        return error("llamaffm_sampler_sample_checked: NULL argument");
    }
    try {
        *token = llama_sampler_sample(sampler, ctx, idx);
        return nullptr;
    } catch (const std::exception & e) {
        return error(std::string("sampling failed: ") + e.what());
    } catch (...) {
        return error("sampling failed: unknown C++ exception");
    }
}

LLAMAFFM_API void llamaffm_chat_string_free(char * s) {
    std::free(s);
}

// --- std::terminate hook (bound by hand in NativeRuntime, not part of the jextract header) -----------------------
//
// An uncaught C++ exception (one thrown on a ggml worker thread, or through a noexcept function) ends in
// std::terminate, which ggml's handler answers with a backtrace and abort(): the message of the exception is lost.
// This handler names it and passes it to `on_fatal` (the glue's llamaffm_on_fatal_error: stderr, then the Java log
// bridge with the model file being loaded), then hands over to the previous handler, which ends the process.

namespace {
void (*terminate_listener)(const char *) = nullptr;
std::terminate_handler previous_terminate = nullptr;

[[noreturn]] void on_terminate() {
    std::string message = "std::terminate called without an active exception";
    if (std::exception_ptr current = std::current_exception()) {
        try {
            std::rethrow_exception(current);
        } catch (const std::exception & e) {
            message = std::string("uncaught C++ exception: ") + e.what();
        } catch (...) {
            message = "uncaught C++ exception of a type not derived from std::exception";
        }
    }
    if (terminate_listener != nullptr) {
        terminate_listener(message.c_str());
    }
    if (previous_terminate != nullptr) {
        previous_terminate();
    }
    std::abort();
}
}

LLAMAFFM_API void llamaffm_install_terminate_hook(void (*on_fatal)(const char *)) {
    terminate_listener = on_fatal;
    std::terminate_handler previous = std::set_terminate(on_terminate);
    if (previous != on_terminate) {
        previous_terminate = previous;
    }
}

// --- memory of a context (bound by hand in LlamaContext, not part of the jextract header) ------------------------
//
// llama_get_memory_breakdown is llama.cpp's staging C++ API (std::map per buffer type); this flattens it into three
// totals over every buffer type: model weights, context (KV cache / recurrent state), compute buffers. Returns false
// (and leaves the outputs alone) on a NULL argument or an exception.
LLAMAFFM_API bool llamaffm_context_memory(const struct llama_context * ctx, unsigned long long * model,
                                          unsigned long long * context, unsigned long long * compute) {
    if (ctx == nullptr || model == nullptr || context == nullptr || compute == nullptr) {
        return false;
    }
    try {
        unsigned long long m = 0, c = 0, k = 0;
        for (const auto & entry : llama_get_memory_breakdown(ctx)) {
            m += entry.second.model;
            c += entry.second.context;
            k += entry.second.compute;
        }
        *model = m;
        *context = c;
        *compute = k;
        return true;
    } catch (...) {
        return false;
    }
}
