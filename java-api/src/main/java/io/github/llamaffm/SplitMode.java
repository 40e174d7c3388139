package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/** How a model is split across several GPUs ({@code enum llama_split_mode}). */
public enum SplitMode {
    /** Whole model on {@link ModelOptions#mainGpu()}. */
    NONE(Llama.LLAMA_SPLIT_MODE_NONE()),
    /** Layers and KV cache split across GPUs (llama.cpp's default). */
    LAYER(Llama.LLAMA_SPLIT_MODE_LAYER()),
    /** Rows split across GPUs (tensor parallelism where supported). */
    ROW(Llama.LLAMA_SPLIT_MODE_ROW()),
    /** Tensors split across GPUs where the backend supports it. */
    TENSOR(Llama.LLAMA_SPLIT_MODE_TENSOR());

    private final int nativeValue;

    SplitMode(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    /** The generated {@code llama_split_mode} constant. */
    int nativeValue() {
        return nativeValue;
    }
}
