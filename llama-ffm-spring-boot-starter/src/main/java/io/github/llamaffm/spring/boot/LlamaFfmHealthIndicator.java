package io.github.llamaffm.spring.boot;

import io.github.llamaffm.GenerationService;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/** UP while the generation service runs, with the model, sequences, active and queued requests; DOWN once closed. */
public final class LlamaFfmHealthIndicator implements HealthIndicator {
    private final LlamaFfmServing serving;

    public LlamaFfmHealthIndicator(LlamaFfmServing serving) {
        this.serving = serving;
    }

    @Override
    public Health health() {
        GenerationService s = serving.service();
        Health.Builder b = s.isClosed() ? Health.down() : Health.up();
        return b.withDetail("model", serving.model().path().getFileName().toString())
                .withDetail("sequences", s.sequences())
                .withDetail("active", s.active())
                .withDetail("queued", s.queued())
                .build();
    }
}
