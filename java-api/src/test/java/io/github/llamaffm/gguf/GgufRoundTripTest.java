package io.github.llamaffm.gguf;

import org.junit.jupiter.api.Tag;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-model")
class GgufRoundTripTest {
    @TempDir
    Path dir;

    /** One value of every scalar type and every array type, with edge values that expose sign or width mistakes. */
    private static Map<String, GgufValue> everyType() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("t.uint8", GgufValue.uint8(255));
        m.put("t.int8", GgufValue.int8((byte) -128));
        m.put("t.uint16", GgufValue.uint16(65535));
        m.put("t.int16", GgufValue.int16((short) -32768));
        m.put("t.uint32", GgufValue.uint32(4_294_967_295L));
        m.put("t.int32", GgufValue.int32(Integer.MIN_VALUE));
        m.put("t.float32", GgufValue.float32(-1.5e-3f));
        m.put("t.bool.true", GgufValue.bool(true));
        m.put("t.bool.false", GgufValue.bool(false));
        m.put("t.string", GgufValue.string("héllo wörld ✓ 你好"));
        m.put("t.string.empty", GgufValue.string(""));
        m.put("t.uint64", GgufValue.uint64(-1L)); // 2^64 - 1
        m.put("t.int64", GgufValue.int64(Long.MIN_VALUE));
        m.put("t.float64", GgufValue.float64(Math.PI));
        m.put("t.float32.nan", GgufValue.float32(Float.NaN));
        m.put("a.uint8", GgufValue.array(GgufType.UINT8, List.of((byte) 0, (byte) 1, (byte) -1)));
        m.put("a.int8", GgufValue.array(GgufType.INT8, List.of((byte) -1, (byte) 127)));
        m.put("a.uint16", GgufValue.array(GgufType.UINT16, List.of((short) 1, (short) -1)));
        m.put("a.int16", GgufValue.array(GgufType.INT16, List.of((short) -2, (short) 300)));
        m.put("a.uint32", GgufValue.array(GgufType.UINT32, List.of(7, -1)));
        m.put("a.int32", GgufValue.array(GgufType.INT32, List.of(-7, 1 << 30)));
        m.put("a.float32", GgufValue.array(GgufType.FLOAT32, List.of(0.25f, -0.0f, Float.POSITIVE_INFINITY)));
        m.put("a.bool", GgufValue.array(GgufType.BOOL, List.of(true, false, true)));
        m.put("a.string", GgufValue.stringArray(List.of("<s>", "", "▁the", "\n")));
        m.put("a.uint64", GgufValue.array(GgufType.UINT64, List.of(1L, -1L)));
        m.put("a.int64", GgufValue.array(GgufType.INT64, List.of(Long.MAX_VALUE, -5L)));
        m.put("a.float64", GgufValue.array(GgufType.FLOAT64, List.of(1e300, -2.5)));
        m.put("a.empty", GgufValue.array(GgufType.INT32, List.of()));
        return m;
    }

    @Test
    void everyMetadataTypeRoundTripsExactly() throws IOException {
        Map<String, GgufValue> values = everyType();
        Path file = dir.resolve("types.gguf");
        new GgufWriter().putAll(values).write(file);

        GgufFile f = GgufFile.read(file);

        assertThat(f.version()).isEqualTo(3);
        assertThat(f.typedMetadata()).containsExactlyEntriesOf(values);
        assertThat(f.metadata().keySet()).containsExactlyElementsOf(values.keySet());
        assertThat(f.tensors()).isEmpty();
        // Rewriting what was read must reproduce the file byte for byte.
        Path again = dir.resolve("again.gguf");
        new GgufWriter().putAll(f.typedMetadata()).write(again);
        assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(file));
    }

    @Test
    void typedAccessorsConvertAndWidenUnsignedValues() throws IOException {
        Path file = dir.resolve("types.gguf");
        new GgufWriter().putAll(everyType()).write(file);
        GgufFile f = GgufFile.read(file);

        assertThat(f.getInt("t.uint8")).isEqualTo(255);
        assertThat(f.getInt("t.uint16")).isEqualTo(65535);
        assertThat(f.getLong("t.uint32")).isEqualTo(4_294_967_295L);
        assertThat(f.getInt("t.int32")).isEqualTo(Integer.MIN_VALUE);
        assertThat(f.getLong("t.int64")).isEqualTo(Long.MIN_VALUE);
        assertThat(f.getFloat("t.float32")).isEqualTo(-1.5e-3f);
        assertThat(f.getDouble("t.float64")).isEqualTo(Math.PI);
        assertThat(f.getBoolean("t.bool.true")).isTrue();
        assertThat(f.getString("t.string")).isEqualTo("héllo wörld ✓ 你好");
        assertThat(f.getStringArray("a.string")).containsExactly("<s>", "", "▁the", "\n");
        assertThat(f.getArray("a.float32")).isEqualTo(List.of(0.25f, -0.0f, Float.POSITIVE_INFINITY));
        assertThat(f.metadata().get("t.uint32")).isEqualTo(-1); // same-width representation, see GgufType
        assertThat(f.contains("t.int8")).isTrue();
        assertThat(f.find("nope")).isEmpty();

        assertThatThrownBy(() -> f.getInt("t.uint32"))
                .isInstanceOf(GgufFormatException.class)
                .hasMessageContaining("t.uint32").hasMessageContaining("does not fit an int")
                .hasMessageContaining(file.toString());
        assertThatThrownBy(() -> f.getLong("t.uint64"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("18446744073709551615");
        assertThatThrownBy(() -> f.getString("t.int32"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("'t.int32'").hasMessageContaining("not a string");
        assertThatThrownBy(() -> f.getStringArray("a.int32"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("array of INT32");
        assertThatThrownBy(() -> f.getInt("missing.key"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("'missing.key' is missing")
                .hasMessageContaining(file.toString());
        assertThatThrownBy(() -> f.metadata().put("x", 1)).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void tensorsRoundTripWithAlignedOffsets() throws IOException {
        float[] a = {1f, -2f, 3.5f, 1e-8f, Float.MAX_VALUE, -0f};           // 6 x F32 = 24 bytes, padded to 32
        float[] b = new float[3 * 5];                                     // 15 x F16 = 30 bytes, padded to 32
        for (int i = 0; i < b.length; i++) {
            b[i] = (i - 7) * 0.1f;
        }
        float[] c = {42f};
        Path file = dir.resolve("tensors.gguf");
        new GgufWriter()
                .putString("general.architecture", "test")
                .addTensor("a", GgmlType.F32, a, 2, 3)
                .addTensor("b", GgmlType.F16, b, 5, 3)
                .addTensor("c", GgmlType.F32, c, 1)
                .write(file);

        GgufFile f = GgufFile.read(file);

        assertThat(f.alignment()).isEqualTo(32);
        assertThat(f.dataOffset() % 32).isZero();
        assertThat(f.tensors()).containsExactly(
                new GgufTensorInfo("a", List.of(2L, 3L), GgmlType.F32, 0),
                new GgufTensorInfo("b", List.of(5L, 3L), GgmlType.F16, 32),
                new GgufTensorInfo("c", List.of(1L), GgmlType.F32, 64));
        assertThat(f.readFloats("a")).containsExactly(a);
        float[] expectedB = new float[b.length];
        for (int i = 0; i < b.length; i++) {
            expectedB[i] = Float.float16ToFloat(Float.floatToFloat16(b[i]));
        }
        assertThat(f.readFloats("b")).containsExactly(expectedB);
        assertThat(f.readFloats("c")).containsExactly(42f);
        assertThat(f.readTensorData("b").remaining()).isEqualTo(30);
        // Every tensor's data, padding included, ends on an alignment boundary.
        assertThat(Files.size(file)).isEqualTo(f.dataOffset() + 96);
    }

    @Test
    void honoursGeneralAlignment() throws IOException {
        Path file = dir.resolve("aligned.gguf");
        new GgufWriter()
                .putUInt32(GgufFile.ALIGNMENT_KEY, 64)
                .addTensor("x", GgmlType.F32, new float[3], 3)
                .addTensor("y", GgmlType.F32, new float[3], 3)
                .write(file);

        GgufFile f = GgufFile.read(file);

        assertThat(f.alignment()).isEqualTo(64);
        assertThat(f.dataOffset() % 64).isZero();
        assertThat(f.tensor("y")).get().extracting(GgufTensorInfo::offset).isEqualTo(64L);
    }

    @Test
    void putReplacesInPlaceAndKeepsInsertionOrder() throws IOException {
        Path file = dir.resolve("order.gguf");
        new GgufWriter().putString("z", "1").putString("a", "2").putUInt32("z", 3).write(file);

        GgufFile f = GgufFile.read(file);

        assertThat(f.metadata().keySet()).containsExactly("z", "a");
        assertThat(f.get("z")).isEqualTo(GgufValue.uint32(3));
    }

    @Test
    void writeReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("out.gguf");
        Files.writeString(file, "old");
        new GgufWriter().putString("k", "v").write(file);

        assertThat(GgufFile.read(file).getString("k")).isEqualTo("v");
        try (var files = Files.list(dir)) {
            assertThat(files).containsExactly(file);
        }
    }

    @Test
    void writerRejectsInvalidInput() {
        GgufWriter w = new GgufWriter().addTensor("t", GgmlType.F32, new float[4], 2, 2);
        assertThatThrownBy(() -> w.addTensor("t", GgmlType.F32, new float[1], 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("already added");
        assertThatThrownBy(() -> w.addTensor("u", GgmlType.F32, new float[5], 2, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("4 elements").hasMessageContaining("5 values");
        assertThatThrownBy(() -> w.addTensor("u", GgmlType.Q8_0, new float[32], 32))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("only F32 and F16");
        assertThatThrownBy(() -> w.addTensor("u", GgmlType.F32, new float[1], 1, 1, 1, 1, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 to 4 dimensions");
        assertThatThrownBy(() -> w.addTensor("u", GgmlType.F32, new float[0], 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(">= 1");
        assertThatThrownBy(() -> w.addTensor("n".repeat(64), GgmlType.F32, new float[1], 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 to 63 UTF-8 bytes");
        assertThatThrownBy(() -> w.put("", GgufValue.bool(true)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
        assertThatThrownBy(() -> w.putUInt32(GgufFile.ALIGNMENT_KEY, 48))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
        assertThatThrownBy(() -> w.put(GgufFile.ALIGNMENT_KEY, GgufValue.int32(64)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("UINT32");
    }

    @Test
    void valueFactoriesCheckRangesAndTypes() {
        assertThatThrownBy(() -> GgufValue.uint8(256)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[0, 255]");
        assertThatThrownBy(() -> GgufValue.uint16(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GgufValue.uint32(1L << 32)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GgufValue.array(GgufType.INT32, List.of(1, 2L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Integer");
        assertThatThrownBy(() -> new GgufValue(GgufType.FLOAT32, false, 1.0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Float");
        assertThat(GgufValue.uint32(4_000_000_000L).asLong()).isEqualTo(4_000_000_000L);
        assertThat(GgufValue.uint8(200).asInt()).isEqualTo(200);
        assertThat(GgufValue.int8((byte) -3).asInt()).isEqualTo(-3);
        assertThat(GgufValue.uint32(7).toString()).isEqualTo("UINT32 7");
    }
}
