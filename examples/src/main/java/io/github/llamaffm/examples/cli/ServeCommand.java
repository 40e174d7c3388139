package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.Cli;
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
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code llama-ffm serve}: an OpenAI-compatible HTTP API over one model, with continuous batching. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Serve the model over an OpenAI-compatible HTTP API: POST /v1/chat/completions, "
                + "POST /v1/completions (both with \"stream\": true as server-sent events), POST /v1/embeddings, "
                + "POST /v1/rerank (reranker models), GET /v1/models, GET /health.",
                "Up to --parallel requests generate at once and share every decode step (continuous batching); "
                        + "--ctx-size is the KV cache of all of them together, so each request holds "
                        + "ctx-size / parallel tokens (prompt and reply).",
                "Binds 127.0.0.1 (this machine only) unless --host says otherwise. Ctrl-C stops the server."},
        footer = {"", "Examples:",
                "  llama-ffm serve -m mistral-7b-instruct.gguf --parallel 4 -c 16384",
                "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\",
                "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":32}'"})
public final class ServeCommand implements Callable<Integer> {
    /** Environment variable read for the API key when --api-key is not given. */
    public static final String API_KEY_ENV = "LLAMA_FFM_API_KEY";

    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Option(names = "--host", paramLabel = "ADDRESS", order = 30,
            description = "Address to listen on. Default: ${DEFAULT-VALUE} (loopback only; 0.0.0.0 exposes the "
                    + "server to the network: use --api-key then).")
    String host = "127.0.0.1";

    @Option(names = "--port", paramLabel = "PORT", order = 31,
            description = "TCP port; 0 picks a free one. Default: ${DEFAULT-VALUE}.")
    int port = 8080;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", order = 32,
            description = "Requests generated at once (KV cache sequences). Default: ${DEFAULT-VALUE}.")
    int parallel = 4;

    @Option(names = "--max-queue", paramLabel = "N", order = 33,
            description = "Requests that may wait for a free sequence; beyond that the server answers 429 with "
                    + "Retry-After. A waiting request holds no KV cache memory (only its prompt), so the default is "
                    + "generous: a burst of many concurrent clients is queued, not refused (llama-server queues "
                    + "without a limit, Ollama 512). Default: ${DEFAULT-VALUE}.")
    int maxQueue = OpenAiServer.Options.DEFAULT_MAX_QUEUE;

    @Option(names = "--api-key", paramLabel = "KEY", order = 34,
            description = "Require 'Authorization: Bearer KEY' on /v1/ requests (401 otherwise). Default: $"
                    + API_KEY_ENV + " if set, else no key.")
    String apiKey;

    @Option(names = "--max-body-bytes", paramLabel = "BYTES", order = 35,
            description = "Largest request body accepted (413 beyond). Default: ${DEFAULT-VALUE}.")
    long maxBodyBytes = 4L << 20;

    @Option(names = "--alias", paramLabel = "NAME", order = 36,
            description = "Model name listed by /v1/models and returned in responses. Default: the file name.")
    String alias;

    @Option(names = "--no-embeddings", order = 37,
            description = "Refuse /v1/embeddings (400). Default: a small embeddings context is created on the first "
                    + "embeddings request.")
    boolean noEmbeddings;

    @Option(names = "--moderation", order = 38,
            description = "Classify each chat request's last user message with the model first (the Mistral 7B "
                    + "paper's self-reflection moderation: illegal activities; hateful, harassing or violent; "
                    + "unqualified advice; acceptable) and answer 400 content_filter unless acceptable. Needs an "
                    + "instruction-tuned model. Default: off.")
    boolean moderation;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        validate();
        PrintWriter err = spec.commandLine().getErr();
        String key = apiKey != null ? apiKey : System.getenv(API_KEY_ENV);
        if (key != null && key.isBlank()) {
            key = null;
        }
        if (key == null && !isLoopback(host)) {
            err.println("warning: listening on " + host + " without --api-key: anyone who can reach this port can "
                    + "use the model");
        }
        ContextOptions contextOptions = contextArgs.options().toBuilder().sequences(parallel).build();

        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             Interrupts interrupts = Interrupts.install(cli.interactive())) {
            String modelId = alias != null ? alias : modelName(model.path());
            OpenAiServer.Options options = OpenAiServer.Options.defaults(modelId)
                    .withHost(host).withPort(port).withApiKey(key).withMaxBodyBytes(maxBodyBytes)
                    .withMaxQueue(maxQueue).withEmbeddings(!noEmbeddings).withModeration(moderation);
            CountDownLatch stop = new CountDownLatch(1);
            CountDownLatch stopped = new CountDownLatch(1);
            boolean interrupted = false;
            if (cli.interactive()) {
                // SIGTERM (and a second Ctrl-C) exit the JVM: stop the server cleanly first.
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    stop.countDown();
                    try {
                        stopped.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "llama-ffm-serve-shutdown"));
            }
            try (OpenAiServer server = startServer(model, contextOptions, options, err)) {
                err.printf(Locale.ROOT, "llama-ffm serve: listening on %s (model '%s', %d parallel sequences of %d "
                                + "tokens%s)%n", server.baseUri(), modelId, server.sequences(),
                        server.sequenceContextSize(), key != null ? ", API key required" : "");
                err.println("Ctrl-C stops the server.");
                err.flush();
                interrupts.arm(stop::countDown);
                try {
                    stop.await();
                } catch (InterruptedException e) {
                    interrupted = true; // in-process callers stop the server by interrupting; restored after close
                }
                interrupts.disarm();
                err.println("llama-ffm serve: stopping");
                err.flush();
            } finally {
                stopped.countDown();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        return 0;
    }

    private OpenAiServer startServer(LlamaModel model, ContextOptions contextOptions,
                                     OpenAiServer.Options options, PrintWriter err) {
        try {
            // --lora/--lora-scaled become the server's own adapters (requests may pick among them), and
            // --control-vector* apply to every request.
            return OpenAiServer.start(model, contextOptions, options, line -> {
                err.println("llama-ffm serve: " + line);
                err.flush();
            }, ctx -> contextArgs.configure(ctx, model, spec));
        } catch (IOException e) {
            throw new CliException("cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
        }
    }

    private void validate() {
        if (port < 0 || port > 65535) {
            throw new ParameterException(spec.commandLine(), "--port must be in 0..65535, was " + port);
        }
        if (parallel < 1 || parallel > 256) {
            throw new ParameterException(spec.commandLine(), "--parallel must be in 1..256, was " + parallel);
        }
        if (maxQueue < 0) {
            throw new ParameterException(spec.commandLine(), "--max-queue must be >= 0, was " + maxQueue);
        }
        if (maxBodyBytes <= 0) {
            throw new ParameterException(spec.commandLine(), "--max-body-bytes must be > 0, was " + maxBodyBytes);
        }
        if (alias != null && alias.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--alias must not be blank");
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--api-key must not be blank");
        }
    }

    static String modelName(Path path) {
        String name = path.getFileName().toString();
        return name.toLowerCase(Locale.ROOT).endsWith(".gguf") ? name.substring(0, name.length() - 5) : name;
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
