package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A closed-loop load generator for an OpenAI-compatible server: {@code clients} threads each send streaming chat
 * completion requests one after another until {@code duration} has passed (requests running at the deadline
 * finish), timing the first content chunk and the whole request, and counting completion tokens from the streamed
 * usage. A benchmark tool, not a test.
 */
public final class LoadTest {
    private LoadTest() {
    }

    /** What to send. */
    public record Config(URI baseUri, String apiKey, String model, int clients, Duration duration, int maxTokens,
                         String prompt) {}

    /**
     * The outcome.
     *
     * @param seconds         wall time from the first request to the end of the last
     * @param completionTokens tokens generated in successful requests (from the streamed usage)
     * @param ttftMillis      time to first content chunk of each successful request, sorted
     * @param totalMillis     duration of each successful request, sorted
     * @param errorSamples    up to 5 error messages
     */
    public record Result(int clients, double seconds, int requests, int errors, long completionTokens,
                         double[] ttftMillis, double[] totalMillis, List<String> errorSamples) {
        public double tokensPerSecond() {
            return seconds > 0 ? completionTokens / seconds : 0;
        }

        /** Nearest-rank percentile ({@code p} in 0..100) of sorted values; NaN if none. */
        public static double percentile(double[] sorted, double p) {
            if (sorted.length == 0) {
                return Double.NaN;
            }
            int rank = (int) Math.ceil(p / 100.0 * sorted.length);
            return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
        }
    }

    private record One(boolean ok, double ttftMillis, double totalMillis, long tokens, String error) {}

    public static Result run(Config config) throws InterruptedException {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        long start = System.nanoTime();
        long deadline = start + config.duration().toNanos();
        AtomicLong lastEnd = new AtomicLong(start);
        List<One> all = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < config.clients(); c++) {
            int clientIndex = c;
            threads.add(Thread.ofPlatform().name("load-client-" + c).start(() -> {
                int n = 0;
                while (System.nanoTime() < deadline) {
                    One one = request(client, config, config.prompt() + " (client " + clientIndex + ", request " + n++ + ")");
                    all.add(one);
                    lastEnd.accumulateAndGet(System.nanoTime(), Math::max);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        double seconds = (lastEnd.get() - start) / 1e9;
        List<One> ok = all.stream().filter(One::ok).toList();
        double[] ttft = ok.stream().mapToDouble(One::ttftMillis).sorted().toArray();
        double[] total = ok.stream().mapToDouble(One::totalMillis).sorted().toArray();
        long tokens = ok.stream().mapToLong(One::tokens).sum();
        List<String> errors = all.stream().filter(o -> !o.ok()).map(One::error).limit(5).toList();
        return new Result(config.clients(), seconds, all.size(), all.size() - ok.size(), tokens, ttft, total, errors);
    }

    /** Sends {@code requests} requests one after another, untimed (warm-up); returns how many failed. */
    public static int warmUp(Config config, int requests) {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        int failed = 0;
        for (int i = 0; i < requests; i++) {
            if (!request(client, config, config.prompt()).ok()) {
                failed++;
            }
        }
        return failed;
    }

    /** One streaming chat completion; never throws. */
    static One request(HttpClient client, Config config, String prompt) {
        ObjectNode body = Requests.MAPPER.createObjectNode()
                .put("model", config.model())
                .put("max_tokens", config.maxTokens())
                .put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        body.putArray("messages").addObject().put("role", "user").put("content", prompt);
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(config.baseUri() + "/chat/completions"))
                .timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()));
        if (config.apiKey() != null) {
            rb.header("Authorization", "Bearer " + config.apiKey());
        }
        long t0 = System.nanoTime();
        try {
            HttpResponse<Stream<String>> response = client.send(rb.build(), HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = response.body()) {
                if (response.statusCode() != 200) {
                    String text = String.join("\n", lines.limit(5).toList());
                    return new One(false, 0, 0, 0, "HTTP " + response.statusCode() + ": "
                            + (text.length() > 200 ? text.substring(0, 200) : text));
                }
                double ttft = Double.NaN;
                long tokens = -1;
                long chunks = 0;
                boolean done = false;
                for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                    String line = it.next();
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        done = true;
                        break;
                    }
                    JsonNode chunk = Requests.MAPPER.readTree(data);
                    if (chunk.has("error")) {
                        return new One(false, 0, 0, 0, "stream error: " + chunk.get("error").path("message").asText());
                    }
                    String content = chunk.path("choices").path(0).path("delta").path("content").asText("");
                    if (!content.isEmpty()) {
                        chunks++;
                        if (Double.isNaN(ttft)) {
                            ttft = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                    if (chunk.hasNonNull("usage")) {
                        tokens = chunk.get("usage").path("completion_tokens").asLong();
                    }
                }
                double total = (System.nanoTime() - t0) / 1e6;
                if (!done) {
                    return new One(false, 0, 0, 0, "stream ended without [DONE]");
                }
                return new One(true, Double.isNaN(ttft) ? total : ttft, total, tokens >= 0 ? tokens : chunks, null);
            }
        } catch (IOException | RuntimeException e) {
            return new One(false, 0, 0, 0, e.getClass().getSimpleName() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new One(false, 0, 0, 0, "interrupted");
        }
    }
}
