import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns benchmarks/suite.sh's results.tsv (model, metric, tool, round, value) into Markdown: per model, every
 * measurement as median and min-max over the rounds, then the ratios, each computed per round (both sides come from
 * the same interleaved round) and reported as median and min-max. Run: {@code java Summary.java machine.txt results.tsv}.
 */
public class Summary {
    record Ratio(String label, String metricA, String toolA, String metricB, String toolB) {}

    static final List<Ratio> RATIOS = new ArrayList<>(List.of(
            new Ratio("pp: llama-ffm bench / llama-bench", "pp", "llama-ffm-bench", "pp", "llama-bench"),
            new Ratio("tg: llama-ffm bench / llama-bench", "tg", "llama-ffm-bench", "tg", "llama-bench"),
            new Ratio("end-to-end greedy / llama-bench tg", "e2e-tg", "facade-greedy", "tg", "llama-bench"),
            new Ratio("end-to-end sampling / llama-bench tg", "e2e-tg", "facade-sampling", "tg", "llama-bench"),
            new Ratio("end-to-end greedy / kherud greedy", "e2e-tg", "facade-greedy", "e2e-tg", "kherud-greedy"),
            new Ratio("end-to-end sampling / kherud sampling", "e2e-tg", "facade-sampling", "e2e-tg", "kherud-sampling"),
            new Ratio("kherud greedy / llama-bench tg", "e2e-tg", "kherud-greedy", "tg", "llama-bench"),
            new Ratio("first token: kherud / llama-ffm (greedy, warm)", "ttft-ms", "kherud-greedy", "ttft-ms", "facade-greedy"),
            new Ratio("fresh JVM's first generation / warm, tokens/s (greedy)", "cold-tg", "facade-greedy", "e2e-tg", "facade-greedy"),
            new Ratio("fresh JVM's first token / warm first token (greedy)", "cold-ttft-ms", "facade-greedy", "ttft-ms", "facade-greedy")));

    static {
        for (int c : new int[] {1, 4, 16}) {
            RATIOS.add(new Ratio("serve / llama-server tokens/s, " + c + " client(s)", "serve-tps-c" + c,
                    "llama-ffm-serve", "serve-tps-c" + c, "llama-server"));
            RATIOS.add(new Ratio("serve / llama-server TTFT p50, " + c + " client(s)", "serve-ttft-p50-c" + c,
                    "llama-ffm-serve", "serve-ttft-p50-c" + c, "llama-server"));
        }
    }

    public static void main(String[] args) throws Exception {
        System.out.println("```");
        Files.readAllLines(Path.of(args[0])).forEach(System.out::println);
        System.out.println("```");
        // model -> "metric\ttool" -> round -> value
        Map<String, Map<String, Map<Integer, Double>>> data = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            String[] f = line.split("\t");
            if (f.length != 5 || f[4].equals("null") || f[4].isBlank()) {
                continue;
            }
            data.computeIfAbsent(f[0], k -> new LinkedHashMap<>())
                    .computeIfAbsent(f[1] + "\t" + f[2], k -> new TreeMap<>())
                    .put(Integer.parseInt(f[3]), Double.parseDouble(f[4]));
        }
        data.forEach((model, series) -> {
            System.out.printf("%n### %s%n%n| measurement | tool | median | min–max | rounds |%n|---|---|---:|---:|---:|%n", model);
            series.forEach((key, rounds) -> {
                String[] mt = key.split("\t");
                double[] v = rounds.values().stream().mapToDouble(Double::doubleValue).toArray();
                System.out.printf(Locale.ROOT, "| %s | %s | %s | %s–%s | %d |%n", describe(mt[0]), mt[1],
                        fmt(median(v)), fmt(min(v)), fmt(max(v)), v.length);
            });
            System.out.printf("%n| ratio (per round, then median) | median | min–max | rounds |%n|---|---:|---:|---:|%n");
            for (Ratio r : RATIOS) {
                Map<Integer, Double> a = series.get(r.metricA() + "\t" + r.toolA());
                Map<Integer, Double> b = series.get(r.metricB() + "\t" + r.toolB());
                if (a == null || b == null) {
                    continue;
                }
                double[] q = a.keySet().stream().filter(b::containsKey).filter(k -> b.get(k) > 0)
                        .mapToDouble(k -> a.get(k) / b.get(k)).toArray();
                if (q.length > 0) {
                    System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f–%.2f | %d |%n", r.label(), median(q), min(q),
                            max(q), q.length);
                }
            }
        });
    }

    static String describe(String metric) {
        return switch (metric) {
            case "pp" -> "pp t/s";
            case "tg" -> "tg t/s";
            case "e2e-tg" -> "end-to-end t/s (warm)";
            case "ttft-ms" -> "first token ms (warm)";
            case "cold-tg" -> "end-to-end t/s, fresh JVM's first run";
            case "cold-ttft-ms" -> "first token ms, fresh JVM's first run";
            default -> metric.startsWith("serve-errors-c") ? "serve failed requests, " + metric.substring(14)
                    + " clients"
                    : metric.startsWith("serve-tps-c") ? "serve t/s, " + metric.substring(11) + " clients"
                    : metric.startsWith("serve-ttft-p") ? "serve TTFT " + metric.substring(11, 14) + " ms, "
                            + metric.substring(metric.lastIndexOf('c') + 1) + " clients" : metric;
        };
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }
}
