package io.github.llamaffm.fuzz;

import io.github.llamaffm.gguf.GgufType;
import io.github.llamaffm.gguf.GgufValue;
import io.github.llamaffm.gguf.GgufWriter;
import io.github.llamaffm.internal.TinyModel;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A seeded, structure-aware GGUF mutator. The seed file is parsed into raw key/value entries and tensor infos; case
 * {@code i} of seed {@code s} applies one to three mutations chosen by a {@link SplittableRandom} derived from
 * {@code (s, i)}, so any case can be regenerated from its number alone (the fuzz test keeps crashing files that way).
 *
 * <p>Model-level mutations: duplicate token strings, duplicate keys, wrong value types, extreme hyper-parameter
 * values, removed keys, special token ids out of range, shortened arrays, tensor offsets out of range / overlapping /
 * misaligned, tensor shapes, types and names, missing or duplicated tensors, {@code general.alignment} values and
 * types, header counts and versions. Byte-level mutations: bit flips, truncation at a structure boundary (the first
 * cases walk every top-level boundary in turn), huge string/array lengths and unknown type ids written into the
 * fields that hold them, and scrambled windows.
 */
public final class GgufMutator {
    private static final int ARRAY = 9;

    /** One metadata entry: key bytes, type id and the raw bytes that follow the type id. */
    record Kv(byte[] key, int type, byte[] payload) {
        String name() {
            return new String(key, StandardCharsets.UTF_8);
        }
    }

    /** One tensor info. */
    record Tensor(byte[] name, long[] dims, int type, long offset) {
        Tensor with(long[] d, int t, long o) {
            return new Tensor(name, d, t, o);
        }
    }

    /** A field in the serialized file, for byte-level mutations. */
    record Field(long offset, Kind kind) {}

    enum Kind { HEADER, KEY_START, TYPE, LENGTH, VALUE, TENSOR_START, DIMS, TENSOR_TYPE, TENSOR_OFFSET, DATA, END }

    private final int version;
    private final List<Kv> kvs;
    private final List<Tensor> tensors;
    private final byte[] data;
    private final int alignment;
    private final List<Field> seedFields;

    private GgufMutator(int version, List<Kv> kvs, List<Tensor> tensors, byte[] data, int alignment) {
        this.version = version;
        this.kvs = kvs;
        this.tensors = tensors;
        this.data = data;
        this.alignment = alignment;
        List<Field> fields = new ArrayList<>();
        serialize(version, kvs.size(), tensors.size(), kvs, tensors, data, alignment, fields);
        this.seedFields = List.copyOf(fields);
    }

