package io.github.llamaffm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.examples.cli.DemoModel;
import io.github.llamaffm.examples.server.OpenAiServer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15's kill check through {@code serve}: with the demo model split across a loopback {@code ggml-rpc-server}
 * and the CPU, the server process is killed while a streaming chat request is generating. The stream ends with an
 * OpenAI error event (no {@code [DONE]} after made-up tokens), later requests get a prompt 500 rather than a hang,
 * {@code /health} still answers, and this JVM goes on.
 */
@Tag("tiny-model")
@Tag("slow")
@EnabledIf("serverBuilt")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RpcServeKillTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path demoCache;

    static boolean serverBuilt() {
        return Files.isExecutable(LlamaRuntime.libraryDirectory().resolve("ggml-rpc-server"));
    }

    @Test
    void killingTheRpcServerMidStreamEndsThatRequestWithAnErrorAndTheServerStaysUp() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process rpc = new ProcessBuilder(LlamaRuntime.libraryDirectory().resolve("ggml-rpc-server").toString(),
                "--host", "127.0.0.1", "--port", Integer.toString(port), "--threads", "1")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        List<String> serverLog = new CopyOnWriteArrayList<>();
        try {
            awaitPort(rpc, port);
            // The demo model's output layer on the RPC server, the rest on the CPU.
            try (LlamaModel model = LlamaModel.load(DemoModel.path(demoCache, new PrintWriter(new StringWriter())),
                    ModelOptions.builder().rpcServers(List.of("127.0.0.1:" + port)).gpuLayers(1).build());
                 OpenAiServer server = OpenAiServer.start(model,
                         ContextOptions.builder().sequences(2).contextSize(1024).threads(1).batchThreads(1).build(),
                         OpenAiServer.Options.defaults("demo").withPort(0).withEmbeddings(false), serverLog::add)) {
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                        .connectTimeout(Duration.ofSeconds(10)).build();
                String body = "{\"model\":\"demo\",\"stream\":true,\"max_tokens\":400,\"temperature\":0,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell a long story.\"}]}";
                HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/chat/completions"))
                        .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
                assertThat(r.statusCode()).isEqualTo(200);
                int contentChunks = 0;
                JsonNode error = null;
                boolean done = false;
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        if (!line.startsWith("data: ")) {
                            continue;
                        }
                        String data = line.substring(6);
                        if (data.equals("[DONE]")) {
                            done = true;
                            break;
                        }
                        JsonNode event = JSON.readTree(data);
                        if (event.has("error")) {
                            error = event.get("error");
                            continue;
                        }
                        if (event.path("choices").path(0).path("delta").has("content")
                                && ++contentChunks == 3) {
                            rpc.destroyForcibly().waitFor();
                        }
                    }
                }
                assertThat(contentChunks).as("tokens streamed before the kill").isGreaterThanOrEqualTo(3);
                assertThat(error).as("the stream ends with an error event").isNotNull();
                assertThat(error.path("type").asText()).isEqualTo("server_error");
                assertThat(error.path("message").asText()).contains("RPC server 127.0.0.1:" + port);
                assertThat(done).as("no [DONE] after a failed generation").isFalse();

                // The next request fails promptly with a 500 (the model has lost a device), not a hang.
                HttpResponse<String> next = http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/chat/completions"))
                        .timeout(Duration.ofMinutes(1)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body.replace("\"stream\":true", "\"stream\":false")))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(next.statusCode()).as(next.body()).isEqualTo(500);
                assertThat(JSON.readTree(next.body()).path("error").path("message").asText()).contains("RPC server");

                HttpResponse<String> health = http.send(HttpRequest.newBuilder(
                        URI.create(server.baseUri().resolve("/health").toString())).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(health.statusCode()).isEqualTo(200);
                assertThat(server.requestsInFlight()).isZero();
            }
            assertThat(serverLog).as("the server logged the failed decodes").isNotEmpty()
                    .allMatch(line -> line.startsWith("decode failed: "), "decode failures only");
        } finally {
            rpc.destroyForcibly();
        }
    }

    private static void awaitPort(Process p, int port) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("ggml-rpc-server did not come up on port " + port, e);
                }
                Thread.sleep(50);
            }
        }
    }
}
