package io.github.llamaffm.springai;

import io.github.llamaffm.ChatTemplate;
import io.github.llamaffm.FinishReason;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.Sampler;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A Spring AI {@link ChatModel} running a GGUF model in process through llama-ffm: the prompt's messages rendered with
 * the model's chat template, Spring AI's {@link ChatOptions} (temperature, top-p, top-k, max tokens, stop sequences,
 * frequency and presence penalties) mapped onto llama.cpp's sampler, usage and finish reason in the response.
 * {@link #call} blocks; {@link #stream} emits one {@link ChatResponse} per token that releases text, then a last one
 * with the finish reason and usage; cancelling the subscription ends the generation. Concurrent calls share the
 * context through the {@link GenerationService}.
 *
 * {@snippet :
 * ChatClient client = ChatClient.create(chatModel);
 * String answer = client.prompt().user("Summarise sliding window attention.").call().content();
 * }
 *
 * <p>Not supported yet: tool calling and media content (an {@link UnsupportedOperationException} names what was
 * asked, before anything is generated).
 */
public final class LlamaFfmChatModel implements ChatModel {
    private final GenerationService service;
    private final String template;
    private final String modelName;
    private final ChatOptions defaults;
    private final Consumer<GenerationResult> resultListener;

    private LlamaFfmChatModel(Builder b) {
        this.service = Objects.requireNonNull(b.service, "service");
        this.template = b.template != null ? b.template : service.context().chatTemplate();
        this.modelName = b.modelName != null ? b.modelName : service.context().model().path().getFileName().toString();
        this.defaults = b.defaults;
        this.resultListener = b.resultListener;
        options(defaults, null); // invalid defaults fail here
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        return response(submit(prompt, token -> { }).await());
    }

    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.create((FluxSink<ChatResponse> sink) -> {
            String id = newId();
            GenerationService.Request r = submit(prompt, token -> {
                if (!token.text().isEmpty()) {
                    sink.next(new ChatResponse(List.of(new Generation(new AssistantMessage(token.text()))),
                            ChatResponseMetadata.builder().id(id).model(modelName).build()));
                }
            });
            sink.onDispose(r::cancel);
            r.completion().whenComplete((result, failure) -> {
                if (failure != null) {
                    sink.error(failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                            ? failure.getCause() : failure);
                    return;
                }
                if (!sink.isCancelled()) {
                    notifyResult(result);
                    sink.next(new ChatResponse(List.of(new Generation(new AssistantMessage(""),
                            ChatGenerationMetadata.builder().finishReason(finishReason(result.finishReason())).build())),
                            metadata(id, result)));
                    sink.complete();
                }
            });
        });
    }

    @Override
    public ChatOptions getOptions() {
        return defaults;
    }

    /** The service this model runs on. */
    public GenerationService service() {
        return service;
    }

    private GenerationService.Request submit(Prompt prompt, GenerationService.TokenListener listener) {
        GenerateOptions options = options(defaults, prompt.getOptions());
        return service.submit(render(prompt.getInstructions()), options, listener);
    }

    private String render(List<Message> messages) {
        List<io.github.llamaffm.ChatMessage> out = new ArrayList<>(messages.size());
        for (Message m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> io.github.llamaffm.ChatMessage.system(text(s));
                case UserMessage u -> {
                    if (!u.getMedia().isEmpty()) {
                        throw new UnsupportedOperationException("llama-ffm does not support media in user messages");
                    }
                    yield io.github.llamaffm.ChatMessage.user(text(u));
                }
                case AssistantMessage a -> {
                    if (a.hasToolCalls()) {
                        throw new UnsupportedOperationException("llama-ffm does not support tool calling yet "
                                + "(an assistant message with tool calls)");
                    }
                    yield io.github.llamaffm.ChatMessage.assistant(text(a));
                }
                default -> throw new UnsupportedOperationException("llama-ffm does not support "
                        + m.getMessageType().getValue() + " messages yet");
            });
        }
        return ChatTemplate.apply(template, out, true);
    }

    private static String text(Message m) {
        return m.getText() == null ? "" : m.getText();
    }

    /** {@code request}'s values over {@code defaults}' over llama.cpp's defaults. */
    static GenerateOptions options(ChatOptions defaults, ChatOptions request) {
        for (ChatOptions o : new ChatOptions[] {defaults, request}) {
            if (o instanceof ToolCallingChatOptions t && t.getToolCallbacks() != null
                    && !t.getToolCallbacks().isEmpty()) {
                throw new UnsupportedOperationException("llama-ffm does not support tool calling yet (tools "
                        + t.getToolCallbacks().stream().map(c -> c.getToolDefinition().name()).toList() + ")");
            }
        }
        Sampler base = Sampler.defaults();
        Sampler.Builder sb = base.toBuilder();
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

    private ChatResponse response(GenerationResult result) {
        notifyResult(result);
        AssistantMessage message = new AssistantMessage(result.text());
        return new ChatResponse(List.of(new Generation(message,
                ChatGenerationMetadata.builder().finishReason(finishReason(result.finishReason())).build())),
                metadata(newId(), result));
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

    /** Spring AI's finish reasons as OpenAI names them: STOP, LENGTH, CANCELLED. */
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
        private ChatOptions defaults = ChatOptions.builder().build();
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
            this.defaults = Objects.requireNonNull(defaults, "defaults");
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
