package io.github.llamaffm.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SequencedMap;

/**
 * The parsed header of a GGUF file (versions 2 and 3, little-endian): its metadata and tensor infos.
 * Tensor data is not loaded; {@link #readTensorData} and {@link #readFloats} fetch it on demand.
 *
 * <p>{@link #read} validates the structure and throws {@link GgufFormatException} naming the file and the problem
 * for bad magic, unsupported versions, truncation, implausible counts or lengths, unknown type ids, duplicate keys or
 * tensor names, and tensor data that is misaligned or lies beyond the end of the file. Instances are immutable.
 */
public final class GgufFile {
    /** The data alignment used when {@code general.alignment} is absent. */
    public static final int DEFAULT_ALIGNMENT = 32;
    /** The metadata key that overrides the data alignment (a uint32 power of two). */
    public static final String ALIGNMENT_KEY = "general.alignment";

    /** "GGUF" read as a little-endian int. */
    static final int MAGIC = 0x46554747;
    /** The version {@link GgufWriter} writes. */
    static final int VERSION = 3;
    /** ggml supports at most four dimensions. */
    static final int MAX_DIMS = 4;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // Smallest possible encodings, used to reject counts that the remaining bytes cannot possibly hold before
    // allocating anything for them: key (8-byte length + 1 byte) + type (4) + smallest value (1).
    private static final int MIN_KV_SIZE = 14;
    // name (8 + 1) + n_dims (4) + type (4) + offset (8).
    private static final int MIN_TENSOR_INFO_SIZE = 25;

    private final Path path;
    private final int version;
    private final SequencedMap<String, GgufValue> typed;
    private final SequencedMap<String, Object> plain;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> tensorsByName;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(Path path, int version, SequencedMap<String, GgufValue> typed, List<GgufTensorInfo> tensors,
                     int alignment, long dataOffset) {
        this.path = path;
        this.version = version;
        this.typed = Collections.unmodifiableSequencedMap(typed);
        SequencedMap<String, Object> values = new LinkedHashMap<>();
        typed.forEach((k, v) -> values.put(k, v.value()));
        this.plain = Collections.unmodifiableSequencedMap(values);
        this.tensors = List.copyOf(tensors);
        Map<String, GgufTensorInfo> byName = new HashMap<>();
        tensors.forEach(t -> byName.put(t.name(), t));
        this.tensorsByName = Map.copyOf(byName);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /**
     * Reads and validates the header of a GGUF file.
     *
     * @throws GgufFormatException if the file is not valid GGUF
     * @throws IOException         if it cannot be read
     */
    public static GgufFile read(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        // Mapping rather than streaming: the header is parsed in place (a 32k-token vocabulary takes milliseconds)
        // and only the pages the header spans are ever touched, however large the tensor data behind it.
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new Parser(path, seg).parse();
        }
    }

    /** The file this header was read from. */
    public Path path() {
        return path;
    }

    /** The GGUF version (2 or 3). */
    public int version() {
        return version;
    }

    /**
     * All metadata in file order, as plain Java values (see {@link GgufType} for the mapping; arrays are
     * unmodifiable lists). Unmodifiable.
     */
    public SequencedMap<String, Object> metadata() {
        return plain;
    }

    /** All metadata in file order with their exact GGUF types. Unmodifiable. */
    public SequencedMap<String, GgufValue> typedMetadata() {
        return typed;
    }

    /** Whether the metadata has {@code key}. */
    public boolean contains(String key) {
        return typed.containsKey(key);
    }

    /** The typed value of {@code key}, if present. */
    public Optional<GgufValue> find(String key) {
        return Optional.ofNullable(typed.get(key));
    }

    /** The typed value of {@code key}. @throws GgufFormatException if it is absent */
    public GgufValue get(String key) {
        GgufValue v = typed.get(key);
        if (v == null) {
            throw new GgufFormatException(path, "GGUF metadata key '" + key + "' is missing");
        }
        return v;
    }

