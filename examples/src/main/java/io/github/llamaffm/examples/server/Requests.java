package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ChatMessage;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Sampler;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads and checks OpenAI request bodies. Every problem is a 400 {@link ApiException} naming the field; fields the
 * server does not know are ignored (clients send many optional ones), fields it knows but cannot honour (tools,
 * {@code n > 1}, log probabilities, JSON mode) are refused rather than silently dropped.
 */
final class Requests {
    static final ObjectMapper MAPPER = new ObjectMapper();
    /** Most stop sequences per request (OpenAI allows 4; llama.cpp's server more). */
    static final int MAX_STOPS = 16;

    private Requests() {
    }

    /** What a completion request asks for, before tokenizing. */
    record Generate(List<ChatMessage> messages, String prompt, int[] promptTokens, GenerateOptions options,
                    boolean stream, boolean includeUsage) {}

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
        unsupported(body, "tools", "tool calling is not supported by this server");
        unsupported(body, "functions", "function calling is not supported by this server");
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull()) {
            String type = format.path("type").asText("");
            if (!type.equals("text")) {
                throw ApiException.badRequest("response_format '" + type + "' is not supported (only 'text')",
                        "response_format");
            }
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
                default -> throw ApiException.badRequest(where + ".role '" + roleNode.asText() + "' is not supported "
                        + "(system, developer, user, assistant)", where + ".role");
            };
            if (m.has("tool_calls") && !m.get("tool_calls").isNull() && !m.get("tool_calls").isEmpty()) {
                throw ApiException.badRequest("tool calls are not supported by this server", where + ".tool_calls");
            }
            list.add(new ChatMessage(role, content(m.get("content"), where + ".content")));
        }
        boolean stream = bool(body, "stream", false);
        return new Generate(list, null, null, options(body), stream, includeUsage(body, stream));
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
        return new Generate(null, prompt, tokens, options(body), stream, includeUsage(body, stream));
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
        JsonNode logprobs = body.get("logprobs");
        if (logprobs != null && !logprobs.isNull() && !(logprobs.isBoolean() && !logprobs.asBoolean())) {
            throw ApiException.badRequest("logprobs are not supported by this server", "logprobs");
        }
        GenerateOptions.Builder b = GenerateOptions.builder();
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
        Double presence = number(body, "presence_penalty", -2, 2);
        Double frequency = number(body, "frequency_penalty", -2, 2);
        if (presence != null) {
            s.penalties(p -> p.withPresence(presence.floatValue()));
        }
        if (frequency != null) {
            s.penalties(p -> p.withFrequency(frequency.floatValue()));
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
}
