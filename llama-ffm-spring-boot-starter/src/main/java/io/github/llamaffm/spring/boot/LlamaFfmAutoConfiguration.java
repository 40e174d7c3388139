package io.github.llamaffm.spring.boot;

import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.springai.LlamaFfmChatModel;
import io.github.llamaffm.springai.LlamaFfmEmbeddingModel;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Configures llama-ffm from {@code llama-ffm.*} properties ({@link LlamaFfmProperties}) when {@code llama-ffm.model}
 * is set: the loaded model served by a {@link GenerationService}, a Spring AI {@link ChatModel}, an
 * {@link EmbeddingModel} when {@code llama-ffm.embedding.enabled=true}, a health indicator when Spring Boot's health
 * support is present and Micrometer meters when Micrometer is.
 */
@AutoConfiguration
@ConditionalOnClass({LlamaModel.class, ChatModel.class})
@ConditionalOnProperty(prefix = "llama-ffm", name = "model")
@EnableConfigurationProperties(LlamaFfmProperties.class)
public class LlamaFfmAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    public LlamaFfmServing llamaFfmServing(LlamaFfmProperties properties) {
        return new LlamaFfmServing(properties);
    }

    /** Closed by {@link LlamaFfmServing}. */
    @Bean(destroyMethod = "")
    @ConditionalOnMissingBean
    public GenerationService llamaFfmGenerationService(LlamaFfmServing serving) {
        return serving.service();
    }

    @Bean
    @ConditionalOnMissingBean(ChatModel.class)
    public LlamaFfmChatModel llamaFfmChatModel(LlamaFfmServing serving, LlamaFfmProperties properties,
                                               ObjectProvider<LlamaFfmMetrics> metrics) {
        LlamaFfmProperties.Chat c = properties.getChat();
        return LlamaFfmChatModel.builder().service(serving.service()).chatTemplate(properties.getChatTemplate())
                .defaultOptions(ChatOptions.builder().temperature(c.getTemperature()).topP(c.getTopP())
                        .topK(c.getTopK()).maxTokens(c.getMaxTokens()).build())
                .resultListener(metrics.getIfAvailable())
                .build();
    }

    @Bean
    @ConditionalOnMissingBean(EmbeddingModel.class)
    @ConditionalOnProperty(prefix = "llama-ffm.embedding", name = "enabled", havingValue = "true")
    public LlamaFfmEmbeddingModel llamaFfmEmbeddingModel(LlamaFfmServing serving) {
        return new LlamaFfmEmbeddingModel(serving.embeddingContext());
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    static class Health {
        @Bean
        @ConditionalOnMissingBean(name = "llamaFfmHealthIndicator")
        LlamaFfmHealthIndicator llamaFfmHealthIndicator(LlamaFfmServing serving) {
            return new LlamaFfmHealthIndicator(serving);
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.micrometer.core.instrument.MeterRegistry")
    static class Metrics {
        @Bean
        @ConditionalOnMissingBean
        LlamaFfmMetrics llamaFfmMetrics(LlamaFfmServing serving) {
            return new LlamaFfmMetrics(serving.service());
        }
    }
}
