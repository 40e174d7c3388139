package io.github.llamaffm.benchmarks;

import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/** The generated model the benchmarks run on (random weights: only the shapes matter for speed). */
final class BenchModels {
    private BenchModels() {}

    /** 8 layers x 512, GQA 8/2, F16: big enough that decode dominates, small enough for a 2-core machine. */
    static final TinyModel.Spec SPEC = TinyModel.Spec.builder().layers(8).embeddingSize(512).heads(8).kvHeads(2)
            .feedForwardSize(1408).contextLength(4096).tensorType(GgmlType.F16).seed(9).name("jmh-model").build();

    static Path model() {
        try {
            return TinyModel.cached(SPEC, vocabulary(), Path.of(System.getProperty("user.home"), ".cache", "llama-ffm", "bench-models"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** llama.cpp's LLaMA SentencePiece vocabulary (32000 tokens, Mistral 7B's), from the built source tree. */
    static Path vocabulary() throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(projectRoot().resolve("native/build/linux-x86_64/build-info.properties"))) {
            p.load(in);
        }
        return Path.of(p.getProperty("llama.cpp.source"), "models", "ggml-vocab-llama-spm.gguf");
    }

    static Path projectRoot() {
        String prop = System.getProperty("llamaffm.project.root");
        if (prop != null) {
            return Path.of(prop);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("native/build"))) {
                return p;
            }
        }
        throw new IllegalStateException("run from the llama-ffm checkout (native/build not found) or set -Dllamaffm.project.root");
    }
}
