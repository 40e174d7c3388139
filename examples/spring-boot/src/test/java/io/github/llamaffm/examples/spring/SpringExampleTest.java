package io.github.llamaffm.examples.spring;

import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The example runs end to end (call, stream, tools, structured output) on a generated tiny model with Qwen 2.5's
 * chat template (random weights: the text is gibberish, the record is still decoded from constrained JSON).
 */
class SpringExampleTest {
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theExampleRuns() throws Exception {
        String qwen = Files.readString(TestModels.llamaSource().resolve("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            SpringExample.main(new String[] {"--llama-ffm.model=" + TestModels.tiny(), "--llama-ffm.gpu-layers=0",
                    // Room for the longest reply the record's JSON Schema grammar allows (bounded whitespace, at most
                    // 16-digit number parts: under 250 characters): random weights and an unseeded sampler can pick
                    // the longest; with 48 tokens the JSON was sometimes cut short (seen in CI).
                    "--llama-ffm.context-size=2048", "--llama-ffm.chat.max-tokens=320",
                    "--llama-ffm.chat-template=" + qwen});
        } finally {
            System.setOut(stdout);
        }
        String printed = out.toString(StandardCharsets.UTF_8);
        assertThat(printed).contains("call:   ", "stream: ", "tools:  ");
        assertThat(printed).containsPattern("entity: Sentiment\\[label=(POSITIVE|NEGATIVE|NEUTRAL), confidence=");
    }
}
