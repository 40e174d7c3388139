package dev.langchain4j.model.chat.common;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.langchain4j.LlamaFfmChatRequestParameters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

/**
 * LangChain4j's own {@code ChatModel} test kit ({@link AbstractChatModelIT}, langchain4j-core 1.19.0 tests jar) run
 * against {@code LlamaFfmChatModel}: parameters (maxOutputTokens in request and defaults, integration-specific
 * parameters), token usage, finish reason, response metadata, and the "fails with UnsupportedFeatureException"
 * contract for what is not supported (model name, images). Tools and JSON formats are supported; the kit's tests of
 * them ask for real answers ("Munich", "Berlin"), so LlamaFfmToolsAndJsonTest checks them on the tiny model instead.
 */
class LlamaFfmChatModelKitTest extends AbstractChatModelIT {
    private final LlamaFfmKit kit = new LlamaFfmKit();
    @AfterAll
    void close() {
        kit.close();
    }

    @Override
    protected List<ChatModel> models() {
        // a new model per test: JUnit closes a parameterized test's AutoCloseable arguments after it (the service,
        // shared by all of them, stays open)
        return List.of(kit.chat(ChatRequestParameters.builder().build(), List.of(), null));
    }

    @Override
    protected ChatModel createModelWith(ChatRequestParameters parameters) {
        return kit.chat(parameters, List.of(), null);
    }

    @Override
    protected ChatRequestParameters createIntegrationSpecificParameters(int maxOutputTokens) {
        return LlamaFfmChatRequestParameters.builder().maxOutputTokens(maxOutputTokens).seed(1L).build();
    }

    @Override protected boolean supportsModelNameParameter() { return false; }
    @Override protected boolean supportsSingleImageInputAsBase64EncodedString() { return false; }
    @Override protected boolean supportsSingleImageInputAsPublicURL() { return false; }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_then_answer(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_without_arguments_then_answer(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_multiple_tools_in_parallel_then_answer(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_force_LLM_to_execute_any_tool(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_force_LLM_to_execute_specific_tool(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JSON_response_format(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JSON_response_format_with_schema(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingStructuredOutputs") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_JsonRawSchema_responseFormat(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("modelsSupportingTools") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_execute_a_tool_then_answer_respecting_JSON_response_format_with_schema(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_user_message(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_system_message(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_multiple_messages(ChatModel model) { }

    @Override @ParameterizedTest @MethodSource("models") @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_stopSequences_in_chat_request(ChatModel model) { }

    @Override @Test @Disabled(LlamaFfmKit.RANDOM_WEIGHTS)
    protected void should_respect_stopSequences_in_default_model_parameters() { }
}
