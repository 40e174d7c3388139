package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.Cli;
import io.github.llamaffm.examples.server.OpenAiServer;
import io.github.llamaffm.examples.server.Soak;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code llama-ffm soak-serve}: a bounded reliability soak of {@code serve} on loopback. Exit code 0 only if every
 * request behaved, the server released every request, and resident memory stayed flat after warm-up.
 */
@Command(name = "soak-serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Soak the OpenAI-compatible server: start it on a free loopback port with the default queue, "
                + "run --clients concurrent clients for --duration seconds, each sending at random a streaming chat "
                + "request read to the end, one that disconnects after a few chunks (--disconnect-share) or a bad "
                + "request that must get a 4xx (--bad-share). Then check that the server holds no request any more and "
                + "print counts, unexpected errors and resident memory (after warm-up = after the first quarter).",
                "Fails (exit 1) on any unexpected error, a request the server still holds, or resident memory at the "
                        + "end more than 10% + 32 MiB above its level after warm-up."},
        footer = {"", "Examples:",
                "  llama-ffm soak-serve --clients 64 --duration 600",
                "  llama-ffm soak-serve -m model.gguf --clients 16 --duration 60 --parallel 4"})
public final class SoakServeCommand implements Callable<Integer> {
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
    int clients = 64;

    @Option(names = {"-d", "--duration"}, paramLabel = "SECONDS", order = 31,
            description = "How long clients keep sending requests. Default: ${DEFAULT-VALUE}.")
    int duration = 600;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", order = 32,
            description = "max_tokens of each streaming request. Default: ${DEFAULT-VALUE}.")
    int maxTokens = 32;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", order = 33,
            description = "Sequences of the started server. Default: ${DEFAULT-VALUE}.")
    int parallel = 4;

    @Option(names = "--disconnect-share", paramLabel = "F", order = 34,
            description = "Fraction of requests whose client disconnects mid-stream. Default: ${DEFAULT-VALUE}.")
    double disconnectShare = 0.2;

    @Option(names = "--bad-share", paramLabel = "F", order = 35,
            description = "Fraction of requests that are malformed. Default: ${DEFAULT-VALUE}.")
    double badShare = 0.1;

    @Option(names = "--seed", paramLabel = "N", order = 36, description = "Seed of the clients' choices. Default: ${DEFAULT-VALUE}.")
    long seed = 1;

    @Option(names = "--json", order = 37, description = "Print one JSON object instead of text.")
    boolean json;

    @Override
    public Integer call() throws IOException, InterruptedException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        validate();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ContextOptions contextOptions = contextArgs.options().toBuilder().sequences(parallel).build();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false)) {
            String modelId = ServeCommand.modelName(model.path());
            OpenAiServer.Options options = OpenAiServer.Options.defaults(modelId).withPort(0);
            Soak.Result r;
            try (OpenAiServer server = OpenAiServer.start(model, contextOptions, options, line -> {
                err.println("server: " + line);
                err.flush();
            })) {
                err.printf(Locale.ROOT, "server on %s: %d sequences of %d tokens, queue %d; %d clients for %d s "
                                + "(%.0f%% disconnect mid-stream, %.0f%% bad requests) ...%n", server.baseUri(),
                        server.sequences(), server.sequenceContextSize(), options.maxQueue(), clients, duration,
                        disconnectShare * 100, badShare * 100);
                err.flush();
                r = Soak.run(new Soak.Config(server.baseUri(), modelId, clients, Duration.ofSeconds(duration),
                        maxTokens, disconnectShare, badShare, seed, options.maxBodyBytes()), server::requestsInFlight);
            }
            boolean rssFlat = Double.isNaN(r.rssEnd()) || r.rssEnd() <= r.rssAfterWarmUp() * 1.10 + 32;
            report(out, r, model.path().getFileName().toString() + (modelArgs.isDemo() ? " (demo model)" : ""), rssFlat);
            return r.unexpected() == 0 && rssFlat ? 0 : 1;
        }
    }

    private void report(PrintWriter out, Soak.Result r, String target, boolean rssFlat) {
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("target", target);
            m.put("clients", r.clients());
            m.put("parallel", parallel);
            m.put("seconds", r.seconds());
            m.put("completed", r.completed());
            m.put("disconnected", r.disconnected());
            m.put("badRejected", r.badRejected());
            m.put("unexpected", r.unexpected());
            m.put("completionTokens", r.completionTokens());
            m.put("rssAfterWarmUpMiB", r.rssAfterWarmUp());
            m.put("rssEndMiB", r.rssEnd());
            m.put("rssMaxMiB", r.rssMax());
            m.put("rssFlat", rssFlat);
            m.put("unexpectedSamples", r.unexpectedSamples());
            Json.print(out, m);
            return;
        }
        out.printf(Locale.ROOT, "target: %s; %d clients, %d parallel sequences, %.1f s%n", target, r.clients(), parallel,
                r.seconds());
        out.printf(Locale.ROOT, "requests: %d streamed to the end, %d disconnected mid-stream, %d bad requests answered "
                + "4xx; %d unexpected errors; %d completion tokens%n", r.completed(), r.disconnected(), r.badRejected(),
                r.unexpected(), r.completionTokens());
        out.printf(Locale.ROOT, "resident memory: %.1f MiB after warm-up, %.1f MiB at the end, %.1f MiB max (%s)%n",
                r.rssAfterWarmUp(), r.rssEnd(), r.rssMax(), rssFlat ? "flat" : "GREW");
        for (String e : r.unexpectedSamples()) {
            out.println("unexpected: " + e);
        }
        out.flush();
    }

    private void validate() {
        if (clients < 1 || clients > 1024) {
            throw new ParameterException(spec.commandLine(), "--clients must be in 1..1024, was " + clients);
        }
        if (duration < 1 || duration > 24 * 3600) {
            throw new ParameterException(spec.commandLine(), "--duration must be in 1..86400 seconds, was " + duration);
        }
        if (maxTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be > 0, was " + maxTokens);
        }
        if (parallel < 1 || parallel > 256) {
            throw new ParameterException(spec.commandLine(), "--parallel must be in 1..256, was " + parallel);
        }
        if (!(disconnectShare >= 0 && badShare >= 0 && disconnectShare + badShare <= 1)) {
            throw new ParameterException(spec.commandLine(),
                    "--disconnect-share and --bad-share must be >= 0 and add up to at most 1");
        }
    }
}
