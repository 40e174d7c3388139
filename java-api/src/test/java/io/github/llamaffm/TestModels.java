package io.github.llamaffm;

import io.github.llamaffm.internal.TinyModel;
import io.github.llamaffm.internal.NativeLoader;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;

/**
 * Shared fixture for tier-2 tests: the pinned llama.cpp source (tokenizer files, test vectors, reference tools)
 * recorded by build-native.sh, and tiny generated Mistral-architecture models (cached under target/).
 */
public final class TestModels {
    private TestModels() {}

    public static Path projectRoot() {
        String root = System.getProperty("llamaffm.project.root");
        Path p = root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
        return p.toAbsolutePath().normalize();
    }

    /** native/build/&lt;platform&gt; of this checkout (else the -portable or -metal build, as CI jobs make). */
    public static Path nativeDir() {
        Path build = projectRoot().resolve("native/build");
        for (String suffix : new String[] {"", "-portable", "-metal"}) {
            Path dir = build.resolve(NativeLoader.platform() + suffix);
            if (Files.isDirectory(dir.resolve("natives"))) {
                return dir;
            }
        }
        throw new IllegalStateException("natives not built: run ./build-native.sh (" + build.resolve(NativeLoader.platform()) + ")");
    }

    /** The natives jar ./build-native.sh wrote beside the libraries of {@link #nativeDir()}. */
    public static Path nativesJar() {
        Path dir = nativeDir();
        return dir.resolve("llama-ffm-natives-" + dir.getFileName() + ".jar");
    }

    public static Properties buildInfo() {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(nativeDir().resolve("build-info.properties"))) {
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** The pinned llama.cpp source tree. */
    public static Path llamaSource() {
        return Path.of(buildInfo().getProperty("llama.cpp.source"));
    }

    /** models/ggml-vocab-llama-spm.gguf: the Mistral 7B v0.1 / Llama SPM 32k vocabulary. */
    public static Path spmVocab() {
        return llamaSource().resolve("models/ggml-vocab-llama-spm.gguf");
    }

    /** A generated tiny model for {@code spec}, cached in target/test-models. */
    public static Path tiny(TinyModel.Spec spec) {
        try {
            return TinyModel.cached(spec, spmVocab(), projectRoot().resolve("java-api/target/test-models"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The default tiny model: 2 layers, GQA 4/2 heads, 64-dim, 2048 context. */
    public static Path tiny() {
        return tiny(TinyModel.Spec.defaults());
    }

    /** An upstream reference tool built by build-native.sh (llama-simple, llama-bench, ...). */
    public static Path tool(String name) {
        Path t = nativeDir().resolve(name);
        if (!Files.isExecutable(t)) {
            throw new IllegalStateException("reference tool missing: " + t);
        }
        return t;
    }

    /**
     * The reply the facade generates greedily for {@code messages} rendered with the model's own chat template: the
     * outside truth of the framework adapters' tests.
     */
    public static String greedyChatReply(Path model, List<ChatMessage> messages, int maxTokens) {
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(1024).build())) {
            String prompt = ChatTemplate.apply(ctx.chatTemplate(), messages, true);
            try (Generation g = ctx.generate(prompt, GenerateOptions.builder().maxTokens(maxTokens)
                    .sampler(Sampler.greedy()).build())) {
                g.forEach(t -> { });
                return g.result().text();
            }
        }
    }
}
