package dev.langchain4j.model.chat.common;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.langchain4j.LlamaFfmChatRequestParameters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

/**
 * LangChain4j's own {@code StreamingChatModel} test kit ({@link AbstractStreamingChatModelIT}) against
 * {@code LlamaFfmStreamingChatModel}: as {@link LlamaFfmChatModelKitTest}, plus the streaming contract (partials add up
 * to the response, one callback thread that is not the caller's, onCompleteResponse once) and cancellation through
 * the {@code StreamingHandle} (5 partial responses, then nothing).
 */
class LlamaFfmStreamingChatModelKitTest extends AbstractStreamingChatModelIT {
    private final LlamaFfmKit kit = new LlamaFfmKit();
    @AfterAll
    void close() {
        kit.close();
    }

    @Override
    protected List<StreamingChatModel> models() {
        // a new model per test: JUnit closes a parameterized test's AutoCloseable arguments after it (the service,
        // shared by all of them, stays open)
        return List.of(kit.streaming(ChatRequestParameters.builder().build(), List.of(), null));
    }

    @Override
    protected StreamingChatModel createModelWith(ChatRequestParameters parameters) {
        return kit.streaming(parameters, List.of(), null);
    }

    @Override
    public StreamingChatModel createModelWith(ChatModelListener listener) {
        return kit.streaming(ChatRequestParameters.builder().build(), List.of(listener), null);
    }

    @Override
    protected ChatRequestParameters createIntegrationSpecificParameters(int maxOutputTokens) {
        return LlamaFfmChatRequestParameters.builder().maxOutputTokens(maxOutputTokens).seed(1L).build();
    }

    @Override protected boolean supportsModelNameParameter() { return false; }
    @Override protected boolean supportsSingleImageInputAsBase64EncodedString() { return false; }
    @Override protected boolean supportsSingleImageInputAsPublicURL() { return false; }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_then_answer(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_without_arguments_then_answer(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_multiple_tools_in_parallel_then_answer(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_force_LLM_to_execute_any_tool(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_force_LLM_to_execute_specific_tool(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JSON_response_format(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JSON_response_format_with_schema(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JsonRawSchema_responseFormat(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_then_answer_respecting_JSON_response_format_with_schema(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_user_message(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_system_message(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_multiple_messages(StreamingChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_stopSequences_in_chat_request(StreamingChatModel model) { }

    @Override @Test @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_stopSequences_in_default_model_parameters() { }

    // The handler-exception contract is checked on gibberish by LlamaFfmStreamingChatModelTest.
    @Override @Test @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    void should_propagate_user_exceptions_thrown_from_onPartialResponse() { }

    @Override @Test @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    void should_propagate_user_exceptions_thrown_from_onCompleteResponse() { }

    @Override @Test @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    void should_ignore_user_exceptions_thrown_from_onError() { }
}
