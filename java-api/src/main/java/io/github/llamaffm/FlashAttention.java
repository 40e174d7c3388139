package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/** When llama.cpp uses Flash Attention ({@code enum llama_flash_attn_type}). */
public enum FlashAttention {
    /** Let llama.cpp decide per device (its default). */
    AUTO(Llama.LLAMA_FLASH_ATTN_TYPE_AUTO()),
    /** Never. */
    DISABLED(Llama.LLAMA_FLASH_ATTN_TYPE_DISABLED()),
    /** Always (a quantized V cache needs it). */
    ENABLED(Llama.LLAMA_FLASH_ATTN_TYPE_ENABLED());

    private final int nativeValue;

    FlashAttention(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    /** The generated {@code llama_flash_attn_type} constant. */
    int nativeValue() {
        return nativeValue;
    }
}
