package io.github.llamaffm.gguf;

import java.util.List;
import java.util.Objects;

/**
 * The description of one tensor in a GGUF file.
 *
 * @param name   the tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param dims   the dimensions innermost first (ggml's {@code ne0, ne1, ...}), one to four of them
 * @param type   the element type
 * @param offset the byte offset of the tensor's data relative to {@link GgufFile#dataOffset()}
 */
public record GgufTensorInfo(String name, List<Long> dims, GgmlType type, long offset) {

    /** Validates the components; {@code dims} is copied. */
    public GgufTensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        dims = List.copyOf(dims);
        if (dims.size() > GgufFile.MAX_DIMS || dims.stream().anyMatch(d -> d < 0)) {
            throw new IllegalArgumentException("dims must be at most " + GgufFile.MAX_DIMS + " non-negative sizes, got " + dims);
        }
        if (offset < 0) {
            throw new IllegalArgumentException("offset must be >= 0, got " + offset);
        }
    }

    /** The number of elements (the product of the dimensions). */
    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** The size of the tensor's data in bytes. */
    public long byteSize() {
        return elementCount() / type.blockSize() * type.typeSize();
    }
}
