package io.github.llamaffm.examples;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import io.github.llamaffm.examples.server.Soak;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A short version of {@code llama-ffm soak-serve} (the README's soak figures come from the long one): a burst of
 * 64 concurrent clients against the default queue, a share disconnecting mid-stream and a share sending bad
 * requests; no unexpected error, no request left on the server, no server-side problem logged.
 */
@Tag("tiny-model")
@Tag("slow")
class SoakTest {
    @TempDir
    static Path demoCache;

    @Test
    void sixtyFourConcurrentClientsWithDisconnectsAndBadRequestsAreAllServed() throws Exception {
        List<String> serverLog = new CopyOnWriteArrayList<>();
        try (LlamaModel model = LlamaModel.load(DemoModel.path(demoCache, new PrintWriter(new StringWriter())));
             OpenAiServer server = OpenAiServer.start(model,
                     ContextOptions.builder().sequences(4).contextSize(2048).threads(2).batchThreads(2).build(),
                     OpenAiServer.Options.defaults("demo").withPort(0).withEmbeddings(false), serverLog::add)) {
            Soak.Result r = Soak.run(new Soak.Config(server.baseUri(), "demo", 64, Duration.ofSeconds(8), 8, 0.2, 0.15,
                    7, OpenAiServer.Options.defaults("demo").maxBodyBytes()), server::requestsInFlight);
            assertThat(r.unexpectedSamples()).isEmpty();
            assertThat(r.unexpected()).isZero();
            assertThat(r.completed()).isPositive();
            assertThat(r.disconnected()).isPositive();
            assertThat(r.badRejected()).isPositive();
            assertThat(server.requestsInFlight()).isZero();
        }
        assertThat(serverLog).as("server-side problems").isEmpty();
    }
}
