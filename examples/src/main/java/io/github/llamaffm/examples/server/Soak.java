package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.stream.Stream;

/**
 * A bounded soak of an OpenAI-compatible server: {@code clients} threads send requests back to back until the
 * duration has passed. Each request is, at random (seeded per client), a normal streaming chat completion that must
 * end in {@code [DONE]}, a streaming request whose client disconnects after a few chunks, or a bad request (broken
 * JSON, invalid UTF-8, a lone surrogate, wrong types, out-of-range values, a body over the limit, wrong method or
 * path) that must get a 4xx JSON error. Anything else (a 5xx, a dropped connection, a 2xx for a bad request, a stream
 * without {@code [DONE]}) is an unexpected error. Resident memory is sampled once a second. A test tool, not a test.
 */
public final class Soak {
    private Soak() {
    }

    /**
     * What to run.
     *
     * @param disconnectShare fraction of requests whose client disconnects mid-stream
     * @param badShare        fraction of requests that are malformed
     */
    public record Config(URI baseUri, String model, int clients, Duration duration, int maxTokens,
                         double disconnectShare, double badShare, long seed, long maxBodyBytes) {}

    /**
     * The outcome.
     *
     * @param rssMiB resident set size of this process, one sample per second (empty where not measurable)
     */
    public record Result(int clients, double seconds, long completed, long disconnected, long badRejected,
                         long unexpected, long completionTokens, List<String> unexpectedSamples, List<Double> rssMiB) {
        /** RSS after the first quarter of the run (warm-up), or NaN. */
        public double rssAfterWarmUp() {
            return rssMiB.isEmpty() ? Double.NaN : rssMiB.get(rssMiB.size() / 4);
        }

        /** RSS at the end, or NaN. */
        public double rssEnd() {
            return rssMiB.isEmpty() ? Double.NaN : rssMiB.getLast();
        }

        /** Highest RSS sample, or NaN. */
        public double rssMax() {
            return rssMiB.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
        }
    }

    /** Bad requests and the paths they go to; each must be answered with a 4xx. */
    private record Bad(String name, String method, String path, byte[] body) {}

