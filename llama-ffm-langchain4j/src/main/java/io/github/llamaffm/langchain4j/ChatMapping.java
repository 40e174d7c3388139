package io.github.llamaffm.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.Json;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.request.json.JsonSchemaElement;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Tool;
import io.github.llamaffm.ToolCall;
import io.github.llamaffm.ToolChoice;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * LangChain4j request/response values to and from the facade's: mapping only (rendering, tool-call grammars and
 * parsing are the facade's {@link ChatFormat}, sampling its {@link Sampler}, generation its scheduler).
 */
final class ChatMapping {
    private ChatMapping() {}

    /**
     * The conversation rendered by the model's chat format, with the request's tools, tool choice and response
     * format (their grammar and stop strings go into the generation options through {@link ChatFormat.Prompt#applyTo}).
     */
    static ChatFormat.Prompt prompt(ChatFormat format, List<ChatMessage> messages, ChatRequestParameters p) {
        List<io.github.llamaffm.ChatMessage> out = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> io.github.llamaffm.ChatMessage.system(s.text());
                case UserMessage u -> io.github.llamaffm.ChatMessage.user(text(u));
                case AiMessage a -> io.github.llamaffm.ChatMessage.assistant(a.text() == null ? "" : a.text(),
                        a.toolExecutionRequests().stream()
                                .map(r -> new ToolCall(r.id() == null ? "" : r.id(), r.name(), r.arguments()))
                                .toList());
                case ToolExecutionResultMessage t -> new io.github.llamaffm.ChatMessage("tool", t.text(), List.of(),
                        t.id(), t.toolName());
                default -> throw new UnsupportedFeatureException(
                        "llama-ffm does not support messages of type " + m.type());
            });
        }
        List<Tool> tools = new ArrayList<>();
        if (p.toolSpecifications() != null) {
            for (ToolSpecification t : p.toolSpecifications()) {
                tools.add(new Tool(t.name(), t.description() == null ? "" : t.description(), schema(t.parameters())));
            }
        }
        ToolChoice choice = p.toolChoice() == null ? ToolChoice.AUTO : switch (p.toolChoice()) {
            case AUTO -> ToolChoice.AUTO;
            case REQUIRED -> ToolChoice.REQUIRED;
            case NONE -> ToolChoice.NONE;
        };
        return format.render(out, tools, choice, true, responseSchema(p.responseFormat()));
    }

    /** JSON Schema text of a tool's parameters (an object without properties when it takes none). */
    private static String schema(JsonObjectSchema parameters) {
        return parameters == null ? "{\"type\":\"object\",\"properties\":{}}" : json(parameters);
    }

    private static String json(JsonSchemaElement element) {
        if (element instanceof JsonRawSchema raw) {
            return raw.schema();
        }
        return Json.toJson(JsonSchemaElementUtils.toMap(element));
    }

    /** The schema a JSON response format asks for ({@code "{}"}: any JSON), or null for text. */
    private static String responseSchema(ResponseFormat format) {
        if (format == null || format.type() != ResponseFormatType.JSON) {
            return null;
        }
        return format.jsonSchema() == null || format.jsonSchema().rootElement() == null ? "{}"
                : json(format.jsonSchema().rootElement());
    }

    private static String text(UserMessage u) {
        if (u.hasSingleText()) {
            return u.singleText();
        }
        StringBuilder sb = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException("llama-ffm does not support "
                        + c.type().name().toLowerCase(Locale.ROOT) + " content in user messages (text only)");
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

    static List<ToolExecutionRequest> toolRequests(List<ToolCall> calls) {
        return calls.stream().map(c -> ToolExecutionRequest.builder().id(c.id()).name(c.name())
                .arguments(c.arguments()).build()).toList();
    }

    static ChatResponse response(ChatReply reply, String modelName) {
        GenerationResult result = reply.result();
        AiMessage.Builder message = AiMessage.builder()
                .text(reply.content().isEmpty() && reply.hasToolCalls() ? null : reply.content())
                .toolExecutionRequests(toolRequests(reply.toolCalls()));
        if (!reply.reasoning().isEmpty()) {
            message.thinking(reply.reasoning());
        }
        return ChatResponse.builder()
                .aiMessage(message.build())
                .metadata(ChatResponseMetadata.builder()
                        .id("llamaffm-" + UUID.randomUUID())
                        .modelName(modelName)
                        .tokenUsage(new TokenUsage(result.promptTokens(), result.generatedTokens()))
                        .finishReason(reply.hasToolCalls() ? FinishReason.TOOL_EXECUTION
                                : finishReason(result.finishReason()))
                        .build())
                .build();
    }
}
