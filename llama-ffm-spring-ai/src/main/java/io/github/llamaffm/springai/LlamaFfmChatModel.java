package io.github.llamaffm.springai;

import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.FinishReason;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.ReplyDeltas;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Tool;
import io.github.llamaffm.ToolCall;
import io.github.llamaffm.ToolChoice;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.tool.definition.ToolDefinition;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A Spring AI {@link ChatModel} running a GGUF model in process through llama-ffm: the prompt rendered by the
 * model's own chat format (llama.cpp's Jinja engine), Spring AI's {@link ChatOptions} (temperature, top-p, top-k,
 * max tokens, stop sequences, frequency and presence penalties) mapped onto llama.cpp's sampler, usage and finish
 * reason in the response. {@link #call} blocks; {@link #stream} emits one {@link ChatResponse} per token that
 * releases text, then a last one with the finish reason and usage; cancelling the subscription ends the generation.
 * Concurrent calls share the context through the {@link GenerationService}.
 *
 * <p>Tools: the tool callbacks of {@link ToolCallingChatOptions} are offered to the model (their JSON Schemas become
 * llama.cpp's tool-call grammar); a reply that calls tools carries {@link AssistantMessage.ToolCall}s, which
 * Spring AI's tool-calling advisor (auto-registered by {@code ChatClient}) executes through its
 * {@code ToolCallingManager} before asking again. Structured output: an output schema
 * ({@link StructuredOutputChatOptions}, {@code ChatClient...entity(...)} with native structured output) constrains the
 * reply by grammar. {@link LlamaFfmChatOptions} adds the tool choice and the seed.
 *
 * {@snippet :
 * ChatClient client = ChatClient.create(chatModel);
 * String answer = client.prompt().user("Summarise sliding window attention.").call().content();
 * }
 */
public final class LlamaFfmChatModel implements ChatModel, AutoCloseable {
    private final GenerationService service;
    private final ChatFormat format;
    private final String modelName;
    private final LlamaFfmChatOptions defaults;
    private final Consumer<GenerationResult> resultListener;

    private LlamaFfmChatModel(Builder b) {
        this.service = Objects.requireNonNull(b.service, "service");
        this.modelName = b.modelName != null ? b.modelName : service.context().model().path().getFileName().toString();
        this.defaults = b.defaults;
        this.resultListener = b.resultListener;
        options(defaults, null); // invalid defaults fail here
        this.format = ChatFormat.of(service.context().model(), b.template);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A request rendered by the chat format, and the generation options it asks for. */
    private record Rendered(ChatFormat.Prompt prompt, GenerateOptions options, boolean structured) {}

    private Rendered render(Prompt prompt) {
        ChatOptions request = prompt.getOptions();
        GenerateOptions options = options(defaults, request);
        List<ToolCallback> callbacks = pick(request, defaults,
                o -> o instanceof ToolCallingChatOptions t ? t.getToolCallbacks() : null);
        List<Tool> tools = new ArrayList<>();
        if (callbacks != null) {
            for (ToolCallback c : callbacks) {
                ToolDefinition d = c.getToolDefinition();
                tools.add(new Tool(d.name(), d.description() == null ? "" : d.description(), d.inputSchema()));
            }
        }
        String schema = pick(request, defaults,
                o -> o instanceof StructuredOutputChatOptions s ? s.getOutputSchema() : null);
        String choice = pick(request, defaults, o -> o instanceof LlamaFfmChatOptions l ? l.getToolChoice() : null);
        ChatFormat.Prompt p = format.render(messages(prompt.getInstructions()), tools, toolChoice(choice), true, schema);
        return new Rendered(p, p.applyTo(options), !tools.isEmpty() || schema != null);
    }

    private static ToolChoice toolChoice(String choice) {
        if (choice == null) {
            return ToolChoice.AUTO;
        }
        return switch (choice.toLowerCase(Locale.ROOT)) {
            case "auto" -> ToolChoice.AUTO;
            case "required" -> ToolChoice.REQUIRED;
            case "none" -> ToolChoice.NONE;
            default -> ToolChoice.named(choice);
        };
    }

    private static List<io.github.llamaffm.ChatMessage> messages(List<Message> messages) {
        List<io.github.llamaffm.ChatMessage> out = new ArrayList<>(messages.size());
        for (Message m : messages) {
            switch (m) {
                case SystemMessage s -> out.add(io.github.llamaffm.ChatMessage.system(text(s)));
                case UserMessage u -> {
                    if (!u.getMedia().isEmpty()) {
                        throw new UnsupportedOperationException("llama-ffm does not support media in user messages");
                    }
                    out.add(io.github.llamaffm.ChatMessage.user(text(u)));
                }
                case AssistantMessage a -> out.add(io.github.llamaffm.ChatMessage.assistant(text(a),
                        a.getToolCalls().stream().map(c -> new ToolCall(c.id(), c.name(), c.arguments())).toList()));
                case ToolResponseMessage t -> t.getResponses().forEach(r -> out.add(
                        new io.github.llamaffm.ChatMessage("tool", r.responseData(), List.of(), r.id(), r.name())));
                default -> throw new UnsupportedOperationException("llama-ffm does not support "
                        + m.getMessageType().getValue() + " messages");
            }
        }
        return out;
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        Rendered r = render(prompt);
        GenerationResult result = service.submit(r.prompt().text(), r.options(), token -> { }).await();
        notifyResult(result);
        ChatReply reply = r.prompt().parse(result);
        return new ChatResponse(List.of(generation(reply.content(), reply, result)), metadata(newId(), result));
    }

    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.create((FluxSink<ChatResponse> sink) -> {
            Rendered r = render(prompt);
            String id = newId();
            StringBuilder raw = new StringBuilder();
            ReplyDeltas deltas = new ReplyDeltas();
            GenerationService.Request request = service.submit(r.prompt().text(), r.options(), token -> {
                raw.append(token.text());
                ChatReply soFar;
                if (r.structured()) { // stream what llama.cpp's parser makes of the text so far
                    try {
                        soFar = r.prompt().parsePartial(raw.toString());
                    } catch (RuntimeException e) {
                        return; // not parseable yet: the next token may complete it
                    }
                } else {
                    soFar = new ChatReply(raw.toString(), "", List.of(), null);
                }
                String delta = deltas.next(soFar).content();
                if (!delta.isEmpty()) {
                    sink.next(new ChatResponse(List.of(new Generation(new AssistantMessage(delta))),
                            ChatResponseMetadata.builder().id(id).model(modelName).build()));
                }
            });
            sink.onDispose(request::cancel);
            request.completion().whenComplete((result, failure) -> {
                if (failure != null) {
                    sink.error(failure instanceof CompletionException && failure.getCause() != null
                            ? failure.getCause() : failure);
                    return;
                }
                if (sink.isCancelled()) {
                    return;
                }
                notifyResult(result);
                ChatReply reply = r.prompt().parse(result);
                String rest = deltas.finish(reply).content();
                sink.next(new ChatResponse(List.of(generation(rest, reply, result)), metadata(id, result)));
                sink.complete();
            });
        });
    }

    private static Generation generation(String text, ChatReply reply, GenerationResult result) {
        AssistantMessage message = AssistantMessage.builder().content(text)
                .toolCalls(reply.toolCalls().stream()
                        .map(c -> new AssistantMessage.ToolCall(c.id(), "function", c.name(), c.arguments())).toList())
                .build();
        return new Generation(message, ChatGenerationMetadata.builder()
                .finishReason(reply.hasToolCalls() ? "TOOL_CALLS" : finishReason(result.finishReason())).build());
    }

    @Override
    public ChatOptions getOptions() {
        return defaults;
    }

    /** The service this model runs on. */
    public GenerationService service() {
        return service;
    }

    /** Frees the chat format's native templates (the service is not owned: close it yourself). */
    @Override
    public void close() {
        format.close();
    }

    private static String text(Message m) {
        return m.getText() == null ? "" : m.getText();
    }

    /** {@code request}'s values over {@code defaults}' over llama.cpp's defaults. */
    static GenerateOptions options(ChatOptions defaults, ChatOptions request) {
        Sampler.Builder sb = Sampler.defaults().toBuilder();
        Double temperature = pick(request, defaults, ChatOptions::getTemperature);
        if (temperature != null) {
            sb.temperature(temperature.floatValue());
        }
        Double topP = pick(request, defaults, ChatOptions::getTopP);
        if (topP != null) {
            sb.topP(topP.floatValue());
        }
        Integer topK = pick(request, defaults, ChatOptions::getTopK);
        if (topK != null) {
            sb.topK(topK);
        }
        Long seed = pick(request, defaults, o -> o instanceof LlamaFfmChatOptions l ? l.getSeed() : null);
        if (seed != null) {
            sb.seed(seed);
        }
        Double frequency = pick(request, defaults, ChatOptions::getFrequencyPenalty);
        Double presence = pick(request, defaults, ChatOptions::getPresencePenalty);
        sb.penalties(p -> p.withFrequency(frequency != null ? frequency.floatValue() : p.frequency())
                .withPresence(presence != null ? presence.floatValue() : p.presence()));
        GenerateOptions.Builder gb = GenerateOptions.builder().sampler(sb.build());
        Integer maxTokens = pick(request, defaults, ChatOptions::getMaxTokens);
        if (maxTokens != null) {
            gb.maxTokens(maxTokens);
        }
        List<String> stop = pick(request, defaults, ChatOptions::getStopSequences);
        if (stop != null && !stop.isEmpty()) {
            gb.stopStrings(stop);
        }
        return gb.build();
    }

    private static <T> T pick(ChatOptions request, ChatOptions defaults, Function<ChatOptions, T> getter) {
        T v = request != null ? getter.apply(request) : null;
        return v != null ? v : defaults != null ? getter.apply(defaults) : null;
    }

    private void notifyResult(GenerationResult result) {
        if (resultListener != null) {
            try {
                resultListener.accept(result);
            } catch (RuntimeException ignored) {
                // metrics must not break a reply
            }
        }
    }

    private ChatResponseMetadata metadata(String id, GenerationResult result) {
        return ChatResponseMetadata.builder().id(id).model(modelName)
                .usage(new DefaultUsage(result.promptTokens(), result.generatedTokens())).build();
    }

    private static String newId() {
        return "llamaffm-" + UUID.randomUUID();
    }

    /** Spring AI's finish reasons as OpenAI names them: STOP, LENGTH, TOOL_CALLS, CANCELLED, ERROR. */
    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case END_OF_GENERATION, STOP_STRING -> "STOP";
            case MAX_TOKENS, CONTEXT_FULL -> "LENGTH";
            case CANCELLED -> "CANCELLED";
            case ERROR -> "ERROR";
        };
    }

    /** Builds a {@link LlamaFfmChatModel} on a {@link GenerationService} (not owned: close it yourself). */
    public static final class Builder {
        private GenerationService service;
        private String template;
        private String modelName;
        private LlamaFfmChatOptions defaults = LlamaFfmChatOptions.builder().build();
        private Consumer<GenerationResult> resultListener;

        private Builder() {}

        /** The service to generate on. Required. */
        public Builder service(GenerationService service) {
            this.service = Objects.requireNonNull(service, "service");
            return this;
        }

        /** Chat template source or llama.cpp built-in name; defaults to the model's own. */
        public Builder chatTemplate(String template) {
            this.template = template;
            return this;
        }

        /** The model name reported in responses; defaults to the model's file name. */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        /** Options of every call; a prompt's own options override them field by field. Defaults to none set. */
        public Builder defaultOptions(ChatOptions defaults) {
            Objects.requireNonNull(defaults, "defaults");
            this.defaults = defaults instanceof LlamaFfmChatOptions l ? l : LlamaFfmChatOptions.builder()
                    .combineWith(defaults.mutate()).build();
            return this;
        }

        /** Called with every finished generation's result (timings, token counts), e.g. for metrics. */
        public Builder resultListener(Consumer<GenerationResult> resultListener) {
            this.resultListener = resultListener;
            return this;
        }

        public LlamaFfmChatModel build() {
            return new LlamaFfmChatModel(this);
        }
    }
}
