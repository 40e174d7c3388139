package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/**
 * Element type of the KV cache ({@code type_k} / {@code type_v}, an {@code enum ggml_type}); smaller types save memory
 * at some quality cost. Each constant's name is ggml's type name ({@code ggml_type_name}) in upper case.
 */
public enum KvCacheType {
    F32(Llama.GGML_TYPE_F32(), 4, 1),
    F16(Llama.GGML_TYPE_F16(), 2, 1),
    BF16(Llama.GGML_TYPE_BF16(), 2, 1),
    Q8_0(Llama.GGML_TYPE_Q8_0(), 34, 32),
    Q5_0(Llama.GGML_TYPE_Q5_0(), 22, 32),
    Q5_1(Llama.GGML_TYPE_Q5_1(), 24, 32),
    Q4_0(Llama.GGML_TYPE_Q4_0(), 18, 32),
    Q4_1(Llama.GGML_TYPE_Q4_1(), 20, 32),
    IQ4_NL(Llama.GGML_TYPE_IQ4_NL(), 18, 32);

    private final int ggmlType;
    private final int blockBytes;
    private final int blockElements;

    KvCacheType(int ggmlType, int blockBytes, int blockElements) {
        this.ggmlType = ggmlType;
        this.blockBytes = blockBytes;
        this.blockElements = blockElements;
    }

    /** Bytes per block of {@link #blockElements()} values ({@code ggml_type_size}). */
    int blockBytes() {
        return blockBytes;
    }

    /** Values per block ({@code ggml_blck_size}). */
    int blockElements() {
        return blockElements;
    }

    /** Bytes of {@code elements} values of this type (whole blocks). */
    long bytes(long elements) {
        return Math.multiplyHigh(elements, blockBytes) != 0 ? Long.MAX_VALUE
                : (elements + blockElements - 1) / blockElements * blockBytes;
    }

    /** The generated {@code ggml_type} constant. */
    int ggmlType() {
        return ggmlType;
    }
}
