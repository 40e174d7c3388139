package io.github.llamaffm;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A conversation on a context, formatted with the model's chat template. The model's own Jinja template
 * ({@code tokenizer.chat_template}) is rendered by llama.cpp's Jinja engine (common/chat.h), so tools, tool results and
 * system prompts appear as the model was trained to see them; a caller-supplied Jinja source or a built-in template
 * name ({@link ChatTemplate#builtinNames()}) can replace it. Each turn renders the whole conversation, and the
 * context's prefix reuse decodes only the tokens that are new since the last turn
 * ({@link GenerationResult#cachedPromptTokens()} shows how many were reused).
 *
 * <p><b>Long chats:</b> with {@link ContextOverflow#SHIFT} on the context, a conversation outlives the context: when
 * the rendered conversation would leave less than a quarter of the sequence for the reply, the oldest half of the
 * messages after the system prompt is dropped (whole messages, so the template's format stays intact), as often as
 * needed; a reply that fills the sequence itself shifts the context as {@link ContextOverflow#SHIFT} describes. With
 * {@link ContextOverflow#FAIL} (the default) the history is never dropped: a reply ends with
 * {@link FinishReason#CONTEXT_FULL} and a conversation that no longer fits is refused with an
 * {@link IllegalArgumentException}.
 *
 * {@snippet :
 * ChatSession chat = ctx.chat();
 * System.out.println(chat.send("Summarise sliding window attention in one line.").text());
 *
 * // Structured output: a record in, a record out
 * record Capital(String country, String city) {}
 * Capital c = chat.replyAs("What is the capital of France?", Capital.class);
 *
 * // Tools
 * record Weather(String city) {}
 * ChatSession agent = ctx.chat(ChatSession.Options.defaults()
 *         .withTools(List.of(Tool.of("get_weather", "Current weather in a city", Weather.class))));
 * ChatReply r = agent.reply("Weather in Paris?");
 * for (ToolCall call : r.toolCalls()) {
 *     agent.addToolResult(call, "{\"celsius\": 21}");
 * }
 * String answer = agent.reply().content();
 * }
 *
 * <p>Not thread-safe (a context serves one thread at a time).
 */
public final class ChatSession {
    private final LlamaContext context;
    private final Options options;
    private final String template;
    private final ChatFormat format;
    private final List<ChatMessage> messages = new ArrayList<>();

    /**
     * The guardrail system prompt the Mistral 7B paper recommends (section 5.1), used by
     * {@link Options#withGuardrails(boolean)}.
     */
    public static final String MISTRAL_GUARDRAIL_PROMPT = "Always assist with care, respect, and truth. Respond with "
            + "utmost utility yet securely. Avoid harmful, unethical, prejudiced, or negative content. Ensure replies "
            + "promote fairness and positivity.";

    ChatSession(LlamaContext context, Options options) {
        this.context = context;
        this.options = options;
        this.template = options.template() != null ? options.template() : defaultTemplate(context.modelInfo());
        this.format = context.model().chatFormat(options.template());
        String system = options.guardrails()
                ? MISTRAL_GUARDRAIL_PROMPT + (options.systemPrompt() != null ? "\n\n" + options.systemPrompt() : "")
                : options.systemPrompt();
        if (system != null) {
            messages.add(ChatMessage.system(system));
        }
    }

    /**
     * The model's own template; without one, Mistral Instruct's format for Mistral models and ChatML otherwise
     * (as llama.cpp's tools do).
     */
    static String defaultTemplate(ModelInfo info) {
        if (info.chatTemplate().isPresent()) {
            return info.chatTemplate().get();
        }
        String name = info.metadata().getOrDefault("general.name", "").toLowerCase(Locale.ROOT);
        return name.contains("mistral") ? "mistral-v1" : "chatml";
    }

    /** Sends a user message and returns the reply once complete. */
    public GenerationResult send(String userMessage) {
        return send(userMessage, t -> { });
    }

    /** Sends a user message, streaming the reply's tokens to {@code onToken}. */
    public GenerationResult send(String userMessage, Consumer<Token> onToken) {
        return reply(userMessage, onToken).result();
    }

    /**
     * Sends a user message and returns the parsed reply: content, reasoning and tool calls (with the session's
     * {@link Options#tools()}), constrained by {@link Options#responseSchema()} if set.
     */
    public ChatReply reply(String userMessage) {
        return reply(userMessage, t -> { });
    }

    /** {@link #reply(String)}, streaming the raw tokens to {@code onToken}. */
    public ChatReply reply(String userMessage, Consumer<Token> onToken) {
        Objects.requireNonNull(userMessage, "userMessage");
        Objects.requireNonNull(onToken, "onToken");
        moderate(userMessage);
        messages.add(ChatMessage.user(userMessage));
        try {
            return generate(onToken, options.responseSchema());
        } catch (RuntimeException e) {
            messages.removeLast();
            throw e;
        }
    }

    /**
     * Continues the conversation without a new user message: after {@link #addToolResult} the model answers with the
     * tools' results in view.
     *
     * @throws IllegalStateException if the conversation is empty or ends with an assistant message
     */
    public ChatReply reply() {
        if (messages.isEmpty() || messages.getLast().role().equals("assistant")) {
            throw new IllegalStateException("nothing to reply to: add a user message or a tool result first");
        }
        return generate(t -> { }, options.responseSchema());
    }

    /**
     * Sends a user message and decodes the reply as {@code type} (a record; see {@link JsonSchema}): generation is
     * constrained by the type's JSON Schema, so the reply is always JSON of that shape (unless the token limit cuts it
     * short, which throws).
     *
     * @throws IllegalArgumentException if the reply does not decode (e.g. cut off by {@code maxTokens})
     */
    public <T> T replyAs(String userMessage, Class<T> type) {
        Objects.requireNonNull(userMessage, "userMessage");
        String schema = JsonSchema.of(type);
        moderate(userMessage);
        messages.add(ChatMessage.user(userMessage));
        ChatReply r;
        try {
            r = generate(t -> { }, schema);
        } catch (RuntimeException e) {
            messages.removeLast();
            throw e;
        }
        if (r.result().finishReason() == FinishReason.MAX_TOKENS) {
            throw new IllegalArgumentException("the reply was cut off at maxTokens ("
                    + options.generateOptions().maxTokens() + ") before the JSON was complete: " + r.content());
        }
        return r.contentAs(type);
    }

    /** Adds a tool's result for one of the reply's calls (a {@code tool} message); then call {@link #reply()}. */
    public void addToolResult(ToolCall call, String result) {
        Objects.requireNonNull(call, "call");
        Objects.requireNonNull(result, "result");
        messages.add(ChatMessage.toolResult(call, result));
    }

    /** Adds any message (e.g. history restored from storage). */
    public void add(ChatMessage message) {
        messages.add(Objects.requireNonNull(message, "message"));
    }

    private void moderate(String userMessage) {
        if (options.moderation()) {
            Moderation.Category c = Moderation.classify(context, userMessage);
            if (c != Moderation.Category.ACCEPTABLE) {
                throw new ModerationException(c);
            }
        }
    }

    private ChatReply generate(Consumer<Token> onToken, String schema) {
        ChatFormat.Prompt p = render(schema);
        if (context.options().overflow() == ContextOverflow.SHIFT) {
            p = dropOldestUntilFits(p, schema);
        }
        GenerateOptions go = p.applyTo(options.generateOptions());
        GenerationResult result;
        try (Generation g = context.generate(p.text(), go)) {
            g.forEach(onToken);
            result = g.result();
        }
        ChatReply reply = p.parse(result);
        messages.add(ChatMessage.assistant(reply.content(), reply.toolCalls()));
        return reply;
    }

    private ChatFormat.Prompt render(String schema) {
        boolean useTools = !options.tools().isEmpty();
        return format.render(messages, options.tools(), options.toolChoice(),
                options.parallelToolCalls(), useTools && options.toolChoice().mode() != ToolChoice.Mode.NONE
                        ? null : schema);
    }

    /**
     * Drops the oldest half of the messages after the system prompt (keeping the newest message) until the
     * rendered conversation leaves a quarter of the sequence for the reply.
     */
    private ChatFormat.Prompt dropOldestUntilFits(ChatFormat.Prompt prompt, String schema) {
        GenerateOptions g = options.generateOptions();
        int limit = context.settings().sequenceContextSize() * 3 / 4;
        int first = !messages.isEmpty() && messages.getFirst().role().equals("system") ? 1 : 0;
        while (context.vocabulary().tokenize(prompt.text(), g.addSpecial(), g.parseSpecial()).length > limit) {
            int droppable = messages.size() - 1 - first; // never the newest message
            if (droppable <= 0) {
                break; // the system prompt and the new message alone: generate() says if it does not fit
            }
            int drop = Math.max(1, droppable / 2);
            if ((drop & 1) == 1 && drop < droppable) {
                drop++; // whole user/assistant turns
            }
            messages.subList(first, first + drop).clear();
            prompt = render(schema);
        }
        return prompt;
    }

    /** The conversation so far (system prompt, user, assistant and tool messages). */
    public List<ChatMessage> messages() {
        return List.copyOf(messages);
    }

    /** The template in use (source or built-in name). */
    public String template() {
        return template;
    }

    /**
     * Chat settings, built from {@link #defaults()} with the {@code with...} methods.
     *
     * @param systemPrompt      system message put first, or {@code null} for none (the default)
     * @param template          Jinja template source or built-in name, or {@code null} for the model's own (the
     *                          default; without one: mistral-v1 for Mistral models, else ChatML)
     * @param generateOptions   options of every reply; defaults to {@link GenerateOptions#defaults()}
     * @param tools             tools the model may call; none by default
     * @param toolChoice        whether it must call one; {@link ToolChoice#AUTO} by default
     * @param parallelToolCalls whether one reply may call several tools; {@code false} by default
     * @param responseSchema    JSON Schema (text) every reply must satisfy, {@code "{}"} for any JSON, or {@code null}
     *                          for free text (the default); with tools it applies when the model answers without one
     *                          only under {@link ToolChoice#NONE}
     * @param guardrails        put {@link #MISTRAL_GUARDRAIL_PROMPT} first in the system prompt; {@code false} by
     *                          default. A template without a system role (Mistral Instruct v0.1/v0.2) gets it the way
     *                          llama.cpp's common does for any system message there: prepended to the first user
     *                          message
     * @param moderation        classify each user message with {@link Moderation} first and throw
     *                          {@link ModerationException} instead of answering one that is not acceptable;
     *                          {@code false} by default
     */
    public record Options(String systemPrompt, String template, GenerateOptions generateOptions, List<Tool> tools,
                          ToolChoice toolChoice, boolean parallelToolCalls, String responseSchema, boolean guardrails,
                          boolean moderation) {
        public Options {
            Objects.requireNonNull(generateOptions, "generateOptions");
            ChatFormat.requireNonNullElements(tools, "tools");
            tools = List.copyOf(tools);
            Objects.requireNonNull(toolChoice, "toolChoice");
            if (toolChoice.mode() == ToolChoice.Mode.NAMED
                    && tools.stream().noneMatch(t -> t.name().equals(toolChoice.name()))) {
                throw new IllegalArgumentException("toolChoice names '" + toolChoice.name()
                        + "', which is not among the tools " + tools.stream().map(Tool::name).toList());
            }
            if (tools.stream().map(Tool::name).distinct().count() != tools.size()) {
                throw new IllegalArgumentException("tool names must be unique: " + tools.stream().map(Tool::name)
                        .toList());
            }
        }

        /** Without tools or schema (the earlier form). */
        public Options(String systemPrompt, String template, GenerateOptions generateOptions) {
            this(systemPrompt, template, generateOptions, List.of(), ToolChoice.AUTO, false, null, false, false);
        }

        /** No system prompt, the model's template, {@link GenerateOptions#defaults()}, no tools, free text. */
        public static Options defaults() {
            return new Options(null, null, GenerateOptions.defaults());
        }

        public Options withSystemPrompt(String systemPrompt) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        public Options withTemplate(String template) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        public Options withGenerateOptions(GenerateOptions generateOptions) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        public Options withTools(List<Tool> tools) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        public Options withToolChoice(ToolChoice toolChoice) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        public Options withParallelToolCalls(boolean parallelToolCalls) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        /** Turns the Mistral 7B paper's guardrail system prompt on or off. */
        public Options withGuardrails(boolean guardrails) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        /** Turns self-reflection moderation of user messages on or off. */
        public Options withModeration(boolean moderation) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    responseSchema, guardrails, moderation);
        }

        /** Every reply is JSON satisfying {@code jsonSchema} ({@code "{}"}: any JSON); {@code null}: free text. */
        public Options withResponseSchema(String jsonSchema) {
            return new Options(systemPrompt, template, generateOptions, tools, toolChoice, parallelToolCalls,
                    jsonSchema, guardrails, moderation);
        }
    }
}
