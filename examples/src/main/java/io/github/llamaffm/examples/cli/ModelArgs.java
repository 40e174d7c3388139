package io.github.llamaffm.examples.cli;

import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelDownloader;
import io.github.llamaffm.ModelOptions;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Options shared by every command that loads a model. */
public final class ModelArgs {
    @Option(names = {"-m", "--model"}, paramLabel = "MODEL", order = 1,
            description = "GGUF model: a local file, an http(s):// URL, or hf:owner/repo[@revision]/path/file.gguf "
                    + "(Hugging Face); downloads are cached (--model-cache) and reused offline. Default: the built-in "
                    + "demo model (tiny, random weights, gibberish output).")
    String model;

    @Option(names = "--model-cache", paramLabel = "DIR", order = 4,
            description = "Folder for downloaded models. Default: $" + ModelDownloader.CACHE_ENV
                    + ", else ~/.cache/llama-ffm/models.")
    Path modelCache;

    @Option(names = "--sha256", paramLabel = "HEX", order = 5,
            description = "Expected SHA-256 of the model downloaded with --model URL|hf:... (also accepted as a "
                    + "#sha256=HEX suffix on the URL).")
    String sha256;

    @Option(names = {"-ngl", "--gpu-layers"}, paramLabel = "N", order = 2,
            description = "Layers to offload to the GPU; -1 = all (default; no effect on a CPU-only build).")
    Integer gpuLayers;

    @Option(names = "--sliding-window", paramLabel = "TOKENS", order = 3,
            description = "Force sliding-window attention with this window (Mistral 7B v0.1 was trained with 4096, "
                    + "but its usual GGUF files omit it). Default: 0 = what the file says.")
    int slidingWindow;

    @Option(names = "--rpc", paramLabel = "HOST:PORT", split = ",", order = 6,
            description = "llama.cpp RPC servers (llama-ffm rpc-server on other hosts) whose devices take offloaded "
                    + "layers like local GPUs, e.g. --rpc 10.0.0.2:50052,10.0.0.3:50052. No authentication: trusted "
                    + "networks only.")
    List<String> rpc = new ArrayList<>();

    @Option(names = "--rpc-reply-timeout", paramLabel = "SECONDS", order = 6,
            description = "How long a connected RPC server may take to answer before the step fails (a stopped or "
                    + "hung worker fails requests instead of hanging them). Default: "
                    + ModelOptions.DEFAULT_RPC_REPLY_TIMEOUT_SECONDS + ".")
    Integer rpcReplyTimeout;

    @Option(names = "--tensor-split", paramLabel = "P,P,...", split = ",", order = 7,
            description = "Proportion of the offloaded layers per device, RPC servers first (e.g. 1,1,2). Default: by "
                    + "free memory.")
    List<Float> tensorSplit = new ArrayList<>();

    @Option(names = "--demo-cache", paramLabel = "DIR", hidden = true,
            description = "Directory for the generated demo model (default ~/.cache/llama-ffm/demo-models).")
    Path demoCache;

    @Option(names = {"-v", "--verbose"}, order = 100,
            description = "Show llama.cpp's log and stack traces of errors.")
    boolean verbose;

    /** Checks the values; throws picocli's usage error (exit code 2) naming the option. */
    void validate(CommandSpec spec) {
        if (gpuLayers != null && gpuLayers < -1) {
            throw new ParameterException(spec.commandLine(), "--gpu-layers must be >= -1 (-1 = all), was " + gpuLayers);
        }
        if (slidingWindow < 0) {
            throw new ParameterException(spec.commandLine(), "--sliding-window must be >= 0 (0 = the model's own), was "
                    + slidingWindow);
        }
        try {
            options(); // the library's own checks of --rpc and --tensor-split, before anything is loaded
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            throw new ParameterException(spec.commandLine(), (m.startsWith("RPC") ? "--rpc: "
                    : m.startsWith("rpcReplyTimeout") ? "--rpc-reply-timeout: " : "--tensor-split: ") + m);
        }
        if (model != null && model.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--model must not be empty");
        }
        if (sha256 != null) {
            if (!sha256.strip().matches("[0-9a-fA-F]{64}")) {
                throw new ParameterException(spec.commandLine(), "--sha256 must be 64 hex digits, was " + sha256);
            }
            if (model == null || !ModelDownloader.isRemote(model)) {
                throw new ParameterException(spec.commandLine(), "--sha256 checks a downloaded model: give --model "
                        + "an http(s):// URL or hf:owner/repo/file.gguf");
            }
        }
    }

    boolean isDemo() {
        return model == null;
    }

    /**
     * The model file: the local path given with --model (checked), a download (from the cache when it is there), or
     * the demo model (generated on first use; its label is printed on stderr).
     */
    Path resolve(PrintWriter err) {
        return resolve(err, false);
    }

    /** As {@link #resolve(PrintWriter)}; {@code liveProgress}: redraw a download progress line (stderr is a tty). */
    Path resolve(PrintWriter err, boolean liveProgress) {
        if (model == null) {
            err.println(DemoModel.LABEL);
            err.flush();
            return DemoModel.path(demoCache, err);
        }
        if (ModelDownloader.isRemote(model)) {
            return ModelDownloader.fromEnvironment(modelCache, err, liveProgress).fetch(model, sha256);
        }
        if (ModelDownloader.isOtherUrl(model)) {
            throw new CliException("unsupported URL in --model: " + model
                    + " (give a local path, an http(s):// URL or hf:owner/repo/file.gguf)");
        }
        Path p;
        try {
            p = Path.of(model).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw new CliException("invalid model path: " + model);
        }
        if (!Files.exists(p)) {
            throw new CliException("model file not found: " + p);
        }
        if (!Files.isRegularFile(p)) {
            throw new CliException("model path is not a file: " + p);
        }
        if (!Files.isReadable(p)) {
            throw new CliException("model file is not readable: " + p);
        }
        return p;
    }

    ModelOptions.Builder options() {
        ModelOptions.Builder b = ModelOptions.builder().slidingWindow(slidingWindow).rpcServers(rpc);
        if (rpcReplyTimeout != null) {
            b.rpcReplyTimeout(java.time.Duration.ofSeconds(rpcReplyTimeout));
        }
        if (!tensorSplit.isEmpty()) {
            float[] split = new float[tensorSplit.size()];
            for (int i = 0; i < split.length; i++) {
                split[i] = tensorSplit.get(i);
            }
            b.tensorSplit(split);
        }
        if (gpuLayers != null) {
            b.gpuLayers(gpuLayers);
        }
        return b;
    }

    /** Resolves and loads the model, with a progress bar on stderr when {@code progress}. */
    LlamaModel load(PrintWriter err, boolean progress, boolean vocabOnly) {
        NativeLog.configure(verbose);
        Path path = resolve(err, progress);
        ModelOptions.Builder b = options().vocabOnly(vocabOnly);
        ProgressBar bar = progress && !vocabOnly ? new ProgressBar(err) : null;
        if (bar != null) {
            b.progressListener(bar);
        }
        try {
            return LlamaModel.load(path, b.build());
        } finally {
            if (bar != null) {
                bar.clear();
            }
        }
    }
}
