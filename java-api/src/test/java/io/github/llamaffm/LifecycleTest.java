package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every close / after-close / threading rule of the public owners. */
@Tag("tiny-model")
class LifecycleTest {
    private static final GenerateOptions FEW = GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy()).build();

    @Test
    void contextKeepsItsModelAlive() {
        LlamaModel model = LlamaModel.load(TestModels.tiny());
        LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
        model.close();
        assertThat(model.isClosed()).isTrue();
        assertThatThrownBy(model::info).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(model::newContext).isInstanceOf(IllegalStateException.class);
        // The weights are still there for the context.
        assertThat(ctx.generate("still alive", FEW).result().generatedTokens()).isEqualTo(3);
        ctx.close();
        ctx.close(); // idempotent
        model.close(); // idempotent
    }

    @Test
    void everyMethodThrowsAfterClose() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
            ctx.close();
            assertThat(ctx.isClosed()).isTrue();
            assertThatThrownBy(() -> ctx.generate("x", FEW)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::logits).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::saveState).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::clear).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::memory).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::chat).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> ctx.evaluate(new int[] {1})).isInstanceOf(IllegalStateException.class);
            ctx.cancel(); // harmless after close
        }
    }

    @Test
    void closingTheContextEndsAnOpenGeneration() {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
            Generation g = ctx.generate("open", GenerateOptions.builder().maxTokens(50).sampler(Sampler.greedy()).build());
            var it = g.iterator();
            assertThat(it.hasNext()).isTrue();
            it.next();
            ctx.close();
            assertThat(g.isFinished()).isTrue();
            assertThat(g.result().finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(it.hasNext()).isFalse();
            g.close();
        }
    }

    @Test
    void aContextRefusesConcurrentUse() throws Exception {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny());
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build())) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            try (Generation g = ctx.generate("busy", GenerateOptions.builder().maxTokens(3).sampler(Sampler.greedy()).build())) {
                CompletableFuture<Void> worker = CompletableFuture.runAsync(() -> g.forEach(t -> {
                    inside.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                }));
                inside.await();
                assertThatThrownBy(() -> ctx.generate("other", FEW))
                        .isInstanceOf(IllegalStateException.class).hasMessageContaining("one thread at a time");
                release.countDown();
                worker.get();
            }
            // Sequential use from another thread is fine.
            CompletableFuture<Integer> other = CompletableFuture.supplyAsync(() -> ctx.generate("later", FEW).result().generatedTokens());
            assertThat(other.get()).isEqualTo(3);
        } catch (ExecutionException e) {
            throw e;
        }
    }

    @Test
    void closingAModelWhileAnotherThreadTokenizesNeverCrashes() throws Exception {
        for (int round = 0; round < 5; round++) {
            LlamaModel model = LlamaModel.load(TestModels.spmVocab(), ModelOptions.builder().vocabOnly(true).build());
            Vocabulary vocab = model.vocabulary();
            CountDownLatch started = new CountDownLatch(1);
            CompletableFuture<Integer> worker = CompletableFuture.supplyAsync(() -> {
                int calls = 0;
                started.countDown();
                try {
                    while (true) {
                        vocab.tokenize("close me while I am tokenizing this sentence", true, false);
                        calls++;
                    }
                } catch (IllegalStateException closed) {
                    return calls;
                }
            });
            started.await();
            Thread.sleep(5);
            model.close();
            assertThat(worker.get()).isPositive(); // ended with IllegalStateException, not a crash
        }
    }

    @Test
    void modelIsShareableAcrossThreads() throws Exception {
        try (LlamaModel model = LlamaModel.load(TestModels.tiny())) {
            var a = CompletableFuture.supplyAsync(() -> {
                try (LlamaContext c = model.newContext(ContextOptions.builder().contextSize(256).build())) {
                    return c.generate("shared", FEW).result().text();
                }
            });
            var b = CompletableFuture.supplyAsync(() -> {
                try (LlamaContext c = model.newContext(ContextOptions.builder().contextSize(256).build())) {
                    return c.generate("shared", FEW).result().text();
                }
            });
            assertThat(a.get()).isEqualTo(b.get());
        }
    }
}
