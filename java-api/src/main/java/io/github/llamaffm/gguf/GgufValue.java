package io.github.llamaffm.gguf;

import java.util.List;
import java.util.Objects;

/**
 * One GGUF metadata value with its exact GGUF type, so that it can be written back unchanged.
 *
 * <p>A scalar holds an instance of {@code type.javaType()}; an array ({@code array == true}) holds an unmodifiable
 * {@link List} of such instances, {@code type} being the element type. Nested arrays are not supported (llama.cpp
 * rejects them too). Create values with the static factories, which also range-check unsigned types.
 *
 * @param type  the scalar type, or the element type of an array
 * @param array whether this is an array
 * @param value the Java value, see {@link GgufType} for the mapping
 */
public record GgufValue(GgufType type, boolean array, Object value) {

    /** Validates that {@code value} matches {@code type}; arrays are copied into an unmodifiable list. */
    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        if (array) {
            if (!(value instanceof List<?> list)) {
                throw new IllegalArgumentException("array value must be a List, got " + value.getClass().getName());
            }
            List<?> copy = List.copyOf(list); // rejects nulls; returns the same instance if already immutable
            for (Object e : copy) {
                checkClass(type, e);
            }
            value = copy;
        } else {
            checkClass(type, value);
        }
    }

    private static void checkClass(GgufType type, Object v) {
        if (v.getClass() != type.javaType()) {
            throw new IllegalArgumentException(
                    "GGUF " + type + " needs a " + type.javaType().getSimpleName() + ", got " + v.getClass().getName());
        }
    }

    /** An unsigned 8-bit value in [0, 255]. */
    public static GgufValue uint8(int v) {
        return new GgufValue(GgufType.UINT8, false, (byte) checkUnsigned(v, 0xFFL, "uint8"));
    }

    /** A signed 8-bit value. */
    public static GgufValue int8(byte v) {
        return new GgufValue(GgufType.INT8, false, v);
    }

    /** An unsigned 16-bit value in [0, 65535]. */
    public static GgufValue uint16(int v) {
        return new GgufValue(GgufType.UINT16, false, (short) checkUnsigned(v, 0xFFFFL, "uint16"));
    }

    /** A signed 16-bit value. */
    public static GgufValue int16(short v) {
        return new GgufValue(GgufType.INT16, false, v);
    }

    /** An unsigned 32-bit value in [0, 4294967295]. */
    public static GgufValue uint32(long v) {
        return new GgufValue(GgufType.UINT32, false, (int) checkUnsigned(v, 0xFFFF_FFFFL, "uint32"));
    }

    /** A signed 32-bit value. */
    public static GgufValue int32(int v) {
        return new GgufValue(GgufType.INT32, false, v);
    }

    /** An unsigned 64-bit value given as its bits: negative {@code v} stands for values of 2^63 and above. */
    public static GgufValue uint64(long v) {
        return new GgufValue(GgufType.UINT64, false, v);
    }

    /** A signed 64-bit value. */
    public static GgufValue int64(long v) {
        return new GgufValue(GgufType.INT64, false, v);
    }

    /** A 32-bit float. */
    public static GgufValue float32(float v) {
        return new GgufValue(GgufType.FLOAT32, false, v);
    }

    /** A 64-bit float. */
    public static GgufValue float64(double v) {
        return new GgufValue(GgufType.FLOAT64, false, v);
    }

    /** A bool. */
    public static GgufValue bool(boolean v) {
        return new GgufValue(GgufType.BOOL, false, v);
    }

    /** A UTF-8 string. */
    public static GgufValue string(String v) {
        return new GgufValue(GgufType.STRING, false, Objects.requireNonNull(v, "v"));
    }

    /** An array of {@code elementType}; elements must be of {@code elementType.javaType()}. */
    public static GgufValue array(GgufType elementType, List<?> elements) {
        return new GgufValue(elementType, true, elements);
    }

    /** An array of strings. */
    public static GgufValue stringArray(List<String> elements) {
        return new GgufValue(GgufType.STRING, true, elements);
    }

    private static long checkUnsigned(long v, long max, String what) {
        if (v < 0 || v > max) {
            throw new IllegalArgumentException(what + " value must be in [0, " + max + "], got " + v);
        }
        return v;
    }

    /** Whether this is an array. */
    public boolean isArray() {
        return array;
    }

    /**
     * This integer scalar as a long, widening unsigned types without sign extension.
     *
     * @throws IllegalStateException if this is not an integer scalar, or a uint64 above {@link Long#MAX_VALUE}
     */
    public long asLong() {
        if (array || !type.isInteger()) {
            throw new IllegalStateException(describe() + " is not an integer");
        }
        long v = ((Number) value).longValue();
        return switch (type) {
            case UINT8 -> v & 0xFFL;
            case UINT16 -> v & 0xFFFFL;
            case UINT32 -> v & 0xFFFF_FFFFL;
            case UINT64 -> {
                if (v < 0) {
                    throw new IllegalStateException("uint64 value " + Long.toUnsignedString(v) + " exceeds the long range");
                }
                yield v;
            }
            default -> v;
        };
    }

    /**
     * This integer scalar as an int.
     *
     * @throws IllegalStateException if this is not an integer scalar or its value does not fit an int
     */
    public int asInt() {
        long v = asLong();
        if (v != (int) v) {
            throw new IllegalStateException(type + " value " + v + " does not fit an int");
        }
        return (int) v;
    }

    /**
     * This numeric scalar as a double: floats as they are, integers converted.
     *
     * @throws IllegalStateException if this is not a numeric scalar
     */
    public double asDouble() {
        if (!array && (type == GgufType.FLOAT32 || type == GgufType.FLOAT64)) {
            return ((Number) value).doubleValue();
        }
        return asLong();
    }

    /** This string scalar. @throws IllegalStateException if this is not a string scalar */
    public String asString() {
        if (array || type != GgufType.STRING) {
            throw new IllegalStateException(describe() + " is not a string");
        }
        return (String) value;
    }

    /** This bool scalar. @throws IllegalStateException if this is not a bool scalar */
    public boolean asBoolean() {
        if (array || type != GgufType.BOOL) {
            throw new IllegalStateException(describe() + " is not a bool");
        }
        return (Boolean) value;
    }

    /** The elements of this array, unmodifiable. @throws IllegalStateException if this is not an array */
    public List<?> asList() {
        if (!array) {
            throw new IllegalStateException(describe() + " is not an array");
        }
        return (List<?>) value;
    }

    /** "type X" or "X value" or "array of X", for messages. */
    String describe() {
        return array ? "array of " + type : type + " value";
    }

    @Override
    public String toString() {
        if (array) {
            List<?> list = (List<?>) value;
            if (list.size() <= 8) {
                return "array of " + type + list;
            }
            String head = list.subList(0, 8).toString();
            return "array of " + type + "[" + list.size() + "]" + head.substring(0, head.length() - 1) + ", ...]";
        }
        return type + " " + (type == GgufType.STRING ? '"' + value.toString() + '"' : unsignedAware());
    }

    private String unsignedAware() {
        if (type.isUnsigned()) {
            long v = ((Number) value).longValue();
            return type == GgufType.UINT64 ? Long.toUnsignedString(v) : Long.toString(asLong());
        }
        return value.toString();
    }
}
