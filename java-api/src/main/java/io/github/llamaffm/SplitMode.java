package io.github.llamaffm;

/** How a model is split across several GPUs ({@code llama_split_mode}). */
public enum SplitMode {
    /** Whole model on {@link ModelOptions#mainGpu()}. */
    NONE(0),
    /** Layers and KV cache split across GPUs (llama.cpp's default). */
    LAYER(1),
    /** Rows split across GPUs (tensor parallelism where supported). */
    ROW(2);

    private final int nativeValue;

    SplitMode(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    public int nativeValue() {
        return nativeValue;
    }
}
