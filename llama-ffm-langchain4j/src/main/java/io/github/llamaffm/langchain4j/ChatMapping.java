package io.github.llamaffm.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import io.github.llamaffm.ChatTemplate;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.Sampler;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * LangChain4j request/response values to and from the facade's: mapping only (rendering is the facade's
 * {@link ChatTemplate}, sampling its {@link Sampler}, generation its scheduler).
 */
final class ChatMapping {
    private ChatMapping() {}

    /** The prompt: every message rendered with the chat template, ending with the assistant's turn. */
    static String prompt(String template, List<ChatMessage> messages) {
        List<io.github.llamaffm.ChatMessage> out = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> io.github.llamaffm.ChatMessage.system(s.text());
                case UserMessage u -> io.github.llamaffm.ChatMessage.user(text(u));
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException("llama-ffm does not support tool calling yet: "
                                + "an AiMessage with tool execution requests cannot be sent");
                    }
                    yield io.github.llamaffm.ChatMessage.assistant(a.text() == null ? "" : a.text());
                }
                case ToolExecutionResultMessage t -> throw new UnsupportedFeatureException(
                        "llama-ffm does not support tool calling yet: ToolExecutionResultMessage '"
                                + t.toolName() + "' cannot be sent");
                default -> throw new UnsupportedFeatureException(
                        "llama-ffm does not support messages of type " + m.type());
            });
        }
        return ChatTemplate.apply(template, out, true);
    }

    private static String text(UserMessage u) {
        if (u.hasSingleText()) {
            return u.singleText();
        }
        StringBuilder sb = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException("llama-ffm does not support "
                        + c.type().name().toLowerCase(java.util.Locale.ROOT) + " content in user messages (text only)");
            }
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append(t.text());
        }
        return sb.toString();
    }

    /**
     * Checks what the facade cannot honour (before anything is queued) and maps the rest onto generation options:
     * unset parameters keep {@code base}'s value.
     */
    static GenerateOptions options(ChatRequestParameters p, String modelName, GenerateOptions base) {
        if (p.modelName() != null && !p.modelName().equals(modelName)) {
            throw new UnsupportedFeatureException("llama-ffm does not support choosing another model per request "
                    + "(modelName '" + p.modelName() + "'; this model is '" + modelName + "')");
        }
        if (p.toolChoice() != null) {
            throw new UnsupportedFeatureException("llama-ffm does not support tool calling yet (ToolChoice."
                    + p.toolChoice() + ")");
        }
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("llama-ffm does not support tool calling yet (toolSpecifications)");
        }
        if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("llama-ffm does not support JSON response format yet");
        }
        Sampler s = base.sampler();
        Sampler.Builder sb = s.toBuilder();
        if (p.temperature() != null) {
            sb.temperature(p.temperature().floatValue());
        }
        if (p.topP() != null) {
            sb.topP(p.topP().floatValue());
        }
        if (p.topK() != null) {
            sb.topK(p.topK());
        }
        Sampler.Penalties penalties = s.penalties();
        if (p.frequencyPenalty() != null) {
            penalties = penalties.withFrequency(p.frequencyPenalty().floatValue());
        }
        if (p.presencePenalty() != null) {
            penalties = penalties.withPresence(p.presencePenalty().floatValue());
        }
        if (p instanceof LlamaFfmChatRequestParameters lp) {
            if (lp.seed() != null) {
                sb.seed(lp.seed());
            }
            if (lp.minP() != null) {
                sb.minP(lp.minP().floatValue());
            }
            if (lp.repeatPenalty() != null) {
                penalties = penalties.withRepeat(lp.repeatPenalty().floatValue());
            }
        }
        sb.penalties(penalties);
        GenerateOptions.Builder gb = base.toBuilder().sampler(sb.build());
        if (p.maxOutputTokens() != null) {
            gb.maxTokens(p.maxOutputTokens());
        }
        if (p.stopSequences() != null && !p.stopSequences().isEmpty()) {
            gb.stopStrings(p.stopSequences());
        }
        return gb.build();
    }

    static FinishReason finishReason(io.github.llamaffm.FinishReason reason) {
        return switch (reason) {
            case END_OF_GENERATION, STOP_STRING -> FinishReason.STOP;
            case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
            case CANCELLED, ERROR -> FinishReason.OTHER;
        };
    }

    static ChatResponse response(GenerationResult result, String modelName) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(result.text()))
                .metadata(ChatResponseMetadata.builder()
                        .id("llamaffm-" + UUID.randomUUID())
                        .modelName(modelName)
                        .tokenUsage(new TokenUsage(result.promptTokens(), result.generatedTokens()))
                        .finishReason(finishReason(result.finishReason()))
                        .build())
                .build();
    }
}
