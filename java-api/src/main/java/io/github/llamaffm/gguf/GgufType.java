package io.github.llamaffm.gguf;

import java.util.Optional;

/**
 * The scalar value types of GGUF metadata. Arrays (GGUF type id 9) are not a constant here: an array is a
 * {@link GgufValue} whose {@link GgufValue#isArray()} is true and whose {@link GgufValue#type()} is the element type.
 *
 * <p>Each type maps to one Java class, of the same width, so that values round-trip without loss:
 * {@code UINT8}/{@code INT8} to {@link Byte}, {@code UINT16}/{@code INT16} to {@link Short},
 * {@code UINT32}/{@code INT32} to {@link Integer}, {@code UINT64}/{@code INT64} to {@link Long},
 * {@code FLOAT32} to {@link Float}, {@code FLOAT64} to {@link Double}, {@code BOOL} to {@link Boolean} and
 * {@code STRING} to {@link String}. Unsigned values are kept as their two's-complement bits (as in
 * {@link Integer#toUnsignedLong}); {@link GgufValue#asLong()} widens them correctly.
 */
public enum GgufType {
    UINT8(0, Byte.class, 1),
    INT8(1, Byte.class, 1),
    UINT16(2, Short.class, 2),
    INT16(3, Short.class, 2),
    UINT32(4, Integer.class, 4),
    INT32(5, Integer.class, 4),
    FLOAT32(6, Float.class, 4),
    BOOL(7, Boolean.class, 1),
    STRING(8, String.class, 8),
    UINT64(10, Long.class, 8),
    INT64(11, Long.class, 8),
    FLOAT64(12, Double.class, 8);

    /** The GGUF type id that introduces an array. */
    static final int ARRAY_ID = 9;

    private final int id;
    private final Class<?> javaType;
    private final int minSize;

    GgufType(int id, Class<?> javaType, int minSize) {
        this.id = id;
        this.javaType = javaType;
        this.minSize = minSize;
    }

    /** The numeric id stored in the file. */
    public int id() {
        return id;
    }

    /** The Java class that holds values of this type (see the class comment). */
    public Class<?> javaType() {
        return javaType;
    }

    /** Whether this is one of the integer types. */
    public boolean isInteger() {
        return javaType == Byte.class || javaType == Short.class || javaType == Integer.class || javaType == Long.class;
    }

    /** Whether this integer type is unsigned. */
    public boolean isUnsigned() {
        return this == UINT8 || this == UINT16 || this == UINT32 || this == UINT64;
    }

    /** Smallest encoded size in bytes (a string is at least its 8-byte length); bounds array counts when reading. */
    int minEncodedSize() {
        return minSize;
    }

    /** The scalar type with the given id; empty for the array id and unknown ids. */
    public static Optional<GgufType> byId(int id) {
        for (GgufType t : values()) {
            if (t.id == id) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }
}
