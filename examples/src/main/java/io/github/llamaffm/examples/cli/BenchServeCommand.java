package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.examples.Cli;
import io.github.llamaffm.examples.server.LoadTest;
import io.github.llamaffm.examples.server.OpenAiServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code llama-ffm bench-serve}: a bounded loopback load test of {@code serve}. Starts the server on a free
 * 127.0.0.1 port (or targets {@code --url}), runs N concurrent streaming chat clients for a fixed time, and prints
 * throughput, latency percentiles and errors.
 */
@Command(name = "bench-serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Load-test the OpenAI-compatible server: start it on a free loopback port (or use --url), run "
                + "--clients concurrent streaming chat clients back to back for --duration seconds, then print total "
                + "throughput (completion tokens/s), time to first token and request latency percentiles, and errors.",
                "Each client sends one request at a time (closed loop); requests running at the deadline finish."},
        footer = {"", "Examples:",
                "  llama-ffm bench-serve --clients 1 --duration 20",
                "  llama-ffm bench-serve --clients 4 --duration 20 --parallel 4 -n 64"})
public final class BenchServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Option(names = {"-N", "--clients"}, paramLabel = "N", order = 30,
            description = "Concurrent clients. Default: ${DEFAULT-VALUE}.")
    int clients = 4;

    @Option(names = {"-d", "--duration"}, paramLabel = "SECONDS", order = 31,
            description = "How long clients keep sending requests. Default: ${DEFAULT-VALUE}.")
    int duration = 20;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", order = 32,
            description = "max_tokens of each request. Default: ${DEFAULT-VALUE}.")
    int maxTokens = 64;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", order = 33,
            description = "Sequences of the started server. Default: ${DEFAULT-VALUE}.")
    int parallel = 4;

    @Option(names = "--prompt", paramLabel = "TEXT", order = 34, description = "User message of every request.")
    String prompt = "Write a short story about a llama who learns to program in Java.";

    @Option(names = "--url", paramLabel = "URL", order = 35,
            description = "Load-test this running server (its /v1 base URL) instead of starting one.")
    URI url;

    @Option(names = "--api-key", paramLabel = "KEY", order = 36, description = "Bearer key for --url.")
    String apiKey;

    @Option(names = "--warmup", paramLabel = "N", order = 37,
            description = "Untimed requests sent first (JIT and caches). Default: ${DEFAULT-VALUE}.")
    int warmup = 2;

    @Option(names = "--json", order = 38, description = "Print one JSON object instead of the table.")
    boolean json;

    @Override
    public Integer call() throws IOException, InterruptedException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        validate();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (url != null) {
            LoadTest.Result r = measure(url, apiKey, "default", err);
            report(out, r, url.toString(), null, 0);
            return r.errors() == 0 ? 0 : 1;
        }
        ContextOptions contextOptions = contextArgs.options().toBuilder().sequences(parallel).build();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false)) {
            String modelId = ServeCommand.modelName(model.path());
            OpenAiServer.Options options = OpenAiServer.Options.defaults(modelId).withPort(0)
                    .withMaxQueue(Math.max(16, clients));
            LoadTest.Result r;
            long decodeCalls;
            try (OpenAiServer server = OpenAiServer.start(model, contextOptions, options, line -> {
                err.println("server: " + line);
                err.flush();
            })) {
                err.printf(Locale.ROOT, "server on %s: %d sequences of %d tokens, %d threads%n", server.baseUri(),
                        server.sequences(), server.sequenceContextSize(),
                        contextOptions.threads().orElseGet(ContextOptions::defaultThreads));
                err.flush();
                long before = server.decodeCalls();
                r = measure(server.baseUri(), null, modelId, err);
                decodeCalls = server.decodeCalls() - before;
            }
            report(out, r, model.path().getFileName().toString() + (modelArgs.isDemo() ? " (demo model)" : ""),
                    contextOptions, decodeCalls);
            return r.errors() == 0 ? 0 : 1;
        }
    }

    private LoadTest.Result measure(URI base, String key, String modelId, PrintWriter err) throws InterruptedException {
        if (warmup > 0) {
            err.println("warm-up: " + warmup + " request(s)");
            err.flush();
            int failed = LoadTest.warmUp(new LoadTest.Config(base, key, modelId, 1, Duration.ZERO, maxTokens, prompt),
                    warmup);
            if (failed > 0) {
                err.println("warning: " + failed + " warm-up request(s) failed");
            }
        }
        err.printf(Locale.ROOT, "running %d client(s) for %d s, max_tokens %d ...%n", clients, duration, maxTokens);
        err.flush();
        return LoadTest.run(new LoadTest.Config(base, key, modelId, clients, Duration.ofSeconds(duration), maxTokens,
                prompt));
    }

    private void report(PrintWriter out, LoadTest.Result r, String target, ContextOptions ctx, long decodeCalls) {
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("target", target);
            m.put("clients", r.clients());
            m.put("parallel", url == null ? parallel : null);
            m.put("threads", ctx != null ? ctx.threads().orElseGet(ContextOptions::defaultThreads) : null);
            m.put("maxTokens", maxTokens);
            m.put("seconds", r.seconds());
            m.put("requests", r.requests());
            m.put("errors", r.errors());
            m.put("completionTokens", r.completionTokens());
            m.put("tokensPerSecond", r.tokensPerSecond());
            m.put("ttftMillis", percentiles(r.ttftMillis()));
            m.put("totalMillis", percentiles(r.totalMillis()));
            if (decodeCalls > 0) {
                m.put("decodeCalls", decodeCalls);
            }
            m.put("errorSamples", r.errorSamples());
            m.put("llamaCpp", LlamaRuntime.llamaCppVersion());
            Json.print(out, m);
            return;
        }
        out.printf(Locale.ROOT, "target: %s%n", target);
        out.printf(Locale.ROOT, "clients: %d, max_tokens: %d%s, duration: %.1f s%n", r.clients(), maxTokens,
                url == null ? ", parallel sequences: " + parallel + ", threads: " + ctx.threads().orElseGet(ContextOptions::defaultThreads) : "", r.seconds());
        out.printf(Locale.ROOT, "requests: %d ok, %d errors; completion tokens: %d%n", r.requests() - r.errors(),
                r.errors(), r.completionTokens());
        out.printf(Locale.ROOT, "throughput: %.1f tokens/s total%s%n", r.tokensPerSecond(),
                decodeCalls > 0 ? String.format(Locale.ROOT, " (%d decode calls, %.2f generated tokens per decode)",
                        decodeCalls, (double) r.completionTokens() / decodeCalls) : "");
        out.printf(Locale.ROOT, "| %-22s | %9s | %9s | %9s | %9s |%n", "latency (ms)", "p50", "p90", "p99", "max");
        out.printf(Locale.ROOT, "| %-22s | %9s | %9s | %9s | %9s |%n", "-".repeat(22), "--------:", "--------:",
                "--------:", "--------:");
        row(out, "time to first token", r.ttftMillis());
        row(out, "total", r.totalMillis());
        for (String e : r.errorSamples()) {
            out.println("error: " + e);
        }
        out.flush();
    }

    private static void row(PrintWriter out, String name, double[] sorted) {
        out.printf(Locale.ROOT, "| %-22s | %9.1f | %9.1f | %9.1f | %9.1f |%n", name,
                LoadTest.Result.percentile(sorted, 50), LoadTest.Result.percentile(sorted, 90),
                LoadTest.Result.percentile(sorted, 99), LoadTest.Result.percentile(sorted, 100));
    }

    private static Map<String, Double> percentiles(double[] sorted) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int p : List.of(50, 90, 95, 99, 100)) {
            m.put(p == 100 ? "max" : "p" + p, LoadTest.Result.percentile(sorted, p));
        }
        return m;
    }

    private void validate() {
        if (clients < 1 || clients > 1024) {
            throw new ParameterException(spec.commandLine(), "--clients must be in 1..1024, was " + clients);
        }
        if (duration < 1 || duration > 3600) {
            throw new ParameterException(spec.commandLine(), "--duration must be in 1..3600 seconds, was " + duration);
        }
        if (maxTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be > 0, was " + maxTokens);
        }
        if (parallel < 1 || parallel > 256) {
            throw new ParameterException(spec.commandLine(), "--parallel must be in 1..256, was " + parallel);
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must be >= 0, was " + warmup);
        }
    }
}