    /** The string value of {@code key}. @throws GgufFormatException if absent or not a string */
    public String getString(String key) {
        GgufValue v = get(key);
        try {
            return v.asString();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The integer value of {@code key}, of any integer type. @throws GgufFormatException if absent, not an integer or out of int range */
    public int getInt(String key) {
        GgufValue v = get(key);
        try {
            return v.asInt();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The integer value of {@code key}, unsigned types widened. @throws GgufFormatException if absent or not an integer */
    public long getLong(String key) {
        GgufValue v = get(key);
        try {
            return v.asLong();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The numeric value of {@code key} as a float. @throws GgufFormatException if absent or not numeric */
    public float getFloat(String key) {
        return (float) getDouble(key);
    }

    /** The numeric value of {@code key} as a double. @throws GgufFormatException if absent or not numeric */
    public double getDouble(String key) {
        GgufValue v = get(key);
        try {
            return v.asDouble();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The bool value of {@code key}. @throws GgufFormatException if absent or not a bool */
    public boolean getBoolean(String key) {
        GgufValue v = get(key);
        try {
            return v.asBoolean();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The elements of the array {@code key}, unmodifiable. @throws GgufFormatException if absent or not an array */
    public List<?> getArray(String key) {
        GgufValue v = get(key);
        try {
            return v.asList();
        } catch (IllegalStateException e) {
            throw wrongType(key, e);
        }
    }

    /** The elements of the string array {@code key}. @throws GgufFormatException if absent or not a string array */
    @SuppressWarnings("unchecked")
    public List<String> getStringArray(String key) {
        GgufValue v = get(key);
        if (!v.isArray() || v.type() != GgufType.STRING) {
            throw new GgufFormatException(path,
                    "GGUF metadata key '" + key + "' is an " + v.describe() + ", not an array of STRING");
        }
        return (List<String>) v.value();
    }

    private GgufFormatException wrongType(String key, IllegalStateException e) {
        return new GgufFormatException(path, "GGUF metadata key '" + key + "': " + e.getMessage(), e);
    }

    /** The tensor infos in file order. */
    public List<GgufTensorInfo> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}, if present. */
    public Optional<GgufTensorInfo> tensor(String name) {
        return Optional.ofNullable(tensorsByName.get(name));
    }

    /** The data alignment in bytes: {@code general.alignment}, or {@value #DEFAULT_ALIGNMENT}. */
    public int alignment() {
        return alignment;
    }

    /** The absolute file offset where tensor data starts; tensor offsets are relative to it. */
    public long dataOffset() {
        return dataOffset;
    }

    /**
     * Reads the raw data of a tensor into a new little-endian buffer.
     *
     * @throws GgufFormatException    if there is no such tensor or the file has become shorter than its header says
     * @throws IllegalStateException  if the tensor is 2 GiB or larger, too large for a buffer
     * @throws IOException            if the file cannot be read
     */
    public ByteBuffer readTensorData(String name) throws IOException {
        GgufTensorInfo t = tensor(name).orElseThrow(
                () -> new GgufFormatException(path, "GGUF file has no tensor '" + name + "'"));
        long size = t.byteSize();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor '" + name + "' has " + size + " bytes, too many for a ByteBuffer");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long pos = dataOffset + t.offset();
            while (buf.hasRemaining()) {
                int n = ch.read(buf, pos);
                if (n < 0) {
                    throw new GgufFormatException(path, "Truncated GGUF file: data of tensor '" + name
                            + "' ends at byte " + (dataOffset + t.offset() + size) + " but the file ends at " + pos);
                }
                pos += n;
            }
        }
        return buf.flip();
    }

    /**
     * Reads a tensor of type F32, F16 or BF16 as floats, in ggml element order (innermost dimension first).
     *
     * @throws GgufFormatException   if there is no such tensor, or it has another type
     * @throws IllegalStateException if the tensor is too large for a Java array
     * @throws IOException           if the file cannot be read
     */
    public float[] readFloats(String name) throws IOException {
        GgufTensorInfo t = tensor(name).orElseThrow(
                () -> new GgufFormatException(path, "GGUF file has no tensor '" + name + "'"));
        if (t.type() != GgmlType.F32 && t.type() != GgmlType.F16 && t.type() != GgmlType.BF16) {
            throw new GgufFormatException(path, "tensor '" + name + "' is " + t.type() + ", not F32, F16 or BF16");
        }
        ByteBuffer buf = readTensorData(name);
        float[] out = new float[(int) t.elementCount()];
        switch (t.type()) {
            case F32 -> buf.asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloat(buf.getShort(2 * i));
                }
            }
            default -> { // BF16 is the upper half of an F32
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.intBitsToFloat(buf.getShort(2 * i) << 16);
                }
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", version " + version + ", " + typed.size() + " keys, "
                + tensors.size() + " tensors]";
    }

    /** Single-use cursor over the mapped file; every read is bounds-checked so truncation gets a clear message. */
    private static final class Parser {
        private final Path path;
        private final MemorySegment seg;
        private final long size;
        private long pos;
        /** What is being read, for error messages; set per section/key/tensor rather than per value to stay cheap. */
        private String context = "header";

        Parser(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
            this.size = seg.byteSize();
        }

        GgufFile parse() {
            context = "magic";
            need(4);
            int magic = seg.get(U32, 0);
            if (magic != MAGIC) {
                throw fail("Not a GGUF file: magic is " + describeMagic() + ", expected \"GGUF\"");
            }
            pos = 4;
            context = "version";
            int version = u32();
            if (version != 2 && version != VERSION) {
                // A big-endian file's version 3 reads as 0x03000000 here.
                String hint = (version & 0xFFFF) == 0 ? " (a big-endian GGUF file? only little-endian is supported)" : "";
                throw fail("Unsupported GGUF version " + Integer.toUnsignedString(version) + hint
                        + "; supported versions are 2 and 3");
            }
            context = "tensor count";
            long tensorCount = u64();
            context = "metadata count";
            long kvCount = u64();
            checkCount(kvCount, MIN_KV_SIZE, "metadata key/value count");

            SequencedMap<String, GgufValue> kv = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                context = "metadata key #" + i;
                String key = string();
                if (key.isEmpty()) {
                    throw fail("GGUF metadata key #" + i + " is empty");
                }
                if (kv.containsKey(key)) {
                    throw fail("Duplicate GGUF metadata key '" + key + "'");
                }
                context = "metadata key '" + key + "'";
                kv.put(key, value(key));
            }

            int alignment = DEFAULT_ALIGNMENT;
            GgufValue a = kv.get(ALIGNMENT_KEY);
            if (a != null) {
                if (a.isArray() || a.type() != GgufType.UINT32) {
                    throw fail("GGUF key '" + ALIGNMENT_KEY + "' must be a UINT32, but is an " + a.describe());
                }
                long al = a.asLong();
                if (al == 0 || Long.bitCount(al) != 1 || al > (1 << 30)) {
                    throw fail("GGUF key '" + ALIGNMENT_KEY + "' is " + al + ", not a power of two up to 2^30");
                }
                alignment = (int) al;
            }

            checkCount(tensorCount, MIN_TENSOR_INFO_SIZE, "tensor count");
            List<GgufTensorInfo> infos = new ArrayList<>((int) tensorCount);
            Map<String, GgufTensorInfo> names = new HashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                context = "tensor info #" + i;
                GgufTensorInfo t = tensorInfo(alignment);
                if (names.putIfAbsent(t.name(), t) != null) {
                    throw fail("Duplicate GGUF tensor name '" + t.name() + "'");
                }
                infos.add(t);
            }

            // As in llama.cpp: the data section starts at the next aligned offset, but only if there are tensors.
            long dataOffset = tensorCount > 0 ? alignUp(pos, alignment) : pos;
            for (GgufTensorInfo t : infos) {
                long end = dataOffset + t.offset() + t.byteSize();
                if (end > size || end < 0) {
                    throw fail("Truncated GGUF file: data of tensor '" + t.name() + "' ends at byte " + end
                            + " but the file has only " + size + " bytes");
                }
            }
            return new GgufFile(path, version, kv, infos, alignment, dataOffset);
        }

        private GgufValue value(String key) {
            int typeId = u32();
            if (typeId == GgufType.ARRAY_ID) {
                int elemId = u32();
                if (elemId == GgufType.ARRAY_ID) {
                    throw fail("GGUF metadata key '" + key + "' is a nested array, which is not supported");
                }
                GgufType elem = type(key, elemId);
                long n = u64();
                if (n < 0 || n > Integer.MAX_VALUE - 8 || n > (size - pos) / elem.minEncodedSize()) {
                    throw fail("Implausible GGUF array length " + Long.toUnsignedString(n) + " for key '" + key
                            + "' (truncated or corrupt file?): only " + (size - pos) + " bytes remain");
                }
                Object[] elements = new Object[(int) n];
                for (int i = 0; i < elements.length; i++) {
                    elements[i] = scalar(elem);
                }
                return new GgufValue(elem, true, List.of(elements));
            }
            GgufType type = type(key, typeId);
            return new GgufValue(type, false, scalar(type));
        }

        private GgufType type(String key, int id) {
            return GgufType.byId(id).orElseThrow(
                    () -> fail("GGUF metadata key '" + key + "' has unknown value type id " + Integer.toUnsignedString(id)));
        }

        private Object scalar(GgufType type) {
            return switch (type) {
                case UINT8, INT8 -> u8();
                case UINT16, INT16 -> {
                    need(2);
                    short v = seg.get(U16, pos);
                    pos += 2;
                    yield v;
                }
                case UINT32, INT32 -> u32();
                case UINT64, INT64 -> u64();
                case FLOAT32 -> {
                    need(4);
                    float v = seg.get(F32, pos);
                    pos += 4;
                    yield v;
                }
                case FLOAT64 -> {
                    need(8);
                    double v = seg.get(F64, pos);
                    pos += 8;
                    yield v;
                }
                case BOOL -> u8() != 0;
                case STRING -> string();
            };
        }

        private GgufTensorInfo tensorInfo(int alignment) {
            String name = string();
            context = "tensor '" + name + "'";
            int nDims = u32();
            if (nDims < 0 || nDims > MAX_DIMS) {
                throw fail("GGUF tensor '" + name + "' has " + Integer.toUnsignedString(nDims)
                        + " dimensions; at most " + MAX_DIMS + " are supported");
            }
            Long[] dims = new Long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                long ne = u64();
                if (ne < 0) {
                    throw fail("GGUF tensor '" + name + "' has implausible dimension " + Long.toUnsignedString(ne));
                }
                try {
                    elements = Math.multiplyExact(elements, ne);
                } catch (ArithmeticException e) {
                    throw fail("GGUF tensor '" + name + "' has too many elements");
                }
                dims[d] = ne;
            }
            int typeId = u32();
            GgmlType type = GgmlType.byId(typeId).orElseThrow(() -> fail("GGUF tensor '" + name
                    + "' has unknown or unsupported ggml type id " + Integer.toUnsignedString(typeId)));
            if (nDims > 0 && dims[0] % type.blockSize() != 0) {
                throw fail("GGUF tensor '" + name + "' of type " + type + " has " + dims[0]
                        + " elements per row, not a multiple of the block size " + type.blockSize());
            }
            long offset = u64();
            if (offset < 0 || offset % alignment != 0) {
                throw fail("GGUF tensor '" + name + "' has data offset " + Long.toUnsignedString(offset)
                        + ", not a multiple of the alignment " + alignment);
            }
            return new GgufTensorInfo(name, List.of(dims), type, offset);
        }

        private String string() {
            long len = u64();
            if (len < 0 || len > size - pos) {
                throw fail("Truncated GGUF file: string of length " + Long.toUnsignedString(len) + " in " + context
                        + " at offset " + (pos - 8) + ", but only " + (size - pos) + " bytes remain");
            }
            if (len > Integer.MAX_VALUE - 8) {
                throw fail("GGUF string of length " + len + " in " + context + " is too long");
            }
            byte[] bytes = new byte[(int) len];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, bytes, 0, bytes.length);
            pos += len;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        private byte u8() {
            need(1);
            return seg.get(ValueLayout.JAVA_BYTE, pos++);
        }

        private int u32() {
            need(4);
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        private long u64() {
            need(8);
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        private void need(long n) {
            if (n > size - pos) {
                throw fail("Truncated GGUF file: " + context + " needs " + n + " bytes at offset " + pos
                        + ", but the file has only " + size + " bytes");
            }
        }

        /** Rejects a count the remaining bytes cannot hold, before anything is allocated for it. */
        private void checkCount(long count, int minEach, String what) {
            long room = (size - pos) / minEach;
            if (count < 0 || count > room || count > Integer.MAX_VALUE - 8) {
                throw fail("Implausible GGUF " + what + " " + Long.toUnsignedString(count)
                        + " (truncated or corrupt file?): the remaining " + (size - pos) + " bytes hold at most " + room);
            }
        }

        private String describeMagic() {
            StringBuilder text = new StringBuilder("\"");
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 4; i++) {
                int b = seg.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
                text.append(b >= 0x20 && b < 0x7F ? (char) b : '?');
                hex.append(i == 0 ? "" : " ").append(String.format("%02X", b));
            }
            return text.append("\" (").append(hex).append(')').toString();
        }

        private GgufFormatException fail(String message) {
            return new GgufFormatException(path, message);
        }
    }

    static long alignUp(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }
}
