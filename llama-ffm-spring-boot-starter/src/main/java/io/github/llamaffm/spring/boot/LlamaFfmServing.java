package io.github.llamaffm.spring.boot;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerationService;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelDownloader;
import io.github.llamaffm.ModelOptions;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the starter loads from {@link LlamaFfmProperties}: the model, its generation context and service, and (when
 * enabled) an embeddings context. One bean; closed (in reverse order) when the application context closes.
 */
public final class LlamaFfmServing implements AutoCloseable {
    private final LlamaModel model;
    private final LlamaContext context;
    private final GenerationService service;
    private final LlamaContext embeddingContext;

    LlamaFfmServing(LlamaFfmProperties p) {
        Path path = modelPath(p.getModel(), p.getModelCache());
        ModelOptions.Builder mo = ModelOptions.builder();
        if (p.getGpuLayers() != null) {
            mo.gpuLayers(p.getGpuLayers());
        }
        if (p.getSlidingWindow() != null) {
            mo.slidingWindow(p.getSlidingWindow());
        }
        ContextOptions.Builder co = ContextOptions.builder().sequences(p.getParallelSequences());
        if (p.getContextSize() != null) {
            co.contextSize(p.getContextSize());
        }
        LlamaModel m = LlamaModel.load(path, mo.build());
        LlamaContext ctx = null;
        GenerationService s = null;
        try {
            ctx = m.newContext(co.build());
            s = GenerationService.start(ctx);
            this.embeddingContext = p.getEmbedding().isEnabled()
                    ? m.newContext(ContextOptions.builder().embeddings(true).sequences(8).kvUnified(true).build())
                    : null;
        } catch (RuntimeException | Error e) {
            if (s != null) {
                s.close();
            }
            if (ctx != null) {
                ctx.close();
            }
            m.close();
            throw e;
        }
        this.model = m;
        this.context = ctx;
        this.service = s;
    }

    /** The local file {@code llama-ffm.model} names: the path itself, or the cached download of a URL. */
    static Path modelPath(String model, String modelCache) {
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("llama-ffm.model is not set: give the path of a GGUF file, an "
                    + "http(s):// URL or hf:owner/repo/file.gguf");
        }
        if (ModelDownloader.isRemote(model)) {
            // progress: a line on stderr when a download starts and one when it ends (none when cached)
            return ModelDownloader.fromEnvironment(modelCache == null || modelCache.isBlank() ? null
                    : Path.of(modelCache), new PrintWriter(System.err, true), false).fetch(model, null);
        }
        if (ModelDownloader.isOtherUrl(model)) {
            throw new IllegalArgumentException("llama-ffm.model=" + model + ": unsupported URL (give a local path, "
                    + "an http(s):// URL or hf:owner/repo/file.gguf)");
        }
        Path path = Path.of(model);
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("llama-ffm.model=" + model + ": no such file");
        }
        return path;
    }

    public LlamaModel model() { return model; }
    public LlamaContext context() { return context; }
    public GenerationService service() { return service; }
    /** The embeddings context, or null unless {@code llama-ffm.embedding.enabled}. */
    public LlamaContext embeddingContext() { return embeddingContext; }

    @Override
    public void close() {
        try {
            service.close();
        } finally {
            if (embeddingContext != null) {
                embeddingContext.close();
            }
            context.close();
            model.close();
        }
    }
}
