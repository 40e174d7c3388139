package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Context (KV cache, threads) options shared by the commands that create a context. */
public final class ContextArgs {
    @Option(names = {"-t", "--threads"}, paramLabel = "N", order = 10,
            description = "CPU threads. Default: the number of physical cores (${DEFAULT-VALUE} here).")
    int threads = ContextOptions.defaultThreads();

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "TOKENS", order = 11,
            description = "Context size in tokens, used as given; 0 = the model's training context. Default: "
                    + ContextOptions.DEFAULT_CONTEXT_SIZE + ", capped at the training context.")
    Integer ctxSize;

    @Option(names = "--swa-full", order = 12,
            description = "Keep a full-size KV cache for sliding-window models (more memory, reuses any prefix). "
                    + "Default: a rolling window-sized cache.")
    boolean swaFull;

    void validate(CommandSpec spec) {
        if (threads <= 0) {
            throw new ParameterException(spec.commandLine(), "--threads must be > 0, was " + threads);
        }
        if (ctxSize != null && ctxSize < 0) {
            throw new ParameterException(spec.commandLine(), "--ctx-size must be >= 0 (0 = the model's training "
                    + "context), was " + ctxSize);
        }
    }

    ContextOptions options() {
        ContextOptions.Builder b = ContextOptions.builder().threads(threads).batchThreads(threads).swaFull(swaFull);
        if (ctxSize != null) {
            b.contextSize(ctxSize);
        }
        return b.build();
    }
}
