package io.github.llamaffm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.internal.ChatGlue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A model's chat format: renders a conversation (messages, tools, tool choice, response schema) into a prompt plus the
 * grammar and stop strings that constrain the reply, and parses the generated text back into content, reasoning and
 * {@link ToolCall}s, all through llama.cpp's own {@code common} chat code (Jinja engine, common/chat.h). This is what
 * {@link ChatSession} uses per turn; use it directly to drive {@link Generation} or a {@link SequenceScheduler} (as
 * the OpenAI-compatible server does).
 *
 * {@snippet :
 * try (ChatFormat format = ChatFormat.of(model)) {
 *     ChatFormat.Prompt p = format.render(messages, tools, ToolChoice.REQUIRED, false, null);
 *     try (Generation g = ctx.generate(p.text(), p.applyTo(GenerateOptions.defaults()))) {
 *         ChatReply reply = p.parse(g.result());
 *     }
 * }
 * }
 *
 * <p>A built-in template name (llama.cpp's {@code llama_chat_apply_template}, see {@link ChatTemplate#builtinNames()})
 * renders plain text only: no tools (a response schema still constrains the whole reply). Thread-safe; close it to
 * free the native templates (a Cleaner does so for an unreachable one).
 */
public final class ChatFormat implements AutoCloseable {
    private static final AtomicLong CALL_IDS = new AtomicLong();

    private final String builtinName;
    private final ChatGlue.Templates jinja;

    private ChatFormat(String builtinName, ChatGlue.Templates jinja) {
        this.builtinName = builtinName;
        this.jinja = jinja;
    }

    /** The model's own chat template ({@code tokenizer.chat_template}; see {@link #of(LlamaModel, String)}). */
    public static ChatFormat of(LlamaModel model) {
        return of(model, null);
    }

    /**
     * The format of {@code template} (Jinja source, or a built-in name), or of the model's own template when
     * {@code template} is null (without one: Mistral Instruct's format for Mistral models, else ChatML). Bos/eos
     * tokens come from the model's vocabulary.
     *
     * @throws IllegalArgumentException if the Jinja source does not parse
     */
    public static ChatFormat of(LlamaModel model, String template) {
        Objects.requireNonNull(model, "model");
        String t = template;
        if (t == null && model.info().chatTemplate().isEmpty()) {
            String name = model.info().metadata().getOrDefault("general.name", "").toLowerCase(Locale.ROOT);
            t = name.contains("mistral") ? "mistral-v1" : null;
        }
        if (t != null && ChatTemplate.builtinNames().contains(t)) {
            return new ChatFormat(t, null);
        }
        return new ChatFormat(null, ChatGlue.Templates.create(model.segment(), t, null, null));
    }

    /**
     * A rendered conversation: the prompt text, and what generating and parsing its reply needs.
     */
    public static final class Prompt {
        private final String text;
        private final Grammar grammar;
        private final List<String> stops;
        private final ObjectNode parserParams;
        private final List<String> callIds = new ArrayList<>();

        Prompt(String text, Grammar grammar, List<String> stops, ObjectNode parserParams) {
            this.text = text;
            this.grammar = grammar;
            this.stops = stops;
            this.parserParams = parserParams;
        }

        /** The prompt (tokenize with special tokens parsed and BOS added as the model asks). */
        public String text() {
            return text;
        }

        /** The grammar the reply must follow (tool calls, response schema), if any. */
        public java.util.Optional<Grammar> grammar() {
            return java.util.Optional.ofNullable(grammar);
        }

        /** Extra stop strings the format asks for. */
        public List<String> stopStrings() {
            return stops;
        }

        /**
         * {@code options} with this prompt's grammar and stop strings added.
         *
         * @throws IllegalArgumentException if the prompt has a grammar and the options' sampler has its own
         */
        public GenerateOptions applyTo(GenerateOptions options) {
            Objects.requireNonNull(options, "options");
            if (grammar == null && stops.isEmpty()) {
                return options;
            }
            GenerateOptions.Builder b = options.toBuilder();
            if (grammar != null) {
                if (options.sampler().grammar().isPresent() || options.jsonSchema().isPresent()) {
                    throw new IllegalArgumentException("the sampler has its own grammar, which cannot be combined "
                            + "with tools or a response schema");
                }
                b.sampler(options.sampler().toBuilder().grammar(grammar).build());
            }
            if (!stops.isEmpty()) {
                List<String> all = new ArrayList<>(options.stopStrings());
                all.addAll(stops);
                b.stopStrings(all);
            }
            return b.build();
        }

        /**
         * Parses a finished reply. A reply cut short (token limit, full context, cancelled) is parsed as partial, and
         * a tool call it cut off (arguments not yet complete JSON) is left out.
         */
        public ChatReply parse(GenerationResult result) {
            Objects.requireNonNull(result, "result");
            boolean cut = result.finishReason() == FinishReason.MAX_TOKENS
                    || result.finishReason() == FinishReason.CONTEXT_FULL
                    || result.finishReason() == FinishReason.CANCELLED;
            ChatReply r = ChatFormat.parse(this, result.text(), cut, result);
            if (cut && r.hasToolCalls()) {
                List<ToolCall> complete = r.toolCalls().stream().filter(c -> isJson(c.arguments())).toList();
                r = new ChatReply(r.content(), r.reasoning(), complete, result);
            }
            return r;
        }

        /**
         * Parses the reply generated so far (while streaming): content and reasoning so far, and the tool calls begun
         * (a call's arguments may be incomplete JSON). {@code result} of the reply is {@code null}. A call keeps its
         * id from one parse of this prompt's reply to the next, and in {@link #parse} (ids the model's format does
         * not give are generated once per call).
         */
        public ChatReply parsePartial(String textSoFar) {
            Objects.requireNonNull(textSoFar, "textSoFar");
            return ChatFormat.parse(this, textSoFar, true, null);
        }

        /** The generated id of the {@code index}-th call of this prompt's reply (the same for every parse). */
        private synchronized String callId(int index) {
            while (callIds.size() <= index) {
                callIds.add(newCallId());
            }
            return callIds.get(index);
        }
    }

    /**
     * Renders a conversation.
     *
     * @param messages          the conversation
     * @param tools             tools the model may call (empty for none)
     * @param choice            whether it must call one
     * @param parallelToolCalls whether a reply may call several
     * @param responseSchema    JSON Schema the reply must satisfy ({@code "{}"}: any JSON), or {@code null}
     * @throws IllegalArgumentException if the template rejects the conversation, a named tool is missing, or tools are
     *                                  to be called with a template that has no tool-call format (a built-in template
     *                                  name, or a Jinja template such as ChatML in which llama.cpp finds none)
     */
    public Prompt render(List<ChatMessage> messages, List<Tool> tools, ToolChoice choice, boolean parallelToolCalls,
                         String responseSchema) {
        requireNonNullElements(messages, "messages");
        requireNonNullElements(tools, "tools");
        Objects.requireNonNull(choice, "choice");
        if (jinja == null) {
            if (!tools.isEmpty() || responseSchema != null) {
                // A schema still works: as a plain grammar on the whole reply.
                if (!tools.isEmpty()) {
                    throw new IllegalArgumentException("tools need a Jinja chat template; '" + builtinName
                            + "' is a built-in template name");
                }
            }
            String prompt = ChatTemplate.apply(builtinName, messages, true);
            Grammar g = responseSchema == null ? null : Grammar.fromJsonSchema(responseSchema);
            return new Prompt(prompt, g, List.of(), null);
        }
        ObjectNode in = ChatGlue.JSON.createObjectNode();
        ArrayNode msgs = in.putArray("messages");
        for (ChatMessage m : messages) {
            msgs.add(toJson(m));
        }
        List<Tool> offered = tools;
        String toolChoice = "auto";
        if (!tools.isEmpty()) {
            switch (choice.mode()) {
                case AUTO -> toolChoice = "auto";
                case NONE -> toolChoice = "none";
                case REQUIRED -> toolChoice = "required";
                case NAMED -> {
                    offered = tools.stream().filter(x -> x.name().equals(choice.name())).toList();
                    if (offered.isEmpty()) {
                        throw new IllegalArgumentException("toolChoice names '" + choice.name()
                                + "', which is not among the tools " + tools.stream().map(Tool::name).toList());
                    }
                    toolChoice = "required";
                }
            }
            ArrayNode ta = in.putArray("tools");
            for (Tool t : offered) {
                ObjectNode f = ta.addObject().put("type", "function").putObject("function");
                f.put("name", t.name()).put("description", t.description());
                f.set("parameters", readJson(t.parameters()));
            }
            in.put("tool_choice", toolChoice);
            in.put("parallel_tool_calls", parallelToolCalls);
        }
        if (responseSchema != null) {
            in.set("json_schema", readJson(responseSchema));
        }
        in.put("add_generation_prompt", true);
        in.put("reasoning_format", "auto");
        ObjectNode out = jinja.apply(in);

        Grammar grammar = null;
        String gbnf = out.get("grammar").asText();
        if (gbnf.isEmpty() && !tools.isEmpty() && choice.mode() != ToolChoice.Mode.NONE) {
            // llama.cpp found no way to call tools in this template: the model would be shown tools it cannot call,
            // and a required call could never come. Say so instead of answering as if no tool had been given.
            throw new IllegalArgumentException("this chat template has no tool-call format (llama.cpp's chat code "
                    + "finds none in it, e.g. ChatML, the default of a model without a template): tools "
                    + offered.stream().map(Tool::name).toList() + " cannot be called; use a model or a template "
                    + "with tool calling (tool choice NONE shows tools without calling them)");
        }
        if (!gbnf.isEmpty()) {
            if (out.get("grammar_lazy").asBoolean()) {
                List<String> patterns = new ArrayList<>();
                List<Integer> tokens = new ArrayList<>();
                for (JsonNode t : out.get("grammar_triggers")) {
                    String v = t.get("value").asText();
                    switch (t.get("type").asText()) {
                        case "word" -> patterns.add(regexEscape(v));
                        case "pattern" -> patterns.add(v);
                        case "pattern_full" -> patterns.add(v.isEmpty() ? "^$"
                                : (v.startsWith("^") ? "" : "^") + v + (v.endsWith("$") ? "" : "$"));
                        case "token" -> tokens.add(t.get("token").asInt());
                        default -> throw new IllegalStateException("unknown grammar trigger " + t);
                    }
                }
                grammar = Grammar.lazy(gbnf, patterns, tokens);
            } else {
                if (!tools.isEmpty() && responseSchema == null
                        && (choice.mode() == ToolChoice.Mode.REQUIRED || choice.mode() == ToolChoice.Mode.NAMED)) {
                    gbnf = withoutPreamble(gbnf);
                }
                grammar = Grammar.gbnf(gbnf).withPrefill(out.get("generation_prompt").asText());
            }
        }
        List<String> stops = new ArrayList<>();
        out.get("additional_stops").forEach(s -> stops.add(s.asText()));
        ObjectNode parser = ChatGlue.JSON.createObjectNode();
        parser.put("format", out.get("format").asInt());
        parser.put("parser", out.get("parser").asText());
        parser.put("generation_prompt", out.get("generation_prompt").asText());
        parser.put("reasoning_format", "auto");
        parser.put("parse_tool_calls", !tools.isEmpty() && choice.mode() != ToolChoice.Mode.NONE);
        return new Prompt(out.get("prompt").asText(), grammar, List.copyOf(stops), parser);
    }

    /**
     * A required call's grammar without the free text llama.cpp's grammars allow before the call ({@code root ::= ...
     * until-N? tool-calls}): text the model might never end, so a required call would not be guaranteed within
     * {@code maxTokens}. Only {@code until-N} references at the top level of the root rule are removed (each also
     * accepts the empty string, so the grammar only narrows); reasoning blocks stay.
     */
    static String withoutPreamble(String gbnf) {
        String[] lines = gbnf.split("\n", -1);
        for (int l = 0; l < lines.length; l++) {
            if (!lines[l].startsWith("root ::= ")) {
                continue;
            }
            String rule = lines[l];
            StringBuilder b = new StringBuilder(rule.length());
            int depth = 0;
            boolean quoted = false;
            for (int i = 0; i < rule.length(); i++) {
                char c = rule.charAt(i);
                if (quoted) {
                    b.append(c);
                    if (c == '\\' && i + 1 < rule.length()) {
                        b.append(rule.charAt(++i));
                    } else if (c == '"') {
                        quoted = false;
                    }
                    continue;
                }
                if (c == '"') {
                    quoted = true;
                } else if (c == '(' || c == '[') {
                    depth++;
                } else if (c == ')' || c == ']') {
                    depth--;
                } else if (depth == 0 && c == ' ' && rule.startsWith(" until-", i)) {
                    int j = i + 7;
                    while (j < rule.length() && Character.isDigit(rule.charAt(j))) {
                        j++;
                    }
                    if (j > i + 7 && (j == rule.length() || rule.charAt(j) == ' ' || rule.charAt(j) == '?')) {
                        i = j < rule.length() && rule.charAt(j) == '?' ? j : j - 1;
                        continue;
                    }
                }
                b.append(c);
            }
            lines[l] = b.toString();
        }
        return String.join("\n", lines);
    }

    /** Parses generated text (partial while streaming) into content, reasoning and tool calls. */
    private static ChatReply parse(Prompt r, String text, boolean partial, GenerationResult result) {
        if (r.parserParams == null) {
            return new ChatReply(text, "", List.of(), result);
        }
        ObjectNode p = r.parserParams.deepCopy();
        p.put("text", text).put("partial", partial);
        ObjectNode msg = ChatGlue.parse(p);
        List<ToolCall> calls = new ArrayList<>();
        for (JsonNode c : msg.get("tool_calls")) {
            String id = c.get("id").asText();
            calls.add(new ToolCall(id.isEmpty() ? r.callId(calls.size()) : id, c.get("name").asText(),
                    c.get("arguments").asText()));
        }
        return new ChatReply(msg.get("content").asText(), msg.get("reasoning_content").asText(), calls, result);
    }

    /** A fresh call id: 9 alphanumerics, the form Mistral's templates require of tool call ids. */
    static String newCallId() {
        String s = Long.toString(CALL_IDS.incrementAndGet() + 36L * 36 * 36 * 36 * 36 * 36 * 36 * 36, 36);
        return s.substring(s.length() - 9);
    }

    private static ObjectNode toJson(ChatMessage m) {
        // Text without a UTF-8 encoding (a lone surrogate) would reach the template as '?': refuse it, as tokenize does.
        Vocabulary.strictUtf8(m.content());
        ObjectNode o = ChatGlue.JSON.createObjectNode().put("role", m.role()).put("content", m.content());
        if (!m.toolCalls().isEmpty()) {
            ArrayNode calls = o.putArray("tool_calls");
            for (ToolCall c : m.toolCalls()) {
                calls.addObject().put("type", "function").put("id", c.id()).putObject("function")
                        .put("name", c.name()).put("arguments", c.arguments());
            }
        }
        if (m.toolCallId() != null) {
            o.put("tool_call_id", m.toolCallId());
        }
        if (m.toolName() != null) {
            o.put("name", m.toolName());
        }
        return o;
    }

    private static boolean isJson(String text) {
        try {
            ChatGlue.JSON.readTree(text);
            return !text.isBlank();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return false;
        }
    }

    private static JsonNode readJson(String json) {
        try {
            return ChatGlue.JSON.readTree(json);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** common.cpp's regex_escape: a literal for std::regex (ECMAScript), which has no \Q...\E. */
    static String regexEscape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (char c : s.toCharArray()) {
            if (".^$|()*+?[]{}\\".indexOf(c) >= 0) {
                b.append('\\');
            }
            b.append(c);
        }
        return b.toString();
    }

    /** Frees the native templates; idempotent. */
    @Override
    public void close() {
        if (jinja != null) {
            jinja.close();
        }
    }

    static void requireNonNullElements(List<?> list, String what) {
        Objects.requireNonNull(list, what);
        list.forEach(e -> Objects.requireNonNull(e, what + " element"));
    }
}
