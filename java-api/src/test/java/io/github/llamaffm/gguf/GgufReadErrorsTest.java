package io.github.llamaffm.gguf;

import org.junit.jupiter.api.Tag;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-model")
class GgufReadErrorsTest {
    @TempDir
    Path dir;

    private AbstractThrowableAssert<?, ? extends Throwable> assertReadFails(byte[] bytes) throws IOException {
        Path file = Files.write(dir.resolve("bad.gguf"), bytes);
        return assertThatThrownBy(() -> GgufFile.read(file))
                .isInstanceOf(GgufFormatException.class)
                .hasMessageContaining(file.toString());
    }

    @Test
    void badMagic() throws IOException {
        byte[] bytes = RawGguf.header(3, 0, 0).toBytes();
        bytes[0] = 'P';
        bytes[1] = 'K';
        assertReadFails(bytes).hasMessageContaining("Not a GGUF file").hasMessageContaining("\"PKUF\"");
    }

    @Test
    void unsupportedVersions() throws IOException {
        assertReadFails(RawGguf.header(1, 0, 0).toBytes()).hasMessageContaining("Unsupported GGUF version 1");
        assertReadFails(RawGguf.header(4, 0, 0).toBytes()).hasMessageContaining("Unsupported GGUF version 4");
        assertReadFails(RawGguf.header(0x03000000, 0, 0).toBytes()).hasMessageContaining("big-endian");
    }

    @Test
    void acceptsVersion2() throws IOException {
        Path file = RawGguf.header(2, 0, 1).kvU32("k", 5).writeTo(dir.resolve("v2.gguf"));
        GgufFile f = GgufFile.read(file);
        assertThat(f.version()).isEqualTo(2);
        assertThat(f.getInt("k")).isEqualTo(5);
    }

    @Test
    void emptyAndTinyFiles() throws IOException {
        assertReadFails(new byte[0]).hasMessageContaining("Truncated").hasMessageContaining("magic");
        assertReadFails("GGU".getBytes()).hasMessageContaining("Truncated");
        assertReadFails("GGUF".getBytes()).hasMessageContaining("Truncated").hasMessageContaining("version");
    }

    @Test
    void everyTruncationOfAValidFileIsReported() throws IOException {
        Path full = dir.resolve("full.gguf");
        new GgufWriter()
                .putString("general.architecture", "test")
                .put("a.strings", GgufValue.stringArray(List.of("one", "two", "three")))
                .put("a.floats", GgufValue.array(GgufType.FLOAT32, List.of(1f, 2f)))
                .put("b", GgufValue.bool(true))
                .addTensor("w", GgmlType.F16, new float[] {1, 2, 3, 4, 5, 6}, 3, 2)
                .addTensor("v", GgmlType.F32, new float[] {1, 2, 3}, 3)
                .write(full);
        byte[] bytes = Files.readAllBytes(full);
        GgufFile f = GgufFile.read(full);
        GgufTensorInfo last = f.tensors().getLast();
        long needed = f.dataOffset() + last.offset() + last.byteSize();

        for (int len = 0; len < needed; len++) {
            Path cut = Files.write(dir.resolve("cut.gguf"), Arrays.copyOf(bytes, len));
            GgufFormatException e = catchThrowableOfType(GgufFormatException.class, () -> GgufFile.read(cut));
            assertThat(e).as("reading the first %d of %d bytes", len, bytes.length).isNotNull();
            assertThat(e.getMessage()).as("length %d", len).containsIgnoringCase("truncated").contains(cut.toString());
            assertThat(e.path()).isEqualTo(cut);
        }
        // Only the final tensor's trailing padding may be missing, as in llama.cpp.
        Path cut = Files.write(dir.resolve("cut.gguf"), Arrays.copyOf(bytes, (int) needed));
        assertThat(GgufFile.read(cut).tensors()).hasSize(2);
    }

    @Test
    void implausibleCounts() throws IOException {
        assertReadFails(RawGguf.header(3, 0, Long.MAX_VALUE).toBytes())
                .hasMessageContaining("Implausible GGUF metadata key/value count 9223372036854775807");
        assertReadFails(RawGguf.header(3, -1, 0).toBytes())
                .hasMessageContaining("Implausible GGUF tensor count 18446744073709551615");
        assertReadFails(RawGguf.header(3, 1_000_000, 0).zeros(100).toBytes())
                .hasMessageContaining("Implausible GGUF tensor count 1000000");
        assertReadFails(RawGguf.header(3, 0, 1).string("arr").u32(9).u32(GgufType.INT32.id()).u64(1L << 40).toBytes())
                .hasMessageContaining("Implausible GGUF array length 1099511627776 for key 'arr'");
        assertReadFails(RawGguf.header(3, 0, 1).string("s").u32(GgufType.STRING.id()).u64(1L << 50).toBytes())
                .hasMessageContaining("string of length 1125899906842624").hasMessageContaining("metadata key 's'");
    }

