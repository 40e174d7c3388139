package io.github.llamaffm.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Hand-assembles GGUF bytes, including malformed ones the writer refuses to produce. */
final class RawGguf {
    private ByteBuffer buf = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

    /** A header: magic, version, tensor count and key/value count. */
    static RawGguf header(int version, long tensorCount, long kvCount) {
        return new RawGguf().bytes("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version).u64(tensorCount).u64(kvCount);
    }

    private void ensure(int n) {
        if (buf.remaining() < n) {
            buf = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                    .order(ByteOrder.LITTLE_ENDIAN).put(buf.flip());
        }
    }

    RawGguf u8(int v) {
        ensure(1);
        buf.put((byte) v);
        return this;
    }

    RawGguf u32(int v) {
        ensure(4);
        buf.putInt(v);
        return this;
    }

    RawGguf u64(long v) {
        ensure(8);
        buf.putLong(v);
        return this;
    }

    RawGguf bytes(byte[] b) {
        ensure(b.length);
        buf.put(b);
        return this;
    }

    RawGguf string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).bytes(b);
    }

    /** A uint32 key/value pair. */
    RawGguf kvU32(String key, int value) {
        return string(key).u32(GgufType.UINT32.id()).u32(value);
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    RawGguf pad(int alignment) {
        while (buf.position() % alignment != 0) {
            u8(0);
        }
        return this;
    }

    RawGguf zeros(int n) {
        ensure(n);
        buf.position(buf.position() + n);
        return this;
    }

    byte[] toBytes() {
        return Arrays.copyOf(buf.array(), buf.position());
    }

    Path writeTo(Path file) throws IOException {
        return Files.write(file, toBytes());
    }
}
