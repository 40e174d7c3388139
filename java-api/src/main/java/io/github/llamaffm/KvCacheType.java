package io.github.llamaffm;

/** Element type of the KV cache ({@code type_k} / {@code type_v}); smaller types save memory at some quality cost. */
public enum KvCacheType {
    F32(0), F16(1), BF16(30), Q8_0(8), Q5_0(6), Q5_1(7), Q4_0(2), Q4_1(3), IQ4_NL(20);

    private final int ggmlType;

    KvCacheType(int ggmlType) {
        this.ggmlType = ggmlType;
    }

    /** The {@code enum ggml_type} value. */
    public int ggmlType() {
        return ggmlType;
    }
}
