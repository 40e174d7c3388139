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

    /**
     * A generated tiny reranker of the Qwen3-Reranker shape ({@link TinyModel#writeReranker}), with the given rerank
     * prompt (e.g. {@link TinyModel#QWEN3_RERANK_PROMPT}) or none, cached in target/test-models.
     */
    public static Path tinyReranker(String rerankPrompt) {
        try {
            return TinyModel.cachedReranker(TinyModel.Spec.defaults(), rerankPrompt, spmVocab(),
                    projectRoot().resolve("java-api/target/test-models"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A generated tiny reranker of the BERT shape ({@link TinyModel#writeBertReranker}), cached in target/test-models. */
    public static Path tinyBertReranker() {
        try {
            return TinyModel.cachedBertReranker(TinyModel.Spec.builder().contextLength(512).build(), spmVocab(),
                    projectRoot().resolve("java-api/target/test-models"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
     * Runs upstream's {@code llama-completion} (one thread, no conversation mode, no warm-up) on {@code model} with
     * {@code prompt} and {@code n} tokens plus {@code args}, and returns what it printed from the prompt on, stripped:
     * the prompt and the generated text. A non-zero exit fails with the end of its log.
     */
    public static String llamaCompletion(Path model, String prompt, int n, String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(tool("llama-completion").toString(), "-m",
                model.toString(), "-p", prompt, "-n", String.valueOf(n), "-no-cnv", "--no-warmup", "-t", "1"));
        cmd.addAll(List.of(args));
        try {
            Path err = Files.createTempFile("llama-completion", ".log");
            try {
                // llama-completion prints through common's asynchronous logger, whose queue may not be flushed when the
                // process exits (upstream leaks it on purpose, llama.cpp issue 22142): under load the last tokens can
                // be missing. Its final entry is "\n\n"; an output without it is incomplete and the run is repeated.
                for (int attempt = 1; ; attempt++) {
                    Process p = new ProcessBuilder(cmd).redirectError(err.toFile())
                            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
                    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                    if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                        throw new AssertionError("llama-completion did not finish in 120 s: " + cmd);
                    }
                    if (p.exitValue() != 0 || !out.contains(prompt)) {
                        String log = Files.readString(err);
                        throw new AssertionError("llama-completion exit code " + p.exitValue() + " for " + cmd
                                + "; output: " + out + "; its log ends: " + log.substring(Math.max(0, log.length() - 1500)));
                    }
                    if (out.endsWith("\n\n") || attempt == 5) {
                        return out.substring(out.indexOf(prompt)).strip();
                    }
                }
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
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
