package io.github.llamaffm;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Requests from many threads through one context. Outside truth: single-sequence greedy generation (checked token
 * for token against upstream's llama-simple by {@link GreedyParityTest}).
 */
class GenerationServiceTest {
    private static final List<String> PROMPTS = List.of("The Mistral 7B paper shows", "Once upon a time", "Hi",
            "Sliding window attention lets each layer", "A fourth prompt for the queue");
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static GenerateOptions greedy(int maxTokens) {
        return GenerateOptions.builder().maxTokens(maxTokens).sampler(Sampler.greedy()).build();
    }

    private static String single(String prompt, GenerateOptions options) {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
             Generation g = ctx.generate(prompt, options)) {
            g.forEach(t -> { });
            return g.result().text();
        }
    }

    @Test
    void concurrentRequestsFromManyThreadsMatchSingleSequenceGeneration() throws Exception {
        GenerateOptions options = greedy(24);
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(1024).sequences(2).build());
             GenerationService service = GenerationService.start(ctx)) {
            assertThat(service.sequences()).isEqualTo(2);
            List<CompletableFuture<String>> streamed = new ArrayList<>();
            List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
            List<Thread> callerThreads = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> callers = new ArrayList<>();
            for (String prompt : PROMPTS) {
                CompletableFuture<String> text = new CompletableFuture<>();
                CompletableFuture<GenerationResult> result = new CompletableFuture<>();
                streamed.add(text);
                results.add(result);
                callers.add(Thread.ofPlatform().start(() -> {
                    try {
                        go.await();
                        StringBuilder sb = new StringBuilder();
                        GenerationService.Request r = service.submit(prompt, options, t -> {
                            callerThreads.add(Thread.currentThread());
                            sb.append(t.text());
                        });
                        GenerationResult res = r.completion().join();
                        text.complete(sb.toString());
                        result.complete(res);
                    } catch (Throwable e) {
                        text.completeExceptionally(e);
                        result.completeExceptionally(e);
                    }
                }));
            }
            go.countDown();
            for (Thread t : callers) {
                t.join();
            }
            for (int i = 0; i < PROMPTS.size(); i++) {
                String expected = single(PROMPTS.get(i), options);
                assertThat(streamed.get(i).get()).as(PROMPTS.get(i)).isEqualTo(expected);
                assertThat(results.get(i).get().text()).isEqualTo(expected);
            }
            assertThat(callerThreads).allMatch(t -> t.getName().startsWith("llama-ffm-generation-"));
            assertThat(service.active()).isZero();
            assertThat(service.queued()).isZero();
            assertThat(service.generatedTokens())
                    .isEqualTo(results.stream().mapToLong(f -> f.join().generatedTokens()).sum());
        }
    }

    @Test
    void cancelEndsARunningRequestWithoutFurtherTokensAndAQueuedOneAtOnce() throws Exception {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).build());
             GenerationService service = GenerationService.start(ctx)) {
            List<Token> tokens = Collections.synchronizedList(new ArrayList<>());
            GenerationService.Request[] self = new GenerationService.Request[1];
            CountDownLatch submitted = new CountDownLatch(1);
            GenerationService.Request running = service.submit("Once upon a time", greedy(200), t -> {
                try {
                    submitted.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                tokens.add(t);
                if (tokens.size() == 3) {
                    self[0].cancel();
                }
            });
            self[0] = running;
            GenerationService.Request queued = service.submit("Hi", greedy(5), t -> { });
            queued.cancel();
            submitted.countDown();
            GenerationResult result = running.completion().get(60, TimeUnit.SECONDS);
            assertThat(result.finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(tokens).hasSize(3);
            assertThatThrownBy(() -> queued.completion().join()).isInstanceOf(CancellationException.class);
            // the service goes on serving
            assertThat(service.submit("Hi", greedy(4), t -> { }).completion().get(60, TimeUnit.SECONDS).text())
                    .isEqualTo(single("Hi", greedy(4)));
        }
    }

    @Test
    void badRequestsFailTheirFutureAndCloseRejectsWaitingOnes() throws Exception {
        LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(64).build());
        try (ctx) {
            GenerationService service = GenerationService.start(ctx);
            String tooLong = "word ".repeat(2000);
            assertThatThrownBy(() -> service.submit(tooLong, greedy(4), t -> { }).completion().join())
                    .hasCauseInstanceOf(IllegalArgumentException.class).hasMessageContaining("tokens");
            CountDownLatch release = new CountDownLatch(1);
            GenerationService.Request slow = service.submit("Once", greedy(50), t -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            while (!slow.isStarted()) { // the service thread takes it into a sequence
                Thread.onSpinWait();
            }
            GenerationService.Request waiting = service.submit("Hi", greedy(4), t -> { });
            Thread closer = Thread.ofPlatform().start(service::close);
            while (!service.isClosed()) {
                Thread.onSpinWait();
            }
            release.countDown();
            closer.join();
            assertThat(slow.completion().get(60, TimeUnit.SECONDS).finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThatThrownBy(() -> waiting.completion().join()).hasCauseInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> service.submit("Hi", greedy(4), t -> { }))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            // the context is free again
            try (Generation g = ctx.generate("Hi", greedy(4))) {
                g.forEach(t -> { });
                assertThat(g.result().text()).isEqualTo(single("Hi", greedy(4)));
            }
        }
    }

    @Test
    void batchedEmbeddingsEqualOneTextAtATimeAndHonourTheModelsPooling() {
        List<String> texts = List.of("sliding window attention", "a completely different sentence", "x", "Hi there");
        // llama.cpp would abort on a pooled context whose micro-batch is not a multiple of its sequences
        assertThatThrownBy(() -> model.newContext(ContextOptions.builder().embeddings(true).sequences(3).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of its sequences");
        try (LlamaContext batched = model.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .sequences(4).kvUnified(true).build());
             LlamaContext single = model.newContext(ContextOptions.builder().contextSize(512).embeddings(true).build())) {
            List<float[]> vectors = batched.embed(texts, true);
            assertThat(vectors).hasSize(texts.size());
            for (int i = 0; i < texts.size(); i++) {
                float[] one = single.embed(texts.get(i), true);
                for (int j = 0; j < one.length; j++) {
                    assertThat(vectors.get(i)[j]).as(texts.get(i) + "[" + j + "]")
                            .isCloseTo(one[j], org.assertj.core.data.Offset.offset(1e-4f));
                }
            }
        }
    }

    @Test
    void embeddingsHonourTheModelsPooling() {
        List<String> texts = List.of("sliding window attention", "a completely different sentence", "x", "Hi there");
        // CLS pooling (pooling_type 2) on a causal model: the first token (BOS) alone decides, so every text embeds
        // the same; mean pooling does not.
        try (LlamaModel cls = LlamaModel.load(TestModels.tiny(),
                     ModelOptions.builder().overrideMetadata("llama.pooling_type", 2).build());
             LlamaContext ctx = cls.newContext(ContextOptions.builder().contextSize(512).embeddings(true)
                     .sequences(2).kvUnified(true).build());
             LlamaContext mean = model.newContext(ContextOptions.builder().contextSize(512).embeddings(true).build())) {
            List<float[]> vectors = ctx.embed(texts, false);
            for (float[] v : vectors) {
                assertThat(v).containsExactly(vectors.getFirst());
            }
            assertThat(mean.embed(texts.get(0), false)).isNotEqualTo(mean.embed(texts.get(1), false));
        }
    }
}
