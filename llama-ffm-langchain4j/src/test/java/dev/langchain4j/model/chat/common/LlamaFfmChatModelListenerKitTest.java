package dev.langchain4j.model.chat.common;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

/**
 * LangChain4j's listener test kit ({@link AbstractChatModelListenerIT}): listeners see the request with the model's
 * default parameters, the response with usage and metadata, and errors.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlamaFfmChatModelListenerKitTest extends AbstractChatModelListenerIT {
    private final LlamaFfmKit kit = new LlamaFfmKit();

    @AfterAll
    void close() {
        kit.close();
    }

    private ChatRequestParameters defaults() {
        return ChatRequestParameters.builder().modelName(modelName()).temperature(temperature()).topP(topP())
                .maxOutputTokens(maxTokens()).build();
    }

    @Override
    protected ChatModel createModel(ChatModelListener listener) {
        return kit.chat(defaults(), List.of(listener), null);
    }

    @Override
    protected String modelName() {
        return LlamaFfmKit.MODEL_NAME;
    }

    /** Fails inside the call, after onRequest: a chat template that raises an exception when rendered. */
    @Override
    protected ChatModel createFailingModel(ChatModelListener listener) {
        return kit.chat(defaults(), List.of(listener), LlamaFfmKit.FAILING_TEMPLATE);
    }

    @Override
    protected Class<? extends Exception> expectedExceptionClass() {
        return IllegalArgumentException.class;
    }

    @Override
    protected boolean supportsTools() {
        return false;
    }
}
