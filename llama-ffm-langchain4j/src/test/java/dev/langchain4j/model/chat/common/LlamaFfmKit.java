package dev.langchain4j.model.chat.common;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.TestModels;
import io.github.llamaffm.langchain4j.LlamaFfmChatModel;
import io.github.llamaffm.langchain4j.LlamaFfmStreamingChatModel;

import java.util.List;

/**
 * One tiny model served for LangChain4j's provider test kit (the {@code langchain4j-core} tests jar). These classes
 * live in the kit's package so that they can switch off, with a reason, the kit tests that are package-private.
 */
final class LlamaFfmKit implements AutoCloseable {
    static final String MODEL_NAME = "llama-ffm-tiny";
    /** Why the kit's answer-checking tests are off: they ask real questions ("Berlin", "liebe", "green", "Hello"). */
    static final String RANDOM_WEIGHTS = "asserts a real model's answer; the generated test model has random weights";

    /** A Jinja chat template that fails whenever a conversation is rendered (inside the call, after onRequest). */
    static final String FAILING_TEMPLATE = "{{ raise_exception('this test template always fails') }}";

    final LlamaModel model = LlamaModel.load(TestModels.tiny());
    final LlamaContext context = model.newContext(ContextOptions.builder().contextSize(2048).sequences(2).build());
    final GenerationService service = GenerationService.start(context);

    LlamaFfmChatModel chat(ChatRequestParameters defaults, List<ChatModelListener> listeners, String template) {
        return LlamaFfmChatModel.builder().service(service).modelName(MODEL_NAME).seed(42L)
                .defaultRequestParameters(defaults).listeners(listeners).chatTemplate(template).build();
    }

    LlamaFfmStreamingChatModel streaming(ChatRequestParameters defaults, List<ChatModelListener> listeners,
                                         String template) {
        return LlamaFfmStreamingChatModel.builder().service(service).modelName(MODEL_NAME).seed(42L)
                .defaultRequestParameters(defaults).listeners(listeners).chatTemplate(template).build();
    }

    @Override
    public void close() {
        service.close();
        context.close();
        model.close();
    }
}