    private static List<Bad> badRequests(String model, long maxBodyBytes) {
        String ok = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        List<Bad> bad = new ArrayList<>();
        bad.add(new Bad("broken JSON", "POST", "/chat/completions", utf8("{\"messages\": [")));
        bad.add(new Bad("not an object", "POST", "/chat/completions", utf8("[1,2,3]")));
        bad.add(new Bad("empty body", "POST", "/chat/completions", new byte[0]));
        bad.add(new Bad("no messages", "POST", "/chat/completions", utf8("{\"model\":\"" + model + "\"}")));
        bad.add(new Bad("empty messages", "POST", "/chat/completions", utf8("{\"messages\":[]}")));
        bad.add(new Bad("negative max_tokens", "POST", "/chat/completions", utf8(ok + ",\"max_tokens\":-5}")));
        bad.add(new Bad("huge max_tokens", "POST", "/chat/completions", utf8(ok + ",\"max_tokens\":1e300}")));
        bad.add(new Bad("temperature as text", "POST", "/chat/completions", utf8(ok + ",\"temperature\":\"hot\"}")));
        bad.add(new Bad("NaN top_p", "POST", "/chat/completions", utf8(ok + ",\"top_p\":NaN}")));
        bad.add(new Bad("unknown role", "POST", "/chat/completions",
                utf8("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}")));
        bad.add(new Bad("lone surrogate", "POST", "/chat/completions",
                utf8("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\ud800b\"}]}")));
        byte[] invalidUtf8 = utf8("{\"messages\":[{\"role\":\"user\",\"content\":\"a__b\"}]}");
        int at = new String(invalidUtf8, StandardCharsets.ISO_8859_1).indexOf("__");
        invalidUtf8[at] = (byte) 0xC3;
        invalidUtf8[at + 1] = (byte) 0x28;
        bad.add(new Bad("invalid UTF-8", "POST", "/chat/completions", invalidUtf8));
        bad.add(new Bad("token out of range", "POST", "/completions", utf8("{\"prompt\":[1, 99999999]}")));
        bad.add(new Bad("prompt too long", "POST", "/completions", utf8("{\"prompt\":\"" + "word ".repeat(40_000) + "\"}")));
        bad.add(new Bad("body over the limit", "POST", "/chat/completions", new byte[(int) Math.min(maxBodyBytes + 1, 64 << 20)]));
        bad.add(new Bad("wrong method", "GET", "/chat/completions", null));
        bad.add(new Bad("unknown path", "POST", "/chat/completion", utf8(ok + "}")));
        return bad;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Runs the soak.
     *
     * @param inFlight requests the server still holds, polled at the end until it reaches 0 (every sequence freed)
     */
    public static Result run(Config config, LongSupplier inFlight) throws InterruptedException {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        List<Bad> bad = badRequests(config.model(), config.maxBodyBytes());
        long start = System.nanoTime();
        long deadline = start + config.duration().toNanos();
        AtomicLong completed = new AtomicLong();
        AtomicLong disconnected = new AtomicLong();
        AtomicLong badRejected = new AtomicLong();
        AtomicLong tokens = new AtomicLong();
        List<String> unexpected = Collections.synchronizedList(new ArrayList<>());
        List<Double> rss = Collections.synchronizedList(new ArrayList<>());
        Thread sampler = Thread.ofPlatform().name("soak-rss").daemon().start(() -> {
            try {
                while (System.nanoTime() < deadline) {
                    double r = residentMiB();
                    if (!Double.isNaN(r)) {
                        rss.add(r);
                    }
                    Thread.sleep(1000);
                }
            } catch (InterruptedException ignored) {
                // stop sampling
            }
        });
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < config.clients(); c++) {
            SplittableRandom rnd = new SplittableRandom(config.seed() * 1_000_003 + c);
            int clientIndex = c;
            threads.add(Thread.ofPlatform().name("soak-client-" + c).start(() -> {
                for (int n = 0; System.nanoTime() < deadline; n++) {
                    double roll = rnd.nextDouble();
                    String error;
                    if (roll < config.badShare()) {
                        Bad b = bad.get(rnd.nextInt(bad.size()));
                        error = sendBad(client, config, b);
                        if (error == null) {
                            badRejected.incrementAndGet();
                        }
                    } else {
                        boolean disconnect = roll < config.badShare() + config.disconnectShare();
                        int stopAfter = disconnect ? rnd.nextInt(1, 4) : Integer.MAX_VALUE;
                        String prompt = "Tell a story, client " + clientIndex + " request " + n;
                        error = stream(client, config, prompt, stopAfter, tokens);
                        if (error == null) {
                            (disconnect ? disconnected : completed).incrementAndGet();
                        }
                    }
                    if (error != null) {
                        unexpected.add(error);
                    }
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        sampler.interrupt();
        sampler.join();
        // Every request has ended on the client side; the server must release what it held within a few seconds.
        long waitUntil = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (inFlight.getAsLong() != 0 && System.nanoTime() < waitUntil) {
            Thread.sleep(50);
        }
        long left = inFlight.getAsLong();
        if (left != 0) {
            unexpected.add("server still holds " + left + " request(s) 30 s after every client finished");
        }
        return new Result(config.clients(), seconds, completed.get(), disconnected.get(), badRejected.get(),
                unexpected.size(), tokens.get(), List.copyOf(unexpected.subList(0, Math.min(10, unexpected.size()))),
                List.copyOf(rss));
    }

    /** A bad request; null if it got the expected 4xx JSON error, else what went wrong. */
    private static String sendBad(HttpClient client, Config config, Bad b) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(config.baseUri() + b.path()))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json");
        rb.method(b.method(), b.body() == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(b.body()));
        try {
            HttpResponse<String> r = client.send(rb.build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() < 400 || r.statusCode() >= 500) {
                return b.name() + ": HTTP " + r.statusCode() + " " + abbreviate(r.body());
            }
            JsonNode error = Requests.MAPPER.readTree(r.body()).path("error");
            if (!error.path("message").isTextual()) {
                return b.name() + ": HTTP " + r.statusCode() + " without an OpenAI error body: " + abbreviate(r.body());
            }
            return null;
        } catch (IOException e) {
            // A body over the limit may be answered (413) before it is fully sent and the connection closed.
            return b.name().equals("body over the limit") ? null : b.name() + ": " + e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return b.name() + ": interrupted";
        }
    }

    /**
     * One streaming chat completion, read to {@code [DONE]} or, after {@code stopAfter} content chunks, abandoned
     * (the connection is closed). Null if it behaved, else what went wrong.
     */
    private static String stream(HttpClient client, Config config, String prompt, int stopAfter, AtomicLong tokens) {
        String body = "{\"model\":\"" + config.model() + "\",\"stream\":true,\"max_tokens\":" + config.maxTokens()
                + ",\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\""
                + prompt + "\"}]}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(config.baseUri() + "/chat/completions"))
                .timeout(Duration.ofMinutes(10)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        try {
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = response.body()) {
                if (response.statusCode() != 200) {
                    return "stream: HTTP " + response.statusCode() + " " + abbreviate(new String(in.readNBytes(300),
                            StandardCharsets.UTF_8));
                }
                int chunks = 0;
                try (Stream<String> lines = new java.io.BufferedReader(
                        new java.io.InputStreamReader(in, StandardCharsets.UTF_8)).lines()) {
                    for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                        String line = it.next();
                        if (!line.startsWith("data: ")) {
                            continue;
                        }
                        String data = line.substring(6);
                        if (data.equals("[DONE]")) {
                            return null;
                        }
                        JsonNode chunk = Requests.MAPPER.readTree(data);
                        if (chunk.has("error")) {
                            return "stream: error event " + abbreviate(data);
                        }
                        if (chunk.hasNonNull("usage")) {
                            tokens.addAndGet(chunk.get("usage").path("completion_tokens").asLong());
                        }
                        if (!chunk.path("choices").path(0).path("delta").path("content").asText("").isEmpty()
                                && ++chunks >= stopAfter) {
                            return null; // disconnect: closing the body closes the connection mid-stream
                        }
                    }
                }
                return stopAfter == Integer.MAX_VALUE ? "stream: ended without [DONE]" : null;
            }
        } catch (IOException e) {
            return "stream: " + e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "stream: interrupted";
        }
    }

    private static String abbreviate(String s) {
        s = s.replace('\n', ' ');
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    /** VmRSS of this process in MiB (Linux /proc), or NaN elsewhere. */
    public static double residentMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return Double.NaN;
    }
}
