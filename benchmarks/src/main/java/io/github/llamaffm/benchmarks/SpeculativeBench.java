package io.github.llamaffm.benchmarks;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Speculation;
import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Speculative decoding on a generated target/draft pair ({@code benchmarks/speculative.sh}): the target is an
 * F16 model of {@code --layers} blocks whose blocks after the first are scaled by {@code --residual-scale}, the draft
 * its first {@code --draft-layers} blocks with the very same weights ({@link TinyModel.Spec#truncated}). Greedy
 * generations of {@code -n} tokens without speculation, with the draft model and with n-gram lookup run in interleaved
 * rounds (alternating order) in one JVM after a warm-up; tokens/s is generated tokens over the wall-clock time of the
 * whole generation (the prompt is reused from the KV cache after the first run, so it costs one token). Every mode's
 * text must be the same (speculation never changes greedy output); the run fails otherwise.
 */
public final class SpeculativeBench {
    private SpeculativeBench() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> a = new LinkedHashMap<>(Map.of("--layers", "12", "--width", "1024", "--draft-layers", "1",
                "--residual-scale", "0.3", "-n", "128", "--rounds", "3", "--draft-max", "4", "--ngram", "3",
                "--threads", "0"));
        for (int i = 0; i < args.length; i++) {
            if (!a.containsKey(args[i]) || i + 1 == args.length) {
                System.err.println("usage: SpeculativeBench " + a.keySet().stream().map(k -> "[" + k + " N]")
                        .reduce((x, y) -> x + " " + y).orElseThrow());
                System.exit(2);
            }
            a.put(args[i], args[++i]);
        }
        int layers = Integer.parseInt(a.get("--layers"));
        int width = Integer.parseInt(a.get("--width"));
        int n = Integer.parseInt(a.get("-n"));
        int rounds = Integer.parseInt(a.get("--rounds"));
        int draftMax = Integer.parseInt(a.get("--draft-max"));
        int threads = Integer.parseInt(a.get("--threads"));
        TinyModel.Spec target = TinyModel.Spec.builder().layers(layers).embeddingSize(width).heads(width / 64)
                .kvHeads(Math.max(1, width / 256)).feedForwardSize(width * 11 / 4).contextLength(4096)
                .tensorType(GgmlType.F16).seed(11).residualScale(Double.parseDouble(a.get("--residual-scale")))
                .name("speculative-target").build();
        TinyModel.Spec draft = target.truncated(Integer.parseInt(a.get("--draft-layers")));
        Path dir = Path.of(System.getProperty("user.home"), ".cache", "llama-ffm", "bench-models");
        Path targetFile = TinyModel.cached(target, BenchModels.vocabulary(), dir);
        Path draftFile = TinyModel.cached(draft, BenchModels.vocabulary(), dir);
        System.out.printf(Locale.ROOT, "target: %s (%d MiB), draft: %s (%d MiB)%n", targetFile.getFileName(),
                Files.size(targetFile) >> 20, draftFile.getFileName(), Files.size(draftFile) >> 20);

        ContextOptions.Builder co = ContextOptions.builder().contextSize(1024);
        if (threads > 0) {
            co.threads(threads).batchThreads(threads);
        }
        String prompt = "Speculative decoding lets a small model guess and a large model check. ";
        try (LlamaModel t = LlamaModel.load(targetFile); LlamaModel d = LlamaModel.load(draftFile);
             LlamaContext ctx = t.newContext(co.build()); LlamaContext dctx = d.newContext(co.build())) {
            System.out.printf(Locale.ROOT, "threads: %d, tokens: %d, rounds: %d, load average: %s%n",
                    ctx.settings().threads(), n, rounds, loadAverage());
            Map<String, Speculation> modes = new LinkedHashMap<>();
            modes.put("no speculation", null);
            modes.put("draft model (" + draft.layers() + " of " + layers + " layers), draftMax " + draftMax,
                    Speculation.draft(dctx).withDraftMax(draftMax));
            modes.put("n-gram lookup (n=" + a.get("--ngram") + ", draftMax 16)",
                    Speculation.ngram(Integer.parseInt(a.get("--ngram")), 16));
            Map<String, List<Double>> speeds = new LinkedHashMap<>();
            Map<String, GenerationResult> last = new LinkedHashMap<>();
            List<String> names = new ArrayList<>(modes.keySet());
            for (String name : names) { // warm-up: JIT, caches, the prompt in both KV caches
                run(ctx, prompt, Math.min(n, 32), modes.get(name));
                speeds.put(name, new ArrayList<>());
            }
            String expected = null;
            for (int r = 0; r < rounds; r++) {
                List<String> order = new ArrayList<>(names);
                if (r % 2 == 1) {
                    java.util.Collections.reverse(order);
                }
                for (String name : order) {
                    long start = System.nanoTime();
                    GenerationResult result = run(ctx, prompt, n, modes.get(name));
                    double seconds = (System.nanoTime() - start) / 1e9;
                    speeds.get(name).add(result.generatedTokens() / seconds);
                    last.put(name, result);
                    if (expected == null) {
                        expected = result.text();
                    } else if (!expected.equals(result.text())) {
                        throw new IllegalStateException(name + " generated other text than the other modes");
                    }
                }
            }
            double base = median(speeds.get(names.getFirst()));
            System.out.println();
            System.out.println("| mode | tok/s (median, min-max) | speed-up | drafted | accepted | acceptance |");
            System.out.println("|---|---:|---:|---:|---:|---:|");
            for (String name : names) {
                List<Double> s = speeds.get(name);
                GenerationResult res = last.get(name);
                System.out.printf(Locale.ROOT, "| %s | %.1f (%.1f-%.1f) | %.2fx | %d | %d | %.0f%% |%n", name,
                        median(s), s.stream().mapToDouble(x -> x).min().orElse(0),
                        s.stream().mapToDouble(x -> x).max().orElse(0), median(s) / base, res.draftTokens(),
                        res.acceptedDraftTokens(), 100 * res.draftAcceptanceRate());
            }
            System.out.println();
            System.out.println("identical output in every mode: yes (" + n + " tokens); load average at the end: "
                    + loadAverage());
        }
    }

    private static GenerationResult run(LlamaContext ctx, String prompt, int n, Speculation s) {
        return ctx.generate(prompt, GenerateOptions.builder().maxTokens(n).sampler(Sampler.greedy())
                .speculation(s).build()).result();
    }

    private static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(x -> x).sorted().toArray();
        return v.length == 0 ? 0 : v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static String loadAverage() {
        try {
            return String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3));
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
