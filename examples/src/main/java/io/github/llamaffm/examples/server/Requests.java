package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ChatMessage;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Grammar;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Tool;
import io.github.llamaffm.ToolCall;
import io.github.llamaffm.ToolChoice;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads and checks OpenAI request bodies. Every problem is a 400 {@link ApiException} naming the field; fields the
 * server does not know are ignored (clients send many optional ones), fields it knows but cannot honour
 * ({@code n > 1}, legacy {@code functions}, {@code echo}, {@code suffix}) are refused rather than silently dropped. Besides
 * OpenAI's fields, llama-server's common extensions are read: {@code top_k}, {@code min_p}, {@code repeat_penalty},
 * {@code grammar} (GBNF) and {@code json_schema}.
 */
final class Requests {
    static final ObjectMapper MAPPER = new ObjectMapper();
    /** Most stop sequences per request (OpenAI allows 4; llama.cpp's server more). */
    static final int MAX_STOPS = 16;

    private Requests() {
    }

    /** What a completion request asks for, before tokenizing. */
    record Generate(List<ChatMessage> messages, String prompt, int[] promptTokens, GenerateOptions options,
                    boolean stream, boolean includeUsage, List<Tool> tools, ToolChoice toolChoice,
                    boolean parallelToolCalls, String responseSchema, boolean logprobs) {}

    static JsonNode parse(byte[] body) {
        JsonNode root;
        try {
            root = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("the request body is not valid JSON: " + e.getOriginalMessage(), null);
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("the request body could not be read as JSON", null);
        }
        if (root == null || !root.isObject()) {
            throw ApiException.badRequest("the request body must be a JSON object", null);
        }
        return root;
    }

