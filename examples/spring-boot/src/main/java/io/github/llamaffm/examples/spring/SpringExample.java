package io.github.llamaffm.examples.spring;

import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.tool.annotation.Tool;
import org.springframework.ai.tool.annotation.ToolParam;
import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;

/**
 * Spring Boot + Spring AI on llama-ffm, in process: the starter configures a {@link ChatModel} from
 * {@code application.properties} ({@code llama-ffm.model}: a path, a URL or {@code hf:owner/repo/file.gguf}), and
 * {@link ChatClient} calls it, streams it, lets it call a {@code @Tool} method and returns a record constrained by
 * its JSON Schema.
 *
 * <p>Run: {@code mvn -q -pl examples/spring-boot -am install -DskipTests} once, then
 * {@code mvn -q -pl examples/spring-boot exec:java
 * -Dllama-ffm.model=hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf}
 * (downloaded once into {@code ~/.cache/llama-ffm/models}).
 */
@SpringBootApplication
public class SpringExample {
    public static void main(String[] args) {
        SpringApplication.run(SpringExample.class, args).close();
    }

    /** Tools the model may call: Spring AI's tool-calling advisor runs them and sends the results back. */
    static final class Clock {
        @Tool(description = "The current date and time in a time zone")
        String now(@ToolParam(description = "IANA time zone, e.g. Europe/Paris") String zone) {
            return ZonedDateTime.now(ZoneId.of(zone)).format(DateTimeFormatter.RFC_1123_DATE_TIME);
        }
    }

    enum Label { POSITIVE, NEGATIVE, NEUTRAL }

    /** What structured output returns: the reply is constrained to this record's JSON Schema. */
    record Sentiment(Label label, double confidence) {}

    @Bean
    CommandLineRunner demo(ChatModel model) {
        return args -> {
            ChatClient chat = ChatClient.create(model);
            System.out.println("call:   " + chat.prompt().user("What is sliding window attention? One line.")
                    .call().content());
            System.out.print("stream: ");
            chat.prompt().user("Name three llamas.").stream().content().doOnNext(System.out::print).blockLast();
            System.out.println();
            System.out.println("tools:  " + chat.prompt().user("What time is it in Tokyo?").tools(new Clock())
                    .call().content());
            Sentiment s = chat.prompt().user("Classify: 'The llama was delightful.'").call()
                    .entity(Sentiment.class, spec -> spec.useProviderStructuredOutput());
            System.out.println("entity: " + s);
        };
    }
}
