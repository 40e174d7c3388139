package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.ContextOverflow;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LoraAdapter;
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

    @Option(names = "--context-shift", order = 13,
            description = "When a sequence is full, keep the first --keep tokens, drop the oldest half of the rest and "
                    + "go on (as llama.cpp's --context-shift). Default: stop with finish reason context_full.")
    boolean contextShift;

    @Option(names = "--keep", paramLabel = "N", order = 14,
            description = "Tokens a context shift keeps at the start besides BOS; -1 = the whole prompt. Default: 0.")
    int keep;

    @Option(names = "--lora", paramLabel = "FILE", order = 15,
            description = "LoRA adapter (GGUF) applied at scale 1; repeatable.")
    java.util.List<java.nio.file.Path> loras = new java.util.ArrayList<>();

    @Option(names = "--lora-scaled", paramLabel = "FILE SCALE", arity = "2", order = 16,
            description = "LoRA adapter applied at SCALE; repeatable.")
    java.util.List<String> lorasScaled = new java.util.ArrayList<>();

    @Option(names = "--control-vector", paramLabel = "FILE", order = 18,
            description = "Control vector (GGUF of direction.<layer> tensors, as llama.cpp's cvector-generator writes) "
                    + "added at scale 1; repeatable.")
    java.util.List<java.nio.file.Path> controlVectors = new java.util.ArrayList<>();

    @Option(names = "--control-vector-scaled", paramLabel = "FILE SCALE", arity = "2", order = 19,
            description = "Control vector added at SCALE; repeatable.")
    java.util.List<String> controlVectorsScaled = new java.util.ArrayList<>();

    @Option(names = "--control-vector-layer-range", paramLabel = "FIRST LAST", arity = "2", order = 20,
            description = "Layers the control vectors apply to, inclusive, from 1. Default: all.")
    java.util.List<Integer> controlVectorLayers = new java.util.ArrayList<>();

    @Option(names = "--backend-sampling", negatable = true, order = 17,
            description = "Sample inside the decode graph (llama.cpp's backend sampling; --no-backend-sampling: on "
                    + "the host). Default: on when every layer is offloaded to a GPU.")
    Boolean backendSampling;

    @Option(names = "--no-warmup", order = 21,
            description = "Skip the warm-up generation when the context is created (as llama.cpp's --no-warmup); "
                    + "by default one runs, so that the first request runs at steady speed.")
    boolean noWarmup;

    /** Creates a context of {@code model} with {@code options}, then {@link #configure}s it. */
    LlamaContext newContext(LlamaModel model, ContextOptions options, CommandSpec spec) {
        LlamaContext ctx = model.newContext(options);
        try {
            configure(ctx, model, spec);
            return ctx;
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
    }

    /**
     * Applies the control vectors and LoRA adapters given to {@code ctx} (the LoRA set becomes the context's own:
     * {@code serve} lists it in {@code /lora-adapters} and requests may pick among it).
     */
    void configure(LlamaContext ctx, LlamaModel model, CommandSpec spec) {
        java.util.Map<io.github.llamaffm.ControlVector, Float> vectors = new java.util.LinkedHashMap<>();
        try {
            controlVectors.forEach(f -> vectors.merge(io.github.llamaffm.ControlVector.load(f), 1f, Float::sum));
            for (int i = 0; i + 1 < controlVectorsScaled.size(); i += 2) {
                vectors.put(io.github.llamaffm.ControlVector.load(java.nio.file.Path.of(controlVectorsScaled.get(i))),
                        Float.parseFloat(controlVectorsScaled.get(i + 1)));
            }
            if (!vectors.isEmpty()) {
                if (controlVectorLayers.isEmpty()) {
                    ctx.setControlVectors(vectors);
                } else {
                    ctx.setControlVectors(vectors, controlVectorLayers.get(0), controlVectorLayers.get(1));
                }
            }
        } catch (NumberFormatException e) {
            throw new ParameterException(spec.commandLine(), "--control-vector-scaled: SCALE must be a number: "
                    + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--control-vector: " + e.getMessage());
        }
        java.util.Map<java.nio.file.Path, Float> wanted = new java.util.LinkedHashMap<>();
        loras.forEach(f -> wanted.put(f, 1f));
        for (int i = 0; i + 1 < lorasScaled.size(); i += 2) {
            try {
                wanted.put(java.nio.file.Path.of(lorasScaled.get(i)), Float.parseFloat(lorasScaled.get(i + 1)));
            } catch (NumberFormatException e) {
                throw new ParameterException(spec.commandLine(), "--lora-scaled " + lorasScaled.get(i)
                        + ": SCALE must be a number, was " + lorasScaled.get(i + 1));
            }
        }
        if (wanted.isEmpty()) {
            return;
        }
        java.util.Map<LoraAdapter, Float> adapters = new java.util.LinkedHashMap<>();
        try {
            wanted.forEach((file, scale) -> adapters.put(model.loadLora(file), scale));
            ctx.setLoras(adapters);
        } finally {
            adapters.keySet().forEach(LoraAdapter::close); // the context keeps the applied ones alive
        }
    }

    void validate(CommandSpec spec) {
        if (keep < -1) {
            throw new ParameterException(spec.commandLine(), "--keep must be >= -1, was " + keep);
        }
        if (threads <= 0) {
            throw new ParameterException(spec.commandLine(), "--threads must be > 0, was " + threads);
        }
        if (ctxSize != null && ctxSize < 0) {
            throw new ParameterException(spec.commandLine(), "--ctx-size must be >= 0 (0 = the model's training "
                    + "context), was " + ctxSize);
        }
    }

    ContextOptions options() {
        ContextOptions.Builder b = ContextOptions.builder().threads(threads).batchThreads(threads).swaFull(swaFull)
                .overflow(contextShift ? ContextOverflow.SHIFT : ContextOverflow.FAIL).shiftKeepTokens(keep).warmup(!noWarmup);
        if (ctxSize != null) {
            b.contextSize(ctxSize);
        }
        if (backendSampling != null) {
            b.backendSampling(backendSampling);
        }
        return b.build();
    }
}