    /** Parses a well-formed seed file. */
    public static GgufMutator of(byte[] seed) {
        ByteBuffer b = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt() != 0x46554747) {
            throw new IllegalArgumentException("seed is not GGUF");
        }
        int version = b.getInt();
        long nTensors = b.getLong();
        long nKv = b.getLong();
        List<Kv> kvs = new ArrayList<>();
        int alignment = 32;
        for (long i = 0; i < nKv; i++) {
            byte[] key = bytes(b, (int) b.getLong());
            int type = b.getInt();
            int start = b.position();
            skipValue(b, type);
            byte[] payload = Arrays.copyOfRange(seed, start, b.position());
            Kv kv = new Kv(key, type, payload);
            if (kv.name().equals("general.alignment")) {
                alignment = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getInt();
            }
            kvs.add(kv);
        }
        List<Tensor> tensors = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            byte[] name = bytes(b, (int) b.getLong());
            long[] dims = new long[b.getInt()];
            for (int d = 0; d < dims.length; d++) {
                dims[d] = b.getLong();
            }
            tensors.add(new Tensor(name, dims, b.getInt(), b.getLong()));
        }
        int dataStart = (int) align(b.position(), alignment);
        return new GgufMutator(version, kvs, tensors, Arrays.copyOfRange(seed, dataStart, seed.length), alignment);
    }

    private static byte[] bytes(ByteBuffer b, int n) {
        byte[] out = new byte[n];
        b.get(out);
        return out;
    }

    private static void skipValue(ByteBuffer b, int type) {
        if (type == ARRAY) {
            int elem = b.getInt();
            long n = b.getLong();
            for (long i = 0; i < n; i++) {
                skipValue(b, elem);
            }
            return;
        }
        if (type == GgufType.STRING.id()) {
            long len = b.getLong();
            b.position(b.position() + (int) len);
            return;
        }
        b.position(b.position() + scalarSize(type));
    }

    private static int scalarSize(int type) {
        return switch (type) {
            case 0, 1, 7 -> 1;
            case 2, 3 -> 2;
            case 4, 5, 6 -> 4;
            case 10, 11, 12 -> 8;
            default -> throw new IllegalArgumentException("type " + type);
        };
    }

    /** The seed, re-serialized (byte-identical to the parsed file). */
    public byte[] seed() {
        return serialize(version, kvs.size(), tensors.size(), kvs, tensors, data, alignment, null);
    }

    /** Number of top-level structure boundaries, walked in turn by the first cases. */
    public int boundaryCount() {
        return seedFields.size();
    }

    /** The mutated file for case {@code index} of run {@code seed}, with a one-line description of what was done. */
    public Case mutate(long seed, long index) {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
        if (index < seedFields.size()) {
            // Truncation at every structure boundary, plus one byte either side.
            long at = seedFields.get((int) index).offset() + rnd.nextInt(-1, 2);
            byte[] s = seed();
            at = Math.clamp(at, 0, s.length - 1);
            return new Case(Arrays.copyOf(s, (int) at), "truncate at " + at + " (" + seedFields.get((int) index).kind() + ")");
        }
        Work w = new Work(rnd);
        int n = 1 + (rnd.nextInt(4) == 0 ? rnd.nextInt(1, 3) : 0);
        StringBuilder what = new StringBuilder();
        for (int i = 0; i < n; i++) {
            what.append(i == 0 ? "" : "; ").append(w.mutateModel());
        }
        byte[] out = w.serialize();
        if (rnd.nextInt(3) == 0) {
            what.append("; ").append(w.mutateBytes(out));
            out = w.bytes;
        }
        return new Case(out, what.toString());
    }

    /** A mutated file and what was done to it. */
    public record Case(byte[] bytes, String description) {}

    /** Mutable copy of the seed for one case. */
    private final class Work {
        final SplittableRandom rnd;
        int version = GgufMutator.this.version;
        final List<Kv> kvs = new ArrayList<>(GgufMutator.this.kvs);
        final List<Tensor> tensors = new ArrayList<>(GgufMutator.this.tensors);
        byte[] data = GgufMutator.this.data;
        int alignment = GgufMutator.this.alignment;
        Long kvCount;
        Long tensorCount;
        List<Field> fields = new ArrayList<>();
        byte[] bytes;

        Work(SplittableRandom rnd) {
            this.rnd = rnd;
        }

        byte[] serialize() {
            fields = new ArrayList<>();
            bytes = GgufMutator.serialize(version, kvCount != null ? kvCount : kvs.size(),
                    tensorCount != null ? tensorCount : tensors.size(), kvs, tensors, data, alignment, fields);
            return bytes;
        }

        int kvIndex(String name) {
            for (int i = 0; i < kvs.size(); i++) {
                if (kvs.get(i).name().equals(name)) {
                    return i;
                }
            }
            return -1;
        }

        String mutateModel() {
            int kind = rnd.nextInt(17);
            try {
                return mutateModel(kind);
            } catch (RuntimeException e) { // an earlier mutation removed what this one needs (e.g. every array)
                return "mutation " + kind + " not applicable";
            }
        }

        String mutateModel(int kind) {
            return switch (kind) {
                case 0 -> duplicateToken();
                case 1 -> duplicateKey();
                case 2 -> wrongType();
                case 3, 4 -> extremeValue();
                case 5 -> removeKey();
                case 6 -> specialTokenId();
                case 7 -> shortenArray();
                case 8 -> tensorOffset();
                case 9 -> tensorDims();
                case 10 -> tensorType();
                case 11 -> tensorName();
                case 12 -> tensorCountChange();
                case 13 -> alignment();
                case 14 -> headerCounts();
                case 15 -> version();
                default -> tokenTypes();
            };
        }

        /** The index of the string array {@code name}, or -1 if an earlier mutation removed it or changed its type. */
        int stringArrayIndex(String name) {
            int k = kvIndex(name);
            return k >= 0 && kvs.get(k).type() == ARRAY
                    && ByteBuffer.wrap(kvs.get(k).payload()).order(ByteOrder.LITTLE_ENDIAN).getInt(0) == GgufType.STRING.id()
                    ? k : -1;
        }

        String duplicateToken() {
            int k = stringArrayIndex("tokenizer.ggml.tokens");
            if (k < 0 || strings(kvs.get(k).payload()).size() < 2) {
                return removeKey();
            }
            List<String> tokens = new ArrayList<>(strings(kvs.get(k).payload()));
            int i = rnd.nextInt(tokens.size());
            int j = rnd.nextInt(tokens.size());
            if (i == j) {
                j = (j + 1) % tokens.size();
            }
            tokens.set(i, tokens.get(j));
            kvs.set(k, new Kv(kvs.get(k).key(), ARRAY, stringArray(tokens)));
            return "duplicate token string: token " + i + " = token " + j + " '" + tokens.get(j) + "'";
        }

        String duplicateKey() {
            int i = rnd.nextInt(kvs.size());
            Kv copy = rnd.nextBoolean() ? kvs.get(i) : new Kv(kvs.get(i).key(), 4, u32(rnd.nextInt()));
            kvs.add(rnd.nextInt(kvs.size() + 1), copy);
            return "duplicate key " + kvs.get(i).name();
        }

        String wrongType() {
            int i = rnd.nextInt(kvs.size());
            Kv kv = kvs.get(i);
            Kv replaced = switch (rnd.nextInt(8)) {
                case 0 -> new Kv(kv.key(), GgufType.STRING.id(), string("not a number"));
                case 1 -> new Kv(kv.key(), GgufType.FLOAT32.id(), u32(Float.floatToIntBits(1.5f)));
                case 2 -> new Kv(kv.key(), GgufType.UINT64.id(), u64(rnd.nextLong()));
                case 3 -> new Kv(kv.key(), GgufType.BOOL.id(), new byte[] {1});
                case 4 -> new Kv(kv.key(), GgufType.INT8.id(), new byte[] {(byte) rnd.nextInt()});
                case 5 -> new Kv(kv.key(), ARRAY, concat(u32(GgufType.INT32.id()), u64(2), u32(1), u32(2)));
                case 6 -> new Kv(kv.key(), ARRAY, stringArray(List.of("a", "b")));
                default -> new Kv(kv.key(), ARRAY, concat(u32(GgufType.UINT8.id()), u64(0)));
            };
            kvs.set(i, replaced);
            return "wrong type for " + kv.name() + ": " + replaced.type();
        }

        String extremeValue() {
            List<Integer> numeric = new ArrayList<>();
            for (int i = 0; i < kvs.size(); i++) {
                int t = kvs.get(i).type();
                if (t != ARRAY && t != GgufType.STRING.id()) {
                    numeric.add(i);
                }
            }
            int i = numeric.get(rnd.nextInt(numeric.size()));
            Kv kv = kvs.get(i);
            long[] ints = {0, 1, 2, 3, -1, 7, 0x7FFFFFFFL, 0x80000000L, 0xFFFFFFFFL, 65536, 1L << 40, Long.MAX_VALUE,
                    Long.MIN_VALUE, rnd.nextInt(100_000)};
            float[] floats = {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e30f, 1e-30f,
                    Float.MIN_VALUE};
            long v = ints[rnd.nextInt(ints.length)];
            byte[] payload = switch (kv.type()) {
                case 0, 1, 7 -> new byte[] {(byte) v};
                case 2, 3 -> new byte[] {(byte) v, (byte) (v >> 8)};
                case 4, 5 -> u32((int) v);
                case 6 -> u32(Float.floatToRawIntBits(floats[rnd.nextInt(floats.length)]));
                case 10, 11 -> u64(v);
                default -> u64(Double.doubleToRawLongBits(floats[rnd.nextInt(floats.length)]));
            };
            kvs.set(i, new Kv(kv.key(), kv.type(), payload));
            return "extreme value for " + kv.name();
        }

        String removeKey() {
            if (kvs.isEmpty()) {
                return "no key to remove";
            }
            Kv kv = kvs.remove(rnd.nextInt(kvs.size()));
            return "removed key " + kv.name();
        }

        String specialTokenId() {
            String[] keys = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.seperator_token_id"};
            String key = keys[rnd.nextInt(keys.length)];
            int[] values = {-1, -2, 0, 1, 258, 259, 100_000, Integer.MAX_VALUE, Integer.MIN_VALUE};
            int v = values[rnd.nextInt(values.length)];
            Kv kv = new Kv(key.getBytes(StandardCharsets.UTF_8), rnd.nextBoolean() ? 4 : 5, u32(v));
            int at = kvIndex(key);
            if (at >= 0) {
                kvs.set(at, kv);
            } else {
                kvs.add(kv);
            }
            return "special token " + key + " = " + v;
        }

        String shortenArray() {
            List<Integer> arrays = new ArrayList<>();
            for (int i = 0; i < kvs.size(); i++) {
                if (kvs.get(i).type() == ARRAY) {
                    arrays.add(i);
                }
            }
            int i = arrays.get(rnd.nextInt(arrays.size()));
            Kv kv = kvs.get(i);
            ByteBuffer p = ByteBuffer.wrap(kv.payload()).order(ByteOrder.LITTLE_ENDIAN);
            int elem = p.getInt();
            long n = p.getLong();
            long keep = rnd.nextBoolean() ? 0 : rnd.nextLong(n + 1);
            ByteBuffer body = ByteBuffer.wrap(kv.payload(), 12, kv.payload().length - 12).order(ByteOrder.LITTLE_ENDIAN);
            for (long e = 0; e < keep; e++) {
                skipValue(body, elem);
            }
            byte[] elements = Arrays.copyOfRange(kv.payload(), 12, body.position());
            kvs.set(i, new Kv(kv.key(), ARRAY, concat(u32(elem), u64(keep), elements)));
            return "array " + kv.name() + " shortened to " + keep;
        }

        String tokenTypes() {
            int k = kvIndex("tokenizer.ggml.token_type");
            if (k < 0 || kvs.get(k).type() != ARRAY || ByteBuffer.wrap(kvs.get(k).payload())
                    .order(ByteOrder.LITTLE_ENDIAN).getInt(0) != GgufType.INT32.id()) {
                return removeKey();
            }
            byte[] p = kvs.get(k).payload().clone();
            ByteBuffer b = ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN);
            long n = b.getLong(4);
            if (n == 0) {
                return "token types: none to change";
            }
            int changes = rnd.nextInt(1, 20);
            for (int c = 0; c < changes; c++) {
                int[] values = {0, 1, 2, 3, 4, 5, 6, 7, -1, 1 << 20, rnd.nextInt()};
                b.putInt(12 + 4 * rnd.nextInt((int) n), values[rnd.nextInt(values.length)]);
            }
            kvs.set(k, new Kv(kvs.get(k).key(), ARRAY, p));
            return "token types changed";
        }

        String tensorOffset() {
            int i = rnd.nextInt(tensors.size());
            Tensor t = tensors.get(i);
            long o = switch (rnd.nextInt(6)) {
                case 0 -> tensors.get(rnd.nextInt(tensors.size())).offset(); // overlap another tensor
                case 1 -> t.offset() + 1;                                     // misaligned
                case 2 -> data.length + alignment * (long) rnd.nextInt(4);     // out of range
                case 3 -> Long.MAX_VALUE - rnd.nextInt(64);
                case 4 -> -alignment;
                default -> t.offset() + alignment;                            // gap
            };
            tensors.set(i, t.with(t.dims(), t.type(), o));
            return "tensor " + i + " offset " + o;
        }

        String tensorDims() {
            int i = rnd.nextInt(tensors.size());
            Tensor t = tensors.get(i);
            long[] d = t.dims().clone();
            String what;
            switch (rnd.nextInt(5)) {
                case 0 -> {
                    d[rnd.nextInt(d.length)] = new long[] {0, 1, 2, 3, -1, 1L << 32, Long.MAX_VALUE}[rnd.nextInt(7)];
                    what = "dimension";
                }
                case 1 -> {
                    d = Arrays.copyOf(d, Math.min(d.length + 1, 4));
                    d[d.length - 1] = rnd.nextInt(1, 4);
                    what = "extra dimension";
                }
                case 2 -> {
                    d = Arrays.copyOf(d, Math.max(d.length - 1, 0));
                    what = "dropped dimension";
                }
                case 3 -> {
                    if (d.length > 1) {
                        long x = d[0];
                        d[0] = d[1];
                        d[1] = x;
                    }
                    what = "swapped dimensions";
                }
                default -> {
                    d = new long[] {1, 1, 1, 1, 1};
                    what = "five dimensions";
                }
            }
            tensors.set(i, t.with(d, t.type(), t.offset()));
            return what + " of tensor " + new String(t.name(), StandardCharsets.UTF_8) + " " + Arrays.toString(d);
        }

        String tensorType() {
            int i = rnd.nextInt(tensors.size());
            Tensor t = tensors.get(i);
            int[] types = {1, 2, 4, 8, 12, 24, 26, 28, 30, 31, 39, 40, 42, 43, 44, 1000, -1, Integer.MIN_VALUE};
            int type = types[rnd.nextInt(types.length)];
            tensors.set(i, t.with(t.dims(), type, t.offset()));
            return "tensor " + i + " type " + type;
        }

        String tensorName() {
            int i = rnd.nextInt(tensors.size());
            Tensor t = tensors.get(i);
            String[] names = {tensors.get(rnd.nextInt(tensors.size())) == t ? "x" : new String(
                    tensors.get(rnd.nextInt(tensors.size())).name(), StandardCharsets.UTF_8),
                    "", "blk.99.attn_q.weight", "blk.-1.attn_q.weight", "output.weight", "token_embd.weight",
                    "x".repeat(64), "blk.0.ffn_gate_exps.weight", "rope_freqs.weight", "blk.1000000.attn_norm.weight"};
            String name = names[rnd.nextInt(names.length)];
            tensors.set(i, new Tensor(name.getBytes(StandardCharsets.UTF_8), t.dims(), t.type(), t.offset()));
            return "tensor " + i + " renamed '" + (name.length() > 20 ? name.substring(0, 20) + "..." : name) + "'";
        }

        String tensorCountChange() {
            int i = rnd.nextInt(tensors.size());
            if (rnd.nextBoolean()) {
                tensors.remove(i);
                return "tensor " + i + " removed";
            }
            tensors.add(rnd.nextInt(tensors.size() + 1), tensors.get(i));
            return "tensor " + i + " duplicated";
        }

        String alignment() {
            int[] values = {0, 1, 3, 8, 16, 64, 1 << 20, 1 << 31, -1};
            int v = values[rnd.nextInt(values.length)];
            int type = rnd.nextInt(4) == 0 ? GgufType.UINT64.id() : 4;
            Kv kv = new Kv("general.alignment".getBytes(StandardCharsets.UTF_8), type, type == 4 ? u32(v) : u64(v));
            kvs.add(rnd.nextInt(kvs.size() + 1), kv);
            if (type == 4 && v > 0 && Integer.bitCount(v) == 1 && rnd.nextBoolean()) {
                alignment = v; // a consistent file with another alignment
            }
            return "general.alignment " + v + " as type " + type;
        }

        String headerCounts() {
            long[] values = {0, 1, -1, Long.MAX_VALUE, 1L << 32, 0xFFFFFFFFL};
            long v = rnd.nextInt(3) == 0 ? values[rnd.nextInt(values.length)] : rnd.nextInt(-2, 3);
            if (rnd.nextBoolean()) {
                kvCount = Math.abs(v) < 3 ? kvs.size() + v : v;
                return "kv count " + kvCount;
            }
            tensorCount = Math.abs(v) < 3 ? tensors.size() + v : v;
            return "tensor count " + tensorCount;
        }

        String version() {
            int[] values = {0, 1, 2, 4, 0x03000000, -1};
            version = values[rnd.nextInt(values.length)];
            return "version " + version;
        }

        /** Byte-level mutation of the serialized file. */
        String mutateBytes(byte[] in) {
            bytes = in.clone();
            long headerEnd = fields.stream().filter(f -> f.kind() == Kind.DATA).mapToLong(Field::offset).findFirst()
                    .orElse(bytes.length);
            switch (rnd.nextInt(5)) {
                case 0 -> {
                    int flips = rnd.nextInt(1, 17);
                    long limit = rnd.nextInt(10) == 0 ? bytes.length : headerEnd;
                    for (int i = 0; i < flips; i++) {
                        int at = (int) rnd.nextLong(Math.max(1, limit));
                        bytes[at] ^= (byte) (1 << rnd.nextInt(8));
                    }
                    return flips + " bit flips";
                }
                case 1 -> {
                    Field f = fields.get(rnd.nextInt(fields.size()));
                    int at = (int) Math.clamp(f.offset() + rnd.nextInt(-2, 3), 0, bytes.length - 1);
                    bytes = Arrays.copyOf(bytes, at);
                    return "truncated at " + at + " (" + f.kind() + ")";
                }
                case 2 -> {
                    Field f = pick(Kind.LENGTH);
                    if (f == null) {
                        return "no length field";
                    }
                    long[] values = {Long.MAX_VALUE, -1, 1L << 32, 1L << 40, 0xFFFFFFFFL, bytes.length, 1L << 62};
                    long v = values[rnd.nextInt(values.length)];
                    put64(bytes, f.offset(), v);
                    return "length at " + f.offset() + " = " + v;
                }
                case 3 -> {
                    Field f = rnd.nextBoolean() ? pick(Kind.TYPE) : pick(Kind.TENSOR_TYPE);
                    if (f == null) {
                        return "no type field";
                    }
                    int[] values = {9, 13, 14, 255, -1, 1 << 16, Integer.MAX_VALUE, rnd.nextInt()};
                    int v = values[rnd.nextInt(values.length)];
                    put32(bytes, f.offset(), v);
                    return "type at " + f.offset() + " = " + v;
                }
                default -> {
                    int len = rnd.nextInt(4, 65);
                    int at = (int) rnd.nextLong(Math.max(1, Math.min(headerEnd, bytes.length) - len));
                    for (int i = 0; i < len && at + i < bytes.length; i++) {
                        bytes[at + i] = (byte) rnd.nextInt();
                    }
                    return len + " bytes scrambled at " + at;
                }
            }
        }

        Field pick(Kind kind) {
            List<Field> of = fields.stream().filter(f -> f.kind() == kind).toList();
            return of.isEmpty() ? null : of.get(rnd.nextInt(of.size()));
        }
    }

    // --- encoding ------------------------------------------------------------------------------------------

    static byte[] serialize(int version, long kvCount, long tensorCount, List<Kv> kvs, List<Tensor> tensors,
                            byte[] data, int alignment, List<Field> fields) {
        Out o = new Out(fields);
        o.field(Kind.HEADER);
        o.raw(new byte[] {'G', 'G', 'U', 'F'});
        o.field(Kind.HEADER);
        o.u32(version);
        o.field(Kind.HEADER);
        o.u64(tensorCount);
        o.field(Kind.HEADER);
        o.u64(kvCount);
        for (Kv kv : kvs) {
            o.field(Kind.KEY_START);
            o.u64(kv.key().length);
            o.raw(kv.key());
            o.field(Kind.TYPE);
            o.u32(kv.type());
            o.field(kv.type() == ARRAY || kv.type() == GgufType.STRING.id() ? Kind.LENGTH : Kind.VALUE);
            if (kv.type() == ARRAY) {
                o.fieldAt(o.size() + 4, Kind.LENGTH);
                o.fieldAt(o.size(), Kind.TYPE);
            }
            o.raw(kv.payload());
        }
        for (Tensor t : tensors) {
            o.field(Kind.TENSOR_START);
            o.u64(t.name().length);
            o.raw(t.name());
            o.field(Kind.DIMS);
            o.u32(t.dims().length);
            for (long d : t.dims()) {
                o.u64(d);
            }
            o.field(Kind.TENSOR_TYPE);
            o.u32(t.type());
            o.field(Kind.TENSOR_OFFSET);
            o.u64(t.offset());
        }
        if (!tensors.isEmpty()) {
            while (o.size() % alignment != 0) {
                o.raw(new byte[] {0});
            }
        }
        o.field(Kind.DATA);
        o.raw(data);
        o.fieldAt(o.size() - 1, Kind.END);
        return o.bytes.toByteArray();
    }

    private static final class Out {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final List<Field> fields;

        Out(List<Field> fields) {
            this.fields = fields;
        }

        long size() {
            return bytes.size();
        }

        void field(Kind kind) {
            fieldAt(size(), kind);
        }

        void fieldAt(long offset, Kind kind) {
            if (fields != null) {
                fields.add(new Field(offset, kind));
            }
        }

        void raw(byte[] b) {
            bytes.writeBytes(b);
        }

        void u32(int v) {
            raw(GgufMutator.u32(v));
        }

        void u64(long v) {
            raw(GgufMutator.u64(v));
        }
    }

    static byte[] u32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static void put32(byte[] b, long at, int v) {
        if (at + 4 <= b.length) {
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt((int) at, v);
        }
    }

    static void put64(byte[] b, long at, long v) {
        if (at + 8 <= b.length) {
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong((int) at, v);
        }
    }

    static byte[] string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return concat(u64(b.length), b);
    }

    static byte[] stringArray(List<String> values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(u32(GgufType.STRING.id()));
        out.writeBytes(u64(values.size()));
        values.forEach(s -> out.writeBytes(string(s)));
        return out.toByteArray();
    }

    static List<String> strings(byte[] arrayPayload) {
        ByteBuffer b = ByteBuffer.wrap(arrayPayload).order(ByteOrder.LITTLE_ENDIAN);
        b.getInt();
        long n = b.getLong();
        List<String> out = new ArrayList<>();
        for (long i = 0; i < n; i++) {
            out.add(new String(bytes(b, (int) b.getLong()), StandardCharsets.UTF_8));
        }
        return out;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static long align(long v, int alignment) {
        return (v + alignment - 1) / alignment * alignment;
    }

    // --- the seed ------------------------------------------------------------------------------------------

    /**
     * Writes the fuzz seed: a one-layer tiny model with a 272-token SPM vocabulary (control tokens, all 256 byte
     * tokens, a few words), about 60 KB, so thousands of mutated copies load in minutes.
     */
    public static Path writeSeed(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Object> scores = new ArrayList<>(List.of(0f, 0f, 0f));
        List<Object> types = new ArrayList<>(List.of(2, 3, 3));
        for (int i = 0; i < 256; i++) {
            tokens.add(String.format("<0x%02X>", i));
            scores.add(0f);
            types.add(6);
        }
        String[] words = {"▁", "▁the", "▁a", "e", "t", "o", "▁H", "ello", "▁world", "in", "er", "an", "re"};
        for (int i = 0; i < words.length; i++) {
            tokens.add(words[i]);
            scores.add(-1f - i);
            types.add(1);
        }
        Path vocab = dir.resolve("fuzz-vocab.gguf");
        new GgufWriter()
                .putString("tokenizer.ggml.model", "llama")
                .put("tokenizer.ggml.tokens", GgufValue.stringArray(tokens))
                .put("tokenizer.ggml.scores", GgufValue.array(GgufType.FLOAT32, scores))
                .put("tokenizer.ggml.token_type", GgufValue.array(GgufType.INT32, types))
                .putUInt32("tokenizer.ggml.bos_token_id", 1)
                .putUInt32("tokenizer.ggml.eos_token_id", 2)
                .putUInt32("tokenizer.ggml.unknown_token_id", 0)
                .put("tokenizer.ggml.add_bos_token", GgufValue.bool(true))
                .write(vocab);
        Path seed = dir.resolve("fuzz-seed.gguf");
        TinyModel.write(TinyModel.Spec.builder().layers(1).embeddingSize(16).heads(2).kvHeads(1).feedForwardSize(32)
                .contextLength(256).seed(7).name("fuzz seed").build(), vocab, seed);
        return seed;
    }
}
