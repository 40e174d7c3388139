package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

/**
 * Element type of the KV cache ({@code type_k} / {@code type_v}, an {@code enum ggml_type}); smaller types save memory
 * at some quality cost. Each constant's name is ggml's type name ({@code ggml_type_name}) in upper case.
 */
public enum KvCacheType {
    F32(Llama.GGML_TYPE_F32()),
    F16(Llama.GGML_TYPE_F16()),
    BF16(Llama.GGML_TYPE_BF16()),
    Q8_0(Llama.GGML_TYPE_Q8_0()),
    Q5_0(Llama.GGML_TYPE_Q5_0()),
    Q5_1(Llama.GGML_TYPE_Q5_1()),
    Q4_0(Llama.GGML_TYPE_Q4_0()),
    Q4_1(Llama.GGML_TYPE_Q4_1()),
    IQ4_NL(Llama.GGML_TYPE_IQ4_NL());

    private final int ggmlType;

    KvCacheType(int ggmlType) {
        this.ggmlType = ggmlType;
    }

    /** The generated {@code ggml_type} constant. */
    int ggmlType() {
        return ggmlType;
    }
}
