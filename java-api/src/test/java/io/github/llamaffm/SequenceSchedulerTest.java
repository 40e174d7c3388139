package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.withinPercentage;

/**
 * Continuous batching on the tiny model. The outside truth is single-sequence greedy generation, which
 * {@link GreedyParityTest} checks token for token against upstream's llama-simple.
 */
@Tag("tiny-model")
class SequenceSchedulerTest {
    private static final List<String> PROMPTS = List.of(
            "The Mistral 7B paper shows",
            "Once upon a time, in a land far away",
            "Hi",
            "A somewhat longer prompt, with more tokens than the others, so that a small batch has to split it "
                    + "into several chunks across decode steps");
    private static final int MAX_TOKENS = 32;

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

    /** One prompt generated alone on a one-sequence context: the reference. */
    private static List<Token> single(String prompt, GenerateOptions options) {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).build());
             Generation g = ctx.generate(prompt, options)) {
            List<Token> tokens = new ArrayList<>();
            g.forEach(tokens::add);
            return tokens;
        }
    }

    private static List<Integer> ids(List<Token> tokens) {
        return tokens.stream().map(Token::id).toList();
    }

    private static String text(List<Token> tokens) {
        StringBuilder sb = new StringBuilder();
        tokens.forEach(t -> sb.append(t.text()));
        return sb.toString();
    }

    /** Collects each sequence's tokens and results. */
    private static final class Collector implements SequenceScheduler.Listener {
        final List<Token> tokens = new ArrayList<>();
        GenerationResult result;
        int finishCalls;

        @Override
        public void onToken(SequenceScheduler.Sequence sequence, Token token) {
            tokens.add(token);
        }

        @Override
        public void onFinish(SequenceScheduler.Sequence sequence, GenerationResult result) {
            this.result = result;
            finishCalls++;
        }
    }

    private static void runToEnd(SequenceScheduler scheduler) {
        int guard = 0;
        while (scheduler.step()) {
            assertThat(++guard).as("steps").isLessThan(10_000);
        }
    }

    @ParameterizedTest(name = "batch size {0}")
    @ValueSource(ints = {16, 512})
    void concurrentGreedySequencesMatchSeparateGenerations(int batchSize) {
        List<List<Token>> expected = PROMPTS.stream().map(p -> single(p, greedy(MAX_TOKENS))).toList();

        ContextOptions options = ContextOptions.builder().sequences(4).contextSize(1024).batchSize(batchSize).build();
        List<Collector> got = new ArrayList<>();
        try (LlamaContext ctx = model.newContext(options);
             SequenceScheduler scheduler = ctx.newScheduler()) {
            assertThat(scheduler.sequences()).isEqualTo(4);
            assertThat(scheduler.sequenceContextSize()).isEqualTo(256);
            // Two start together; two more join while those are generating (prompts mixed with generated tokens).
            for (int i = 0; i < 2; i++) {
                got.add(new Collector());
                scheduler.submit(PROMPTS.get(i), greedy(MAX_TOKENS), got.get(i));
            }
            for (int i = 0; i < 5; i++) {
                scheduler.step();
            }
            for (int i = 2; i < 4; i++) {
                got.add(new Collector());
                scheduler.submit(PROMPTS.get(i), greedy(MAX_TOKENS), got.get(i));
            }
            runToEnd(scheduler);

            int generated = 0;
            for (int i = 0; i < PROMPTS.size(); i++) {
                Collector c = got.get(i);
                assertThat(ids(c.tokens)).as("tokens of '%s' batched vs alone", PROMPTS.get(i))
                        .isEqualTo(ids(expected.get(i)));
                assertThat(text(c.tokens)).isEqualTo(text(expected.get(i))).isEqualTo(c.result.text());
                assertThat(c.finishCalls).isOne();
                assertThat(c.result.generatedTokens()).isEqualTo(expected.get(i).size());
                generated += c.result.generatedTokens();
            }
            assertThat(ids(expected.getFirst())).hasSize(MAX_TOKENS);
            // Shared steps: far fewer decodes than tokens generated.
            assertThat(scheduler.decodeCalls()).isLessThan(generated * 2L / 3);
            assertThat(scheduler.hasWork()).isFalse();
            assertThat(scheduler.freeSequences()).isEqualTo(4);
            for (int seq = 0; seq < 4; seq++) {
                // Finished sequences keep what they decoded for the prompt cache.
                assertThat(ctx.memory().maxPosition(seq)).as("cells of sequence %d", seq).isGreaterThan(0);
            }
        }
    }

    @Test
    void cancellingOneSequenceFreesItsCellsAndTheOthersContinue() throws Exception {
        List<Token> expected0 = single(PROMPTS.get(0), greedy(20));
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(3).contextSize(768).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            Collector a = new Collector();
            Collector b = new Collector();
            Collector c = new Collector();
            SequenceScheduler.Sequence sa = scheduler.submit(PROMPTS.get(0), greedy(20), a);
            SequenceScheduler.Sequence sb = scheduler.submit(PROMPTS.get(1), greedy(20), b);
            SequenceScheduler.Sequence sc = scheduler.submit(PROMPTS.get(2), greedy(20), c);
            assertThat(List.of(sa.id(), sb.id(), sc.id())).containsExactly(0, 1, 2);
            for (int i = 0; i < 4; i++) {
                scheduler.step();
            }
            int before = b.tokens.size();
            assertThat(ctx.memory().maxPosition(sb.id())).isGreaterThan(0);

            Thread canceller = Thread.ofPlatform().start(sb::cancel); // any thread may cancel
            canceller.join();
            assertThat(sb.isCancelRequested()).isTrue();
            scheduler.step();

            assertThat(sb.isFinished()).isTrue();
            assertThat(sb.result().orElseThrow().finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(b.tokens).hasSize(before);
            assertThat(b.finishCalls).isOne();
            // Its id is free; its cells keep what it decoded for the prompt cache (a later prompt sharing the
            // prefix reuses them).
            assertThat(ctx.memory().maxPosition(sb.id())).isGreaterThan(0);
            assertThat(ctx.memory().maxPosition(sa.id())).isGreaterThan(0);
            assertThat(scheduler.freeSequences()).isOne();

            // The freed id serves the next prompt.
            Collector d = new Collector();
            SequenceScheduler.Sequence sd = scheduler.submit(PROMPTS.get(3), greedy(5), d);
            assertThat(sd.id()).isEqualTo(1);
            runToEnd(scheduler);

            assertThat(ids(a.tokens)).isEqualTo(ids(expected0));
            assertThat(a.result.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            assertThat(c.tokens).hasSize(20);
            assertThat(d.tokens).hasSize(5);
            assertThat(b.tokens).hasSize(before);
            assertThat(sb.failure()).isEmpty();
        }
    }

    @Test
    void stopStringsApplyPerSequence() {
        GenerateOptions plain = greedy(40);
        List<Token> full = single(PROMPTS.get(1), plain);
        // A stop string spanning the end of one token's text and the start of the next one's.
        int i = -1;
        for (int k = 3; k + 1 < full.size(); k++) {
            if (full.get(k).text().length() >= 2 && full.get(k + 1).text().length() >= 2) {
                i = k;
                break;
            }
        }
        assertThat(i).as("two adjacent multi-character pieces").isPositive();
        String stop = full.get(i).text().substring(full.get(i).text().length() - 1) + full.get(i + 1).text().charAt(0);
        GenerateOptions stopping = plain.toBuilder().stopStrings(stop).build();
        List<Token> expectedStopped = single(PROMPTS.get(1), stopping);
        String expectedText = text(full);
        assertThat(text(expectedStopped)).isEqualTo(expectedText.substring(0, expectedText.indexOf(stop)));

        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(3).contextSize(768).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            Collector withStop = new Collector();
            Collector without = new Collector();
            Collector otherStop = new Collector();
            scheduler.submit(PROMPTS.get(1), stopping, withStop);
            scheduler.submit(PROMPTS.get(1), plain, without);
            scheduler.submit(PROMPTS.get(0), plain.toBuilder().stopStrings("no such text in gibberish").build(), otherStop);
            runToEnd(scheduler);

            assertThat(withStop.result.finishReason()).isEqualTo(FinishReason.STOP_STRING);
            assertThat(text(withStop.tokens)).isEqualTo(text(expectedStopped)).isEqualTo(withStop.result.text());
            assertThat(ids(withStop.tokens)).isEqualTo(ids(expectedStopped));
            assertThat(without.result.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            assertThat(text(without.tokens)).isEqualTo(expectedText);
            assertThat(otherStop.result.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
            assertThat(text(otherStop.tokens)).isEqualTo(text(single(PROMPTS.get(0), plain)));
        }
    }

    @Test
    void allSequencesBusyIsRejectedUntilOneFinishes() {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            Collector shortOne = new Collector();
            scheduler.submit("Hello", greedy(2), shortOne);
            scheduler.submit("World", greedy(8), new Collector());
            assertThat(scheduler.freeSequences()).isZero();

            assertThatThrownBy(() -> scheduler.submit("One more", greedy(2), new Collector()))
                    .isInstanceOf(SequencesBusyException.class)
                    .hasMessageContaining("all 2 sequences")
                    .satisfies(e -> assertThat(((SequencesBusyException) e).sequences()).isEqualTo(2));

            while (shortOne.result == null) {
                scheduler.step();
            }
            assertThat(scheduler.freeSequences()).isOne();
            Collector late = new Collector();
            assertThat(scheduler.submit("One more", greedy(2), late).id()).isZero();
            runToEnd(scheduler);
            assertThat(late.result.generatedTokens()).isEqualTo(2);
        }
    }

    @Test
    void aSequenceThatFillsItsCellsEndsLikeAFullContext() {
        int[] prompt = new int[250];
        Arrays.fill(prompt, model.vocabulary().bos() == 1 ? 450 : 100);
        prompt[0] = model.vocabulary().bos();
        GenerateOptions options = greedy(100);
        GenerationResult alone;
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).build());
             Generation g = ctx.generate(prompt, options)) {
            alone = g.result();
        }
        assertThat(alone.finishReason()).isEqualTo(FinishReason.CONTEXT_FULL);

        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            Collector full = new Collector();
            Collector other = new Collector();
            scheduler.submit(prompt, options, full);
            scheduler.submit("Hi", greedy(12), other);
            runToEnd(scheduler);
            assertThat(full.result.finishReason()).isEqualTo(FinishReason.CONTEXT_FULL);
            assertThat(full.result.generatedTokens()).isEqualTo(alone.generatedTokens()).isEqualTo(7);
            assertThat(full.result.text()).isEqualTo(alone.text());
            assertThat(other.result.generatedTokens()).isEqualTo(12);

            int[] tooLong = Arrays.copyOf(prompt, 256);
            Arrays.fill(tooLong, 250, 256, 450);
            assertThatThrownBy(() -> scheduler.submit(tooLong, options, new Collector()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("a sequence holds 256");
            assertThatThrownBy(() -> scheduler.submit(new int[0], options, new Collector()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
            assertThatThrownBy(() -> scheduler.submit(new int[] {-5}, options, new Collector()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("out of range");
            assertThat(scheduler.freeSequences()).isEqualTo(2);
        }
    }

    @Test
    void theSchedulerOwnsTheCacheAndTheContextForgetsItsHistory() {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build())) {
            GenerationResult first = ctx.generate(PROMPTS.getFirst(), greedy(8)).result();
            assertThat(ctx.tokens()).isNotEmpty();

            SequenceScheduler scheduler = ctx.newScheduler();
            assertThat(ctx.tokens()).isEmpty();
            assertThatThrownBy(() -> ctx.generate("x", greedy(2))).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("SequenceScheduler");
            assertThatThrownBy(ctx::newScheduler).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(ctx::clear).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> ctx.evaluate(new int[] {1})).isInstanceOf(IllegalStateException.class);
            Collector running = new Collector();
            scheduler.submit("Something else entirely", greedy(50), running);
            scheduler.step();
            scheduler.step();
            scheduler.close();
            scheduler.close(); // idempotent

            assertThat(running.result.finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(scheduler.isClosed()).isTrue();
            assertThatThrownBy(scheduler::step).isInstanceOf(IllegalStateException.class);
            assertThat(ctx.memory().maxPosition(0)).isEqualTo(-1);

            // generate() works again, and its prefix reuse does not trust cells the scheduler touched.
            GenerationResult again = ctx.generate(PROMPTS.getFirst(), greedy(8)).result();
            assertThat(again.cachedPromptTokens()).isZero();
            assertThat(again.text()).isEqualTo(first.text());
        }
    }

    @Test
    void closingTheContextEndsTheSchedulersSequences() {
        Collector c = new Collector();
        SequenceScheduler scheduler;
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build())) {
            scheduler = ctx.newScheduler();
            scheduler.submit("Hello", greedy(50), c);
            scheduler.step();
        }
        assertThat(c.result.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(scheduler.isClosed()).isTrue();
        scheduler.close();
    }

    @Test
    void contextCancelEndsEverySequenceAndListenerFailuresEndOnlyTheirOwn() {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(3).contextSize(768).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            RuntimeException boom = new IllegalStateException("listener failed");
            SequenceScheduler.Sequence failing = scheduler.submit("Hello", greedy(20), (s, t) -> {
                throw boom;
            });
            Collector ok = new Collector();
            SequenceScheduler.Sequence fine = scheduler.submit("World", greedy(20), ok);
            scheduler.step();
            assertThat(failing.isFinished()).isTrue();
            assertThat(failing.failure()).containsSame(boom);
            assertThat(failing.result().orElseThrow().finishReason()).isEqualTo(FinishReason.ERROR);
            assertThat(ctx.memory().maxPosition(failing.id())).isEqualTo(-1);
            assertThat(fine.isFinished()).isFalse();

            ctx.cancel();
            scheduler.step();
            assertThat(ok.result.finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(scheduler.hasWork()).isFalse();

            // The abort flag is spent: new work runs normally.
            Collector after = new Collector();
            scheduler.submit("Again", greedy(3), after);
            runToEnd(scheduler);
            assertThat(after.result.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
        }
    }

    @Test
    void oneThreadAtATime() throws Exception {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicReference<Throwable> fromOtherThread = new AtomicReference<>();
            scheduler.submit("Hello", greedy(2), (s, t) -> {
                if (inside.getCount() > 0) {
                    inside.countDown();
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    inside.await(30, TimeUnit.SECONDS);
                    scheduler.step();
                } catch (Throwable e) {
                    fromOtherThread.set(e);
                } finally {
                    release.countDown();
                }
            });
            runToEnd(scheduler);
            other.join();
            assertThat(fromOtherThread.get()).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("one thread at a time");
        }
    }

    @Test
    void probabilitiesComeFromEachSequencesOwnLogits() {
        GenerateOptions withProbabilities = greedy(6).toBuilder().probabilities(true).build();
        List<Token> aloneA = single(PROMPTS.get(0), withProbabilities);
        List<Token> aloneB = single(PROMPTS.get(1), withProbabilities);
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(2).contextSize(512).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            Collector a = new Collector();
            Collector b = new Collector();
            scheduler.submit(PROMPTS.get(0), withProbabilities, a);
            scheduler.submit(PROMPTS.get(1), withProbabilities, b);
            runToEnd(scheduler);
            // Same tokens, and the same probabilities up to float rounding: a batch of several sequences takes other
            // matrix-multiplication paths than a single token does, so logits agree to ~1e-6, not bit for bit.
            for (int i = 0; i < 6; i++) {
                assertThat(a.tokens.get(i).id()).isEqualTo(aloneA.get(i).id());
                assertThat(a.tokens.get(i).probability()).isBetween(0f, 1f)
                        .isCloseTo(aloneA.get(i).probability(), withinPercentage(0.01));
                assertThat(b.tokens.get(i).probability()).isCloseTo(aloneB.get(i).probability(), withinPercentage(0.01));
            }
            // Each sequence's probabilities are its own (a wrong batch index would read the other's logits).
            assertThat(a.tokens.get(0).probability()).isNotEqualTo(b.tokens.get(0).probability());
        }
    }

    @Test
    void seededSamplingPerSequenceIsReproducible() {
        GenerateOptions seeded = GenerateOptions.builder().maxTokens(16)
                .sampler(Sampler.builder().seed(77).temperature(1.2f).topK(0).topP(1.0f).minP(0.0f).build()).build();
        List<Integer> alone = ids(single("Seeds grow", seeded));
        Map<Integer, Collector> byId = new HashMap<>();
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().sequences(3).contextSize(768).build());
             SequenceScheduler scheduler = ctx.newScheduler()) {
            for (int i = 0; i < 3; i++) {
                Collector c = new Collector();
                byId.put(scheduler.submit("Seeds grow", seeded, c).id(), c);
            }
            runToEnd(scheduler);
        }
        for (Collector c : byId.values()) {
            assertThat(ids(c.tokens)).isEqualTo(alone);
        }
    }
}
