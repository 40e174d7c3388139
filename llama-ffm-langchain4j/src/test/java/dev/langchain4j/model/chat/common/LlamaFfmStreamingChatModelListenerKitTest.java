package dev.langchain4j.model.chat.common;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

/** LangChain4j's streaming listener test kit ({@link AbstractStreamingChatModelListenerIT}). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlamaFfmStreamingChatModelListenerKitTest extends AbstractStreamingChatModelListenerIT {
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
    protected StreamingChatModel createModel(ChatModelListener listener) {
        return kit.streaming(defaults(), List.of(listener), null);
    }

    @Override
    protected String modelName() {
        return LlamaFfmKit.MODEL_NAME;
    }

    @Override
    protected StreamingChatModel createFailingModel(ChatModelListener listener) {
        return kit.streaming(defaults(), List.of(listener), LlamaFfmKit.FAILING_TEMPLATE);
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