    /** {@code POST /v1/chat/completions}. */
    static Generate chat(JsonNode body) {
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiException.badRequest("'messages' must be a non-empty array of {role, content}", "messages");
        }
        unsupported(body, "functions", "the legacy 'functions' field is not supported: use 'tools'");
        List<Tool> tools = tools(body.get("tools"));
        ToolChoice choice = toolChoice(body.get("tool_choice"), tools);
        boolean parallel = bool(body, "parallel_tool_calls", true);
        String schema = responseSchema(body);
        if (body.hasNonNull("grammar") && (schema != null || (!tools.isEmpty() && choice.mode() != ToolChoice.Mode.NONE))) {
            throw ApiException.badRequest("'grammar' cannot be combined with tools or a JSON response format",
                    "grammar");
        }
        List<ChatMessage> list = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiException.badRequest(where + " must be an object with 'role' and 'content'", where);
            }
            JsonNode roleNode = m.get("role");
            if (roleNode == null || !roleNode.isTextual()) {
                throw ApiException.badRequest(where + ".role must be a string", where + ".role");
            }
            String role = switch (roleNode.asText()) {
                case "system", "developer" -> "system";
                case "user" -> "user";
                case "assistant" -> "assistant";
                case "tool" -> "tool";
                default -> throw ApiException.badRequest(where + ".role '" + roleNode.asText() + "' is not supported "
                        + "(system, developer, user, assistant, tool)", where + ".role");
            };
            JsonNode calls = m.get("tool_calls");
            if (role.equals("assistant") && calls != null && !calls.isNull() && !calls.isEmpty()) {
                JsonNode c = m.get("content");
                String text = c == null || c.isNull() ? "" : content(c, where + ".content");
                list.add(ChatMessage.assistant(text, toolCalls(calls, where + ".tool_calls")));
            } else if (role.equals("tool")) {
                JsonNode id = m.get("tool_call_id");
                if (id == null || !id.isTextual()) {
                    throw ApiException.badRequest(where + ".tool_call_id must be the id of the call it answers",
                            where + ".tool_call_id");
                }
                String name = m.hasNonNull("name") ? m.get("name").asText() : nameOfCall(list, id.asText());
                list.add(ChatMessage.toolResult(new ToolCall(id.asText(), name == null ? "" : name, "{}"),
                        content(m.get("content"), where + ".content")));
            } else {
                list.add(new ChatMessage(role, content(m.get("content"), where + ".content")));
            }
        }
        boolean stream = bool(body, "stream", false);
        return new Generate(list, null, null, options(body), stream,
                includeUsage(body, stream), tools, choice, parallel, schema, logprobs(body));
    }

    /** The tool name of an earlier assistant call with this id (a tool message need not repeat it). */
    private static String nameOfCall(List<ChatMessage> earlier, String id) {
        for (int i = earlier.size() - 1; i >= 0; i--) {
            for (ToolCall c : earlier.get(i).toolCalls()) {
                if (c.id().equals(id)) {
                    return c.name();
                }
            }
        }
        return null;
    }

    private static List<ToolCall> toolCalls(JsonNode calls, String where) {
        if (!calls.isArray()) {
            throw ApiException.badRequest(where + " must be an array", where);
        }
        List<ToolCall> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            JsonNode c = calls.get(i);
            String w = where + "[" + i + "]";
            JsonNode f = c.path("function");
            if (!c.path("id").isTextual() || !f.path("name").isTextual()) {
                throw ApiException.badRequest(w + " needs 'id' and 'function': {'name', 'arguments'}", w);
            }
            JsonNode args = f.get("arguments");
            String a = args == null || args.isNull() ? "{}" : args.isTextual() ? args.asText() : args.toString();
            out.add(new ToolCall(c.get("id").asText(), f.get("name").asText(), a));
        }
        return out;
    }

    /** {@code tools}: OpenAI function tools. */
    private static List<Tool> tools(JsonNode tools) {
        List<Tool> out = new ArrayList<>();
        if (tools == null || tools.isNull()) {
            return out;
        }
        if (!tools.isArray()) {
            throw ApiException.badRequest("'tools' must be an array of {type: function, function: {...}}", "tools");
        }
        for (int i = 0; i < tools.size(); i++) {
            JsonNode t = tools.get(i);
            String w = "tools[" + i + "]";
            if (!"function".equals(t.path("type").asText()) || !t.path("function").path("name").isTextual()) {
                throw ApiException.badRequest(w + " must be {type: function, function: {name, description, "
                        + "parameters}}", w);
            }
            JsonNode f = t.get("function");
            JsonNode params = f.get("parameters");
            String schema = params == null || params.isNull() ? "{\"type\": \"object\", \"properties\": {}}"
                    : params.toString();
            try {
                out.add(new Tool(f.get("name").asText(), f.path("description").asText(""), schema));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest(w + ": " + e.getMessage(), w);
            }
        }
        if (out.stream().map(Tool::name).distinct().count() != out.size()) {
            throw ApiException.badRequest("tool names must be unique", "tools");
        }
        return out;
    }

    /** {@code tool_choice}: "auto", "none", "required" or {type: function, function: {name}}. */
    private static ToolChoice toolChoice(JsonNode c, List<Tool> tools) {
        if (c == null || c.isNull()) {
            return ToolChoice.AUTO;
        }
        if (c.isTextual()) {
            return switch (c.asText()) {
                case "auto" -> ToolChoice.AUTO;
                case "none" -> ToolChoice.NONE;
                case "required" -> {
                    if (tools.isEmpty()) {
                        throw ApiException.badRequest("tool_choice 'required' needs 'tools'", "tool_choice");
                    }
                    yield ToolChoice.REQUIRED;
                }
                default -> throw ApiException.badRequest("tool_choice must be 'auto', 'none', 'required' or "
                        + "{type: function, function: {name}}", "tool_choice");
            };
        }
        String name = c.path("function").path("name").asText(null);
        if (!"function".equals(c.path("type").asText()) || name == null) {
            throw ApiException.badRequest("tool_choice must be 'auto', 'none', 'required' or "
                    + "{type: function, function: {name}}", "tool_choice");
        }
        if (tools.stream().noneMatch(t -> t.name().equals(name))) {
            throw ApiException.badRequest("tool_choice names '" + name + "', which is not among the tools",
                    "tool_choice");
        }
        return ToolChoice.named(name);
    }

    /** {@code response_format} (json_object, json_schema) or llama-server's {@code json_schema}; null for text. */
    private static String responseSchema(JsonNode body) {
        JsonNode format = body.get("response_format");
        String schema = null;
        if (format != null && !format.isNull()) {
            String type = format.path("type").asText("");
            switch (type) {
                case "text" -> { }
                case "json_object" -> schema = format.hasNonNull("schema") ? format.get("schema").toString()
                        : "{\"type\": \"object\"}";
                case "json_schema" -> {
                    JsonNode js = format.path("json_schema").get("schema");
                    if (js == null || !js.isObject()) {
                        throw ApiException.badRequest("response_format json_schema needs json_schema.schema (an "
                                + "object)", "response_format");
                    }
                    // strict or not, the reply is constrained to the schema by a grammar
                    schema = js.toString();
                }
                default -> throw ApiException.badRequest("response_format '" + type + "' is not supported (text, "
                        + "json_object, json_schema)", "response_format");
            }
        }
        JsonNode ext = body.get("json_schema");
        if (ext != null && !ext.isNull()) {
            if (!ext.isObject()) {
                throw ApiException.badRequest("'json_schema' must be a JSON Schema object", "json_schema");
            }
            if (schema != null) {
                throw ApiException.badRequest("give either response_format or json_schema", "json_schema");
            }
            schema = ext.toString();
        }
        if (schema != null) {
            try {
                Grammar.fromJsonSchema(schema);
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("the JSON schema cannot be used: " + e.getMessage(), "response_format");
            }
        }
        return schema;
    }

    private static boolean logprobs(JsonNode body) {
        JsonNode lp = body.get("logprobs");
        if (lp == null || lp.isNull()) {
            return false;
        }
        if (!lp.isBoolean()) {
            throw ApiException.badRequest("'logprobs' must be true or false", "logprobs");
        }
        return lp.asBoolean();
    }

    /** {@code POST /v1/completions}: {@code prompt} is a string, an array of one string, or an array of token ids. */
    static Generate completion(JsonNode body) {
        JsonNode p = body.get("prompt");
        String prompt = null;
        int[] tokens = null;
        if (p == null || p.isNull()) {
            throw ApiException.badRequest("'prompt' is required", "prompt");
        } else if (p.isTextual()) {
            prompt = p.asText();
        } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            prompt = p.get(0).asText();
        } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            tokens = new int[p.size()];
            for (int i = 0; i < p.size(); i++) {
                if (!p.get(i).canConvertToInt()) {
                    throw ApiException.badRequest("prompt[" + i + "] must be a token id", "prompt");
                }
                tokens[i] = p.get(i).asInt();
            }
        } else if (p.isArray() && p.size() > 1) {
            throw ApiException.badRequest("only one prompt per request is supported", "prompt");
        } else {
            throw ApiException.badRequest("'prompt' must be a string or an array of token ids", "prompt");
        }
        if (prompt != null && prompt.isEmpty()) {
            throw ApiException.badRequest("'prompt' must not be empty", "prompt");
        }
        if (bool(body, "echo", false)) {
            throw ApiException.badRequest("echo is not supported by this server", "echo");
        }
        JsonNode suffix = body.get("suffix");
        if (suffix != null && !suffix.isNull()) {
            throw ApiException.badRequest("suffix is not supported by this server", "suffix");
        }
        JsonNode bestOf = body.get("best_of");
        if (bestOf != null && !bestOf.isNull() && bestOf.asInt(1) != 1) {
            throw ApiException.badRequest("best_of must be 1", "best_of");
        }
        boolean stream = bool(body, "stream", false);
        String schema = responseSchema(body);
        GenerateOptions o = options(body);
        if (schema != null) {
            o = o.toBuilder().jsonSchema(schema).build();
        }
        // The legacy completions API: logprobs is the number (0..20) of most likely alternatives per token, not a flag.
        JsonNode lp = body.get("logprobs");
        boolean logprobs = lp != null && !lp.isNull();
        if (logprobs) {
            if (!lp.canConvertToInt() || !lp.isIntegralNumber() || lp.asInt() < 0 || lp.asInt() > 20) {
                throw ApiException.badRequest("logprobs must be an integer in 0..20 on /v1/completions (the number of "
                        + "alternatives per token)", "logprobs");
            }
            o = o.toBuilder().probabilities(true).topProbabilities(lp.asInt()).build();
        }
        return new Generate(null, prompt, tokens, o, stream, includeUsage(body, stream), List.of(), ToolChoice.AUTO,
                false, schema, logprobs);
    }

    /** Text of a message's content: a string or an array of {type: text, text} parts. */
    private static String content(JsonNode c, String where) {
        if (c == null || c.isNull()) {
            throw ApiException.badRequest(where + " is required", where);
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.badRequest(where + ": only text parts ({\"type\": \"text\", \"text\": ...}) are "
                            + "supported", where);
                }
                sb.append(part.get("text").asText());
            }
            return sb.toString();
        }
        throw ApiException.badRequest(where + " must be a string or an array of text parts", where);
    }

    /** Sampling and stopping fields shared by chat and text completions. */
    private static GenerateOptions options(JsonNode body) {
        JsonNode n = body.get("n");
        if (n != null && !n.isNull() && (!n.canConvertToInt() || n.asInt() != 1)) {
            throw ApiException.badRequest("only n = 1 is supported", "n");
        }
        GenerateOptions.Builder b = GenerateOptions.builder();
        b.probabilities(body.path("logprobs").asBoolean(false));
        Integer top = integer(body, "top_logprobs", 0, 20);
        if (top != null && top > 0) {
            if (!body.path("logprobs").asBoolean(false)) {
                throw ApiException.badRequest("top_logprobs needs logprobs = true", "top_logprobs");
            }
            b.topProbabilities(top);
        }
        Integer max = integer(body, "max_completion_tokens", 1, Integer.MAX_VALUE);
        if (max == null) {
            max = integer(body, "max_tokens", 1, Integer.MAX_VALUE);
        }
        // Without a limit, a reply runs until the end of text or until its sequence is full ("length").
        b.maxTokens(max != null ? max : Integer.MAX_VALUE);

        Sampler.Builder s = Sampler.builder();
        Double temperature = number(body, "temperature", 0, 2);
        if (temperature != null) {
            s.temperature(temperature.floatValue());
        }
        Double topP = number(body, "top_p", 0, 1);
        if (topP != null) {
            s.topP(topP.floatValue());
        }
        Integer topK = integer(body, "top_k", 0, Integer.MAX_VALUE); // llama-server extensions
        if (topK != null) {
            s.topK(topK);
        }
        Double minP = number(body, "min_p", 0, 1);
        if (minP != null) {
            s.minP(minP.floatValue());
        }
        Double presence = number(body, "presence_penalty", -2, 2);
        Double frequency = number(body, "frequency_penalty", -2, 2);
        Double repeat = number(body, "repeat_penalty", 0, 10);
        if (repeat != null && repeat <= 0) {
            throw ApiException.badRequest("'repeat_penalty' must be > 0", "repeat_penalty");
        }
        if (presence != null) {
            s.penalties(p -> p.withPresence(presence.floatValue()));
        }
        if (frequency != null) {
            s.penalties(p -> p.withFrequency(frequency.floatValue()));
        }
        if (repeat != null) {
            s.penalties(p -> p.withRepeat(repeat.floatValue()));
        }
        JsonNode grammar = body.get("grammar");
        if (grammar != null && !grammar.isNull()) {
            if (!grammar.isTextual() || grammar.asText().isBlank()) {
                throw ApiException.badRequest("'grammar' must be a GBNF string", "grammar");
            }
            s.grammar(grammar.asText());
        }
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull()) {
            if (!seed.isIntegralNumber() || !seed.canConvertToLong() || seed.asLong() < 0
                    || seed.asLong() >= Sampler.RANDOM_SEED) {
                throw ApiException.badRequest("'seed' must be an integer in 0.." + (Sampler.RANDOM_SEED - 1), "seed");
            }
            s.seed(seed.asLong());
        }
        b.sampler(s.build());
        b.stopStrings(stops(body.get("stop")));
        return b.build();
    }

    private static List<String> stops(JsonNode stop) {
        List<String> stops = new ArrayList<>();
        if (stop == null || stop.isNull()) {
            return stops;
        }
        if (stop.isTextual()) {
            stops.add(stop.asText());
        } else if (stop.isArray()) {
            for (JsonNode s : stop) {
                if (!s.isTextual()) {
                    throw ApiException.badRequest("'stop' must be a string or an array of strings", "stop");
                }
                stops.add(s.asText());
            }
        } else {
            throw ApiException.badRequest("'stop' must be a string or an array of strings", "stop");
        }
        if (stops.size() > MAX_STOPS) {
            throw ApiException.badRequest("at most " + MAX_STOPS + " stop sequences are supported", "stop");
        }
        if (stops.stream().anyMatch(String::isEmpty)) {
            throw ApiException.badRequest("stop sequences must not be empty", "stop");
        }
        return stops;
    }

    private static boolean includeUsage(JsonNode body, boolean stream) {
        JsonNode so = body.get("stream_options");
        if (so == null || so.isNull()) {
            return false;
        }
        if (!so.isObject()) {
            throw ApiException.badRequest("'stream_options' must be an object", "stream_options");
        }
        if (!stream) {
            throw ApiException.badRequest("'stream_options' is only allowed with stream = true", "stream_options");
        }
        return bool(so, "include_usage", false);
    }

    private static void unsupported(JsonNode body, String field, String message) {
        JsonNode v = body.get(field);
        if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
            throw ApiException.badRequest(message, field);
        }
    }

    private static boolean bool(JsonNode body, String field, boolean dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw ApiException.badRequest("'" + field + "' must be true or false", field);
        }
        return v.asBoolean();
    }

    private static Integer integer(JsonNode body, String field, int min, int max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw ApiException.badRequest("'" + field + "' must be an integer in " + min + ".." + max, field);
        }
        return v.asInt();
    }

    private static Double number(JsonNode body, String field, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw ApiException.badRequest(String.format(Locale.ROOT, "'%s' must be a number in [%s, %s]", field,
                    trim(min), trim(max)), field);
        }
        return v.asDouble();
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }

    /** One entry of llama-server's per-request {@code lora} list. */
    record LoraChoice(int id, float scale) {}

    /** The request's {@code lora} list ({@code [{"id": i, "scale": s}, ...]}), or null when absent. */
    static List<LoraChoice> lora(JsonNode body) {
        JsonNode lora = body.get("lora");
        if (lora == null || lora.isNull()) {
            return null;
        }
        if (!lora.isArray()) {
            throw ApiException.badRequest("'lora' must be an array of {\"id\": n, \"scale\": s}", "lora");
        }
        List<LoraChoice> out = new java.util.ArrayList<>();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (JsonNode e : lora) {
            JsonNode id = e.get("id");
            JsonNode scale = e.get("scale");
            if (!e.isObject() || id == null || !id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0
                    || scale == null || !scale.isNumber() || !Double.isFinite(scale.asDouble())) {
                throw ApiException.badRequest("each 'lora' entry must be {\"id\": a non-negative integer, \"scale\": "
                        + "a finite number}", "lora");
            }
            if (!seen.add(id.asInt())) {
                throw ApiException.badRequest("lora id " + id.asInt() + " is listed twice", "lora");
            }
            out.add(new LoraChoice(id.asInt(), (float) scale.asDouble()));
        }
        return out;
    }
}