    @Test
    void invalidMetadata() throws IOException {
        assertReadFails(RawGguf.header(3, 0, 1).string("k").u32(13).u32(0).toBytes())
                .hasMessageContaining("key 'k' has unknown value type id 13");
        assertReadFails(RawGguf.header(3, 0, 1).string("k").u32(9).u32(9).u64(0).toBytes())
                .hasMessageContaining("nested array");
        assertReadFails(RawGguf.header(3, 0, 2).kvU32("k", 1).kvU32("k", 2).toBytes())
                .hasMessageContaining("Duplicate GGUF metadata key 'k'");
        assertReadFails(RawGguf.header(3, 0, 1).kvU32("", 1).toBytes())
                .hasMessageContaining("key #0 is empty");
        assertReadFails(RawGguf.header(3, 0, 1).kvU32(GgufFile.ALIGNMENT_KEY, 24).toBytes())
                .hasMessageContaining("not a power of two");
        assertReadFails(RawGguf.header(3, 0, 1).string(GgufFile.ALIGNMENT_KEY).u32(GgufType.INT32.id()).u32(32).toBytes())
                .hasMessageContaining("must be a UINT32");
    }

    /** A file with one tensor info whose fields are given, followed by enough data for anything it claims. */
    private static byte[] oneTensor(int nDims, long[] dims, int type, long offset) {
        RawGguf raw = RawGguf.header(3, 1, 0).string("t").u32(nDims);
        for (long d : dims) {
            raw.u64(d);
        }
        return raw.u32(type).u64(offset).pad(32).zeros(256).toBytes();
    }

    @Test
    void invalidTensorInfos() throws IOException {
        assertReadFails(oneTensor(5, new long[] {1, 1, 1, 1, 1}, 0, 0))
                .hasMessageContaining("tensor 't' has 5 dimensions; at most 4");
        assertReadFails(oneTensor(1, new long[] {-4}, 0, 0))
                .hasMessageContaining("implausible dimension 18446744073709551612");
        assertReadFails(oneTensor(2, new long[] {1L << 40, 1L << 40}, 0, 0))
                .hasMessageContaining("too many elements");
        assertReadFails(oneTensor(1, new long[] {4}, 4, 0))
                .hasMessageContaining("unknown or unsupported ggml type id 4");
        assertReadFails(oneTensor(1, new long[] {4}, 99, 0))
                .hasMessageContaining("unknown or unsupported ggml type id 99");
        assertReadFails(oneTensor(1, new long[] {16}, GgmlType.Q8_0.id(), 0))
                .hasMessageContaining("not a multiple of the block size 32");
        assertReadFails(oneTensor(1, new long[] {4}, 0, 8))
                .hasMessageContaining("data offset 8, not a multiple of the alignment 32");
        assertReadFails(oneTensor(1, new long[] {1000}, 0, 0))
                .hasMessageContaining("Truncated").hasMessageContaining("data of tensor 't'");
        byte[] twice = RawGguf.header(3, 2, 0)
                .string("t").u32(1).u64(4).u32(0).u64(0)
                .string("t").u32(1).u64(4).u32(0).u64(32)
                .pad(32).zeros(64).toBytes();
        assertReadFails(twice).hasMessageContaining("Duplicate GGUF tensor name 't'");
    }

    @Test
    void tensorAccessErrors() throws IOException {
        Path file = dir.resolve("q.gguf");
        Files.write(file, oneTensor(1, new long[] {32}, GgmlType.Q8_0.id(), 0));
        GgufFile f = GgufFile.read(file);
        assertThat(f.tensor("t")).get().extracting(GgufTensorInfo::byteSize).isEqualTo(34L);
        assertThatThrownBy(() -> f.readFloats("t"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("is Q8_0, not F32");
        assertThatThrownBy(() -> f.readFloats("nope"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("no tensor 'nope'");
    }

    @Test
    void missingFileIsAnIoException() {
        assertThatThrownBy(() -> GgufFile.read(dir.resolve("absent.gguf"))).isInstanceOf(NoSuchFileException.class);
    }

    @Test
    void rawHelperProducesWhatTheReaderExpects() throws IOException {
        // Guards the hand-made cases above: a well-formed raw file must parse.
        byte[] ok = oneTensor(2, new long[] {2, 2}, 0, 0);
        Path file = Files.write(dir.resolve("ok.gguf"), ok);
        GgufFile f = GgufFile.read(file);
        assertThat(f.tensors()).containsExactly(new GgufTensorInfo("t", List.of(2L, 2L), GgmlType.F32, 0));
        assertThat(f.dataOffset()).isEqualTo(96); // 65 header bytes, padded to the alignment
        assertThat(ByteBuffer.wrap(ok).order(ByteOrder.LITTLE_ENDIAN).getInt(0)).isEqualTo(GgufFile.MAGIC);
    }
}
