package io.github.llamaffm.examples.frameworks;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.service.AiServices;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.langchain4j.LlamaFfmChatModel;
import io.github.llamaffm.langchain4j.LlamaFfmEmbeddingModel;
import io.github.llamaffm.langchain4j.LlamaFfmStreamingChatModel;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * LangChain4j on llama-ffm, in process: a chat model, an AI service, a streaming model sharing the loaded model, and
 * embeddings. Run: {@code java --enable-native-access=ALL-UNNAMED -cp examples/target/llama-ffm-cli.jar
 * io.github.llamaffm.examples.frameworks.LangChain4jExample [model.gguf]} (without a model: the built-in demo model,
 * whose output is gibberish).
 */
public final class LangChain4jExample {
    interface Assistant {
        String answer(String question);
    }

    public static void main(String[] args) throws Exception {
        Path model = args.length > 0 ? Path.of(args[0]) : DemoModel.path(null, new PrintWriter(System.err, true));
        try (LlamaFfmChatModel chat = LlamaFfmChatModel.builder()
                     .modelPath(model).contextSize(4096).parallelSequences(2)
                     .temperature(0.7).maxOutputTokens(64).build();
             LlamaFfmStreamingChatModel streaming = LlamaFfmStreamingChatModel.builder()
                     .service(chat.service()).maxOutputTokens(64).build()) {
            Assistant assistant = AiServices.create(Assistant.class, chat);
            System.out.println("AI service: " + assistant.answer("What is sliding window attention?"));

            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat("Tell me a story", new StreamingChatResponseHandler() {
                @Override public void onPartialResponse(String text) { System.out.print(text); }
                @Override public void onCompleteResponse(ChatResponse response) { done.complete(response); }
                @Override public void onError(Throwable error) { done.completeExceptionally(error); }
            });
            System.out.println("\nstreamed: " + done.get().metadata().tokenUsage());
        }
        try (LlamaFfmEmbeddingModel embeddings = LlamaFfmEmbeddingModel.builder().modelPath(model).build()) {
            var vectors = embeddings.embedAll(List.of(TextSegment.from("llama"), TextSegment.from("alpaca"))).content();
            System.out.println("embeddings: " + vectors.size() + " x " + embeddings.dimension());
        }
    }
}
