package io.github.llamaffm.spring.boot;

import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.GenerationService;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.time.Duration;
import java.util.function.Consumer;

/**
 * Micrometer meters of the generation service: {@code llama.ffm.queue.depth} (requests waiting for a sequence),
 * {@code llama.ffm.active.sequences}, {@code llama.ffm.generated.tokens} (counter), and per chat reply
 * {@code llama.ffm.time.to.first.token} (timer: from submission to the first sampled token, queueing included) and
 * {@code llama.ffm.tokens.per.second} (summary of the generation speed).
 */
public final class LlamaFfmMetrics implements MeterBinder, Consumer<GenerationResult> {
    private final GenerationService service;
    private volatile Timer timeToFirstToken;
    private volatile DistributionSummary tokensPerSecond;

    public LlamaFfmMetrics(GenerationService service) {
        this.service = service;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        Gauge.builder("llama.ffm.queue.depth", service, GenerationService::queued)
                .description("requests waiting for a free sequence").register(registry);
        Gauge.builder("llama.ffm.active.sequences", service, GenerationService::active)
                .description("requests generating now").register(registry);
        FunctionCounter.builder("llama.ffm.generated.tokens", service, GenerationService::generatedTokens)
                .description("tokens generated since start").register(registry);
        timeToFirstToken = Timer.builder("llama.ffm.time.to.first.token")
                .description("from submission to the first sampled token").register(registry);
        tokensPerSecond = DistributionSummary.builder("llama.ffm.tokens.per.second").baseUnit("tokens/s")
                .description("generation speed of each reply").register(registry);
    }

    /** Records a finished reply. */
    @Override
    public void accept(GenerationResult result) {
        Timer t = timeToFirstToken;
        DistributionSummary s = tokensPerSecond;
        if (t != null && result.generatedTokens() > 0) {
            t.record(Duration.ofNanos((long) (result.promptMillis() * 1_000_000)));
        }
        if (s != null && result.tokensPerSecond() > 0) {
            s.record(result.tokensPerSecond());
        }
    }
}
