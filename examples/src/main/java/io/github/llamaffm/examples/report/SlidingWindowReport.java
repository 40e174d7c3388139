package io.github.llamaffm.examples.report;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.KvCacheType;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;

/**
 * Measures, through llama-ffm, what Mistral's sliding window buys (the README's tables):
 * <ul>
 *   <li>{@code memory}: KV cache bytes as llama.cpp reports them for Mistral 7B's attention shapes (32 layers,
 *       8 KV heads x 128 dims) at 32k context, window 4096, f16 and q8_0, full vs sliding window vs swaFull;</li>
 *   <li>{@code speed}: decode speed (one token per llama_decode) at growing depth, with and without a window.</li>
 * </ul>
 * The models are generated (random weights; only the shapes matter). Run from the repository root:
 * {@code java --enable-native-access=ALL-UNNAMED -cp examples/target/llama-ffm-cli.jar
 * io.github.llamaffm.examples.report.SlidingWindowReport memory|speed}
 */
public final class SlidingWindowReport {
    private SlidingWindowReport() {}

    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "memory";
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "llama-ffm", "report-models");
        switch (what) {
            case "memory" -> memory(cache);
            case "speed" -> speed(cache);
            default -> throw new IllegalArgumentException("usage: SlidingWindowReport memory|speed");
        }
    }

    private static Path vocab() throws Exception {
        Properties p = new Properties();
        Path info = Path.of("native/build/linux-x86_64/build-info.properties");
        try (InputStream in = Files.newInputStream(info)) {
            p.load(in);
        }
        return Path.of(p.getProperty("llama.cpp.source"), "models", "ggml-vocab-llama-spm.gguf");
    }

    static void memory(Path cache) throws Exception {
        // Mistral 7B's KV shape per layer (8 KV heads x 128), 32 layers; small everything else.
        TinyModel.Spec spec = TinyModel.Spec.builder().layers(32).embeddingSize(1024).heads(8).kvHeads(8)
                .feedForwardSize(64).contextLength(32768).tensorType(GgmlType.F16).seed(1).name("mistral-kv-shapes").build();
        Path file = TinyModel.cached(spec, vocab(), cache);
        System.out.println("| KV type | attention | per token | at 32k context | vs full |");
        System.out.println("|---|---|---:|---:|---:|");
        for (KvCacheType type : new KvCacheType[] {KvCacheType.F16, KvCacheType.Q8_0}) {
            long full = 0;
            for (String mode : new String[] {"full", "window 4096", "window 4096, swaFull"}) {
                ModelOptions mo = mode.equals("full") ? ModelOptions.defaults() : ModelOptions.builder().slidingWindow(4096).build();
                ContextOptions co = ContextOptions.builder().contextSize(32768).keyType(type).valueType(type)
                        .flashAttention(io.github.llamaffm.FlashAttention.ENABLED).swaFull(mode.endsWith("swaFull")).build();
                try (LlamaModel m = LlamaModel.load(file, mo); LlamaContext c = m.newContext(co)) {
                    long bytes = c.kvCacheBytes();
                    if (mode.equals("full")) {
                        full = bytes;
                    }
                    System.out.printf(Locale.ROOT, "| %s | %s | %.1f KiB | %.0f MiB | %.3f |%n", type, mode,
                            bytes / 32768.0 / 1024, bytes / 1024.0 / 1024, (double) bytes / full);
                }
            }
        }
    }

    static void speed(Path cache) throws Exception {
        TinyModel.Spec spec = TinyModel.Spec.builder().layers(4).embeddingSize(512).heads(4).kvHeads(2)
                .feedForwardSize(1024).contextLength(8192).tensorType(GgmlType.F16).seed(2).name("swa-speed").build();
        Path file = TinyModel.cached(spec, vocab(), cache);
        int window = 512;
        int[] depths = {512, 2048, 6144};
        int n = 32;
        System.out.printf("decode speed, %d tokens at each depth, 4 layers x 512, window %d, threads %d%n", n, window,
                ContextOptions.defaultThreads());
        System.out.println("| depth | full attention tok/s | window tok/s | ratio |");
        System.out.println("|---:|---:|---:|---:|");
        Random random = new Random(7);
        for (int depth : depths) {
            int[] prompt = random.ints(depth, 100, 30000).toArray();
            prompt[0] = 1;
            double[] tps = new double[2];
            for (int k = 0; k < 2; k++) {
                ModelOptions mo = k == 0 ? ModelOptions.defaults() : ModelOptions.builder().slidingWindow(window).build();
                try (LlamaModel m = LlamaModel.load(file, mo);
                     LlamaContext c = m.newContext(ContextOptions.builder().contextSize(8192).build())) {
                    c.evaluate(prompt);
                    for (int w = 0; w < 4; w++) {
                        c.evaluate(new int[] {100 + w});
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        c.evaluate(new int[] {200 + i});
                    }
                    tps[k] = n / ((System.nanoTime() - t0) / 1e9);
                }
            }
            System.out.printf(Locale.ROOT, "| %d | %.1f | %.1f | %.2f |%n", depth, tps[0], tps[1], tps[1] / tps[0]);
        }
    }
}
