package io.github.llamaffm;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A conversation on a context, formatted with the model's chat template. Each {@link #send} renders the whole
 * conversation, and the context's prefix reuse decodes only the tokens that are new since the last turn
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
 * }
 */
public final class ChatSession {
    private final LlamaContext context;
    private final Options options;
    private final String template;
    private final List<ChatMessage> messages = new ArrayList<>();

    ChatSession(LlamaContext context, Options options) {
        this.context = context;
        this.options = options;
        this.template = options.template() != null ? options.template() : defaultTemplate(context.modelInfo());
        if (options.systemPrompt() != null) {
            messages.add(ChatMessage.system(options.systemPrompt()));
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
        Objects.requireNonNull(userMessage, "userMessage");
        Objects.requireNonNull(onToken, "onToken");
        messages.add(ChatMessage.user(userMessage));
        String prompt = ChatTemplate.apply(template, messages, true);
        if (context.options().overflow() == ContextOverflow.SHIFT) {
            prompt = dropOldestUntilFits(prompt);
        }
        GenerationResult result;
        try (Generation g = context.generate(prompt, options.generateOptions())) {
            g.forEach(onToken);
            result = g.result();
        } catch (RuntimeException e) {
            messages.removeLast();
            throw e;
        }
        messages.add(ChatMessage.assistant(result.text()));
        return result;
    }

    /**
     * Drops the oldest half of the messages after the system prompt (keeping the new user message) until the
     * rendered conversation leaves a quarter of the sequence for the reply.
     */
    private String dropOldestUntilFits(String prompt) {
        GenerateOptions g = options.generateOptions();
        int limit = context.settings().sequenceContextSize() * 3 / 4;
        int first = !messages.isEmpty() && messages.getFirst().role().equals("system") ? 1 : 0;
        while (context.vocabulary().tokenize(prompt, g.addSpecial(), g.parseSpecial()).length > limit) {
            int droppable = messages.size() - 1 - first; // never the new user message
            if (droppable <= 0) {
                break; // the system prompt and the new message alone: generate() says if it does not fit
            }
            int drop = Math.max(1, droppable / 2);
            if ((drop & 1) == 1 && drop < droppable) {
                drop++; // whole user/assistant turns
            }
            messages.subList(first, first + drop).clear();
            prompt = ChatTemplate.apply(template, messages, true);
        }
        return prompt;
    }

    /** The conversation so far (system prompt, user and assistant messages). */
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
     * @param systemPrompt    system message put first, or {@code null} for none (the default)
     * @param template        chat template source or built-in name, or {@code null} for the model's own (the default;
     *                        without one: mistral-v1 for Mistral models, else chatml)
     * @param generateOptions options of every reply; defaults to {@link GenerateOptions#defaults()}
     */
    public record Options(String systemPrompt, String template, GenerateOptions generateOptions) {
        public Options {
            Objects.requireNonNull(generateOptions, "generateOptions");
        }

        /** No system prompt, the model's template, {@link GenerateOptions#defaults()}. */
        public static Options defaults() {
            return new Options(null, null, GenerateOptions.defaults());
        }

        public Options withSystemPrompt(String systemPrompt) {
            return new Options(systemPrompt, template, generateOptions);
        }

        public Options withTemplate(String template) {
            return new Options(systemPrompt, template, generateOptions);
        }

        public Options withGenerateOptions(GenerateOptions generateOptions) {
            return new Options(systemPrompt, template, generateOptions);
        }
    }
}
