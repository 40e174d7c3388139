package io.github.llamaffm.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;
import java.util.Set;

/**
 * Builds a GGUF version 3 file: metadata of any GGUF type, written exactly as given and in insertion order, and
 * tensors of type {@link GgmlType#F32} or {@link GgmlType#F16}, laid out as llama.cpp expects (each tensor's data
 * at the next multiple of the alignment, {@value GgufFile#DEFAULT_ALIGNMENT} unless {@code general.alignment} is
 * set). Output is deterministic: the same calls produce the same bytes.
 *
 * <p>Not thread-safe; use one instance per file. Tensor data is held in memory until {@link #write}.
 */
public final class GgufWriter {
    /** ggml's {@code GGML_MAX_NAME}: tensor names must be shorter, counting the C string's terminating NUL. */
    static final int MAX_TENSOR_NAME_BYTES = 63;
    private static final int CHUNK_ELEMENTS = 1 << 20;

    private final SequencedMap<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();

    private record Tensor(String name, GgmlType type, long[] dims, float[] data) {
    }

    /** Creates an empty writer. */
    public GgufWriter() {
    }

    /**
     * Sets a metadata value. A new key goes last; setting an existing key replaces its value in place.
     *
     * @throws IllegalArgumentException if the key is empty, or {@code general.alignment} is not a uint32 power of two
     */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("metadata key must not be empty");
        }
        if (key.equals(GgufFile.ALIGNMENT_KEY)) {
            long a = value.isArray() || value.type() != GgufType.UINT32 ? -1 : value.asLong();
            if (a <= 0 || Long.bitCount(a) != 1 || a > (1 << 30)) {
                throw new IllegalArgumentException(
                        GgufFile.ALIGNMENT_KEY + " must be a UINT32 power of two up to 2^30, got " + value);
            }
        }
        metadata.put(key, value);
        return this;
    }

    /** Sets every entry of {@code values}, in their iteration order. */
    public GgufWriter putAll(Map<String, GgufValue> values) {
        values.forEach(this::put);
        return this;
    }

    /** Sets a string value. */
    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.string(value));
    }

    /** Sets a uint32 value, the type llama.cpp expects for most integer hyperparameters. */
    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValue.uint32(value));
    }

    /** Sets a float32 value. */
    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.float32(value));
    }

    /**
     * Adds a tensor; tensors are written in the order added. {@code data} is copied and, for F16, converted with
     * {@link Float#floatToFloat16}.
     *
     * @param type F32 or F16
     * @param data the elements in ggml order (innermost dimension first), as many as the dimensions multiply to
     * @param dims one to four dimensions, innermost first, each at least 1
     * @throws IllegalArgumentException if the name is empty, too long or already used, the type is not F32/F16,
     *                                  or the dimensions do not match {@code data}
     */
    public GgufWriter addTensor(String name, GgmlType type, float[] data, long... dims) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(dims, "dims");
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes == 0 || nameBytes > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name must have 1 to " + MAX_TENSOR_NAME_BYTES
                    + " UTF-8 bytes, got " + nameBytes + ": '" + name + "'");
        }
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new IllegalArgumentException("tensor '" + name + "': only F32 and F16 can be written, got " + type);
        }
        if (dims.length < 1 || dims.length > GgufFile.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' must have 1 to " + GgufFile.MAX_DIMS
                    + " dimensions, got " + dims.length);
        }
        long elements = 1;
        for (long d : dims) {
            if (d < 1) {
                throw new IllegalArgumentException("tensor '" + name + "' has dimension " + d + "; each must be >= 1");
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (elements != data.length) {
            throw new IllegalArgumentException("tensor '" + name + "' has dimensions " + Arrays.toString(dims)
                    + " (" + elements + " elements) but " + data.length + " values");
        }
        if (!tensorNames.add(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' was already added");
        }
        tensors.add(new Tensor(name, type, dims.clone(), data.clone()));
        return this;
    }

    /**
     * Writes the file. It is first written to a temporary file beside {@code out} and then moved into place
     * (atomically where the file system allows), so readers never see a partial file and concurrent writers of the
     * same content do not corrupt each other; an existing {@code out} is replaced.
     *
     * @throws IOException if writing fails; {@code out} is then left as it was
     */
    public void write(Path out) throws IOException {
        Objects.requireNonNull(out, "out");
        Path target = out.toAbsolutePath();
        Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeTo(ch);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp); // only still there if something failed
        }
    }

    private void writeTo(FileChannel ch) throws IOException {
        int alignment = metadata.containsKey(GgufFile.ALIGNMENT_KEY)
                ? (int) metadata.get(GgufFile.ALIGNMENT_KEY).asLong()
                : GgufFile.DEFAULT_ALIGNMENT;

        LeBuffer header = new LeBuffer();
        header.putInt(GgufFile.MAGIC);
        header.putInt(GgufFile.VERSION);
        header.putLong(tensors.size());
        header.putLong(metadata.size());
        metadata.forEach((key, value) -> {
            header.putString(key);
            if (value.isArray()) {
                header.putInt(GgufType.ARRAY_ID);
                header.putInt(value.type().id());
                List<?> list = value.asList();
                header.putLong(list.size());
                for (Object e : list) {
                    header.putScalar(value.type(), e);
                }
            } else {
                header.putInt(value.type().id());
                header.putScalar(value.type(), value.value());
            }
        });
        long offset = 0;
        for (Tensor t : tensors) {
            header.putString(t.name);
            header.putInt(t.dims.length);
            for (long d : t.dims) {
                header.putLong(d);
            }
            header.putInt(t.type.id());
            header.putLong(offset);
            offset = GgufFile.alignUp(offset + byteSize(t), alignment);
        }
        header.padTo(alignment); // the data section starts aligned
        writeFully(ch, header.toByteBuffer());

        // Converted in chunks so that large tensors need no second full-size copy (and no buffer over 2 GiB).
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_ELEMENTS * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (Tensor t : tensors) {
            for (int start = 0; start < t.data.length; start += CHUNK_ELEMENTS) {
                int n = Math.min(CHUNK_ELEMENTS, t.data.length - start);
                chunk.clear();
                if (t.type == GgmlType.F32) {
                    chunk.asFloatBuffer().put(t.data, start, n);
                    chunk.limit(n * Float.BYTES);
                } else {
                    for (int i = 0; i < n; i++) {
                        chunk.putShort(Float.floatToFloat16(t.data[start + i]));
                    }
                    chunk.flip();
                }
                writeFully(ch, chunk);
            }
            long size = byteSize(t);
            writeFully(ch, ByteBuffer.allocate((int) (GgufFile.alignUp(size, alignment) - size)));
        }
    }

    private static long byteSize(Tensor t) {
        return (long) t.data.length * t.type.typeSize();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /** A growable little-endian byte buffer for the header, whose size is only known once it is encoded. */
    private static final class LeBuffer {
        private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void ensure(int n) {
            if (buf.remaining() < n) {
                long cap = Math.max((long) buf.capacity() * 2, (long) buf.position() + n);
                if (cap > Integer.MAX_VALUE - 8) {
                    throw new IllegalStateException("GGUF header exceeds 2 GiB");
                }
                ByteBuffer bigger = ByteBuffer.allocate((int) cap).order(ByteOrder.LITTLE_ENDIAN);
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
        }

        void putInt(int v) {
            ensure(4);
            buf.putInt(v);
        }

        void putLong(long v) {
            ensure(8);
            buf.putLong(v);
        }

        void putString(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            putLong(b.length);
            ensure(b.length);
            buf.put(b);
        }

        void putScalar(GgufType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> {
                    ensure(1);
                    buf.put((Byte) v);
                }
                case UINT16, INT16 -> {
                    ensure(2);
                    buf.putShort((Short) v);
                }
                case UINT32, INT32 -> putInt((Integer) v);
                case UINT64, INT64 -> putLong((Long) v);
                case FLOAT32 -> {
                    ensure(4);
                    buf.putFloat((Float) v);
                }
                case FLOAT64 -> {
                    ensure(8);
                    buf.putDouble((Double) v);
                }
                case BOOL -> {
                    ensure(1);
                    buf.put((byte) ((Boolean) v ? 1 : 0));
                }
                case STRING -> putString((String) v);
            }
        }

        void padTo(int alignment) {
            int padded = (int) GgufFile.alignUp(buf.position(), alignment);
            ensure(padded - buf.position());
            buf.position(padded); // fresh buffers are zeroed, so skipping writes zero padding
        }

        ByteBuffer toByteBuffer() {
            return buf.duplicate().flip();
        }
    }
}
