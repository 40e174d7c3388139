package io.github.llamaffm;

/** When llama.cpp uses Flash Attention ({@code llama_flash_attn_type}). */
public enum FlashAttention {
    /** Let llama.cpp decide per device (its default). */
    AUTO(-1),
    DISABLED(0),
    ENABLED(1);

    private final int nativeValue;

    FlashAttention(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    public int nativeValue() {
        return nativeValue;
    }
}
