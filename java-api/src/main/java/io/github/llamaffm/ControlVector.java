package io.github.llamaffm;

import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.gguf.GgufFile;
import io.github.llamaffm.gguf.GgufFormatException;
import io.github.llamaffm.gguf.GgufTensorInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A control vector: per-layer directions added to a model's hidden state (representation engineering), read from the
 * GGUF files llama.cpp's {@code cvector-generator} writes (F32 tensors {@code direction.<layer>}, layers from 1), and
 * applied to a context with {@link LlamaContext#setControlVectors}. Plain Java data: nothing native to close.
 *
 * {@snippet :
 * ControlVector happy = ControlVector.load(Path.of("happy.gguf"));
 * ctx.setControlVectors(Map.of(happy, 0.8f));          // as llama-completion --control-vector-scaled happy.gguf 0.8
 * }
 *
 * @see LlamaContext#setControlVectors(Map, int, int)
 */
public final class ControlVector {
    private final Path file;
    private final int embeddingSize;
    private final Map<Integer, float[]> directions;

    private ControlVector(Path file, int embeddingSize, Map<Integer, float[]> directions) {
        this.file = file;
        this.embeddingSize = embeddingSize;
        this.directions = directions;
    }

    /**
     * Reads a control vector file. Several tensors for one layer add up, as in llama.cpp's loader.
     *
     * @throws IllegalArgumentException if the file does not exist, is not GGUF, or holds a tensor that is not a
     *                                  1-D F32 {@code direction.<layer ≥ 1>} of the same length as the others
     * @throws UncheckedIOException     if it cannot be read
     */
    public static ControlVector load(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("control vector file not found: " + file);
        }
        GgufFile gguf;
        try {
            gguf = GgufFile.read(file);
        } catch (GgufFormatException e) {
            throw new IllegalArgumentException("control vector " + file + " is not a valid GGUF file: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read control vector " + file, e);
        }
        if (gguf.tensors().isEmpty()) {
            throw new IllegalArgumentException("control vector " + file + " has no direction tensors");
        }
        int n = -1;
        Map<Integer, float[]> directions = new TreeMap<>();
        try {
            for (GgufTensorInfo t : gguf.tensors()) {
                String name = t.name();
                int layer;
                try {
                    layer = name.startsWith("direction.") ? Integer.parseInt(name.substring("direction.".length())) : -1;
                } catch (NumberFormatException e) {
                    layer = -1;
                }
                if (layer < 1) {
                    throw new IllegalArgumentException("control vector " + file + ": tensor '" + name
                            + "' is not direction.<layer> with a layer of at least 1");
                }
                if (t.type() != GgmlType.F32 || t.dims().size() != 1) {
                    throw new IllegalArgumentException("control vector " + file + ": tensor '" + name
                            + "' must be a 1-D F32 tensor, is " + t.type() + " " + t.dims());
                }
                long count = t.elementCount();
                if (count <= 0 || count > Integer.MAX_VALUE / 4 || (n != -1 && count != n)) {
                    throw new IllegalArgumentException("control vector " + file + ": tensor '" + name + "' has "
                            + count + " values" + (n != -1 ? ", the others " + n : ""));
                }
                n = (int) count;
                float[] read = gguf.readFloats(name);
                float[] values = directions.computeIfAbsent(layer, k -> new float[read.length]);
                for (int j = 0; j < n; j++) {
                    values[j] += read[j];
                }
            }
        } catch (GgufFormatException e) {
            throw new IllegalArgumentException("control vector " + file + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read control vector " + file, e);
        }
        return new ControlVector(file, n, Collections.unmodifiableMap(directions));
    }

    /** The file it was read from. */
    public Path file() {
        return file;
    }

    /** Values per layer: the model's embedding size it was made for. */
    public int embeddingSize() {
        return embeddingSize;
    }

    /** Highest layer it has a direction for. */
    public int maxLayer() {
        return directions.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow();
    }

    /** The direction of {@code layer} (a copy), or null if it has none. */
    public float[] direction(int layer) {
        float[] d = directions.get(layer);
        return d == null ? null : d.clone();
    }

    /** Adds {@code scale} × this vector into {@code data}, laid out as llama.cpp expects (layer 1 first). */
    void addTo(float[] data, float scale) {
        directions.forEach((layer, d) -> {
            int off = (layer - 1) * embeddingSize;
            for (int j = 0; j < embeddingSize; j++) {
                data[off + j] += d[j] * scale;
            }
        });
    }

    @Override
    public String toString() {
        return "ControlVector[" + file + ", " + directions.size() + " layers of " + embeddingSize + "]";
    }
}
