package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeHandle;
import io.github.llamaffm.internal.NativeRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A LoRA adapter loaded for one {@link LlamaModel} ({@link LlamaModel#loadLora(Path)}); apply it to any of the
 * model's contexts with a scale ({@link LlamaContext#setLoras(java.util.Map)}).
 *
 * {@snippet :
 * try (LoraAdapter style = model.loadLora(Path.of("style-lora.gguf"))) {
 *     ctx.setLoras(Map.of(style, 0.8f));
 *     System.out.println(ctx.generate("Write a haiku").text());
 *     ctx.clearLoras();
 * }
 * }
 *
 * <p>The adapter keeps its model alive; a context it is applied to keeps the adapter alive until the context drops
 * it or closes. {@link #close()} is idempotent; a closed adapter cannot be applied again. An adapter nobody closed is
 * freed by a cleaner once unreachable (and not applied).
 */
public final class LoraAdapter implements AutoCloseable {
    private final LlamaModel model;
    private final Path path;
    private final MemorySegment adapter;
    private final NativeHandle handle;

    private LoraAdapter(LlamaModel model, Path path, MemorySegment adapter, NativeHandle modelHandle) {
        this.model = model;
        this.path = path;
        this.adapter = adapter;
        this.handle = new NativeHandle(this, "LoraAdapter " + path, () -> {
            try {
                Llama.llama_adapter_lora_free(adapter);
            } finally {
                modelHandle.release();
            }
        });
    }

    /** Loads {@code file} for {@code model}; llama.cpp checks it matches the model (architecture, tensor shapes). */
    static LoraAdapter load(LlamaModel model, Path file) {
        Path abs = file.toAbsolutePath();
        if (!java.nio.file.Files.isRegularFile(abs)) {
            throw new IllegalArgumentException("LoRA adapter file does not exist: " + abs);
        }
        NativeHandle modelHandle = model.handle();
        modelHandle.retain();
        MemorySegment a;
        try (Arena arena = Arena.ofConfined()) {
            NativeRuntime.clearLastError();
            a = Llama.llama_adapter_lora_init(model.segment(), arena.allocateFrom(abs.toString()));
        } catch (RuntimeException | Error e) {
            modelHandle.release();
            throw e;
        }
        if (a.equals(MemorySegment.NULL)) {
            modelHandle.release();
            throw new LlamaException("llama.cpp could not load LoRA adapter " + abs + " for model " + model.path()
                    + NativeRuntime.lastErrorSuffix());
        }
        return new LoraAdapter(model, abs, a, modelHandle);
    }

    /** The model it was loaded for. */
    public LlamaModel model() {
        return model;
    }

    /** The file it was loaded from. */
    public Path path() {
        return path;
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Frees the adapter once no context applies it any more. Idempotent. */
    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + path + (handle.isClosed() ? ", closed" : "") + "]";
    }

    NativeHandle handle() {
        return handle;
    }

    MemorySegment segment() {
        handle.ensureOpen();
        return adapter;
    }
}
