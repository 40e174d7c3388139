package io.github.llamaffm.examples.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.ModelInfo;
import io.github.llamaffm.Vocabulary;
import io.github.llamaffm.examples.Cli;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code llama-ffm bench}: prompt processing (pp) and token generation (tg) speed through llama-ffm, measured the way
 * llama.cpp's llama-bench does (random tokens, no sampling; pp decodes the prompt in batches, tg one token per
 * decode; a warm-up run, then the mean and standard deviation of the repetitions), optionally next to llama-bench
 * itself on the same model.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Measure prompt processing (ppP) and token generation (tgN) speed through llama-ffm, like "
                + "llama.cpp's llama-bench.",
                "With --compare, also run the native llama-bench on the same model and threads and print the ratio "
                        + "llama-ffm/llama-bench."})
public final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Mixin
    ModelArgs modelArgs;

    @Option(names = {"-p", "--n-prompt"}, paramLabel = "N", order = 30,
            description = "Prompt tokens for the pp test; 0 = skip it. Default: ${DEFAULT-VALUE}.")
    int nPrompt = 64;

    @Option(names = {"-n", "--n-gen"}, paramLabel = "N", order = 31,
            description = "Generated tokens for the tg test; 0 = skip it. Default: ${DEFAULT-VALUE}.")
    int nGen = 32;

    @Option(names = {"-r", "--repetitions"}, paramLabel = "N", order = 32,
            description = "Repetitions of each test. Default: ${DEFAULT-VALUE}.")
    int repetitions = 3;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", order = 33,
            description = "CPU threads. Default: the number of physical cores (${DEFAULT-VALUE} here).")
    int threads = ContextOptions.defaultThreads();

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N", order = 34,
            description = "Logical batch size for the pp test. Default: ${DEFAULT-VALUE}.")
    int batchSize = 2048;

    @Option(names = "--warmup", paramLabel = "N", order = 35,
            description = "Untimed warm-up runs of each test before the timed ones, at least; more run until one second "
                    + "of warm-up has passed (at most 100): llama-bench does 1, but the JVM's just-in-time compiler "
                    + "works in the background for a while, and on a machine whose cores all compute it competes "
                    + "with them. Default: ${DEFAULT-VALUE}.")
    int warmup = 3;

    /** Warm-up time after which no more than {@link #warmup} runs are made. */
    private static final long WARMUP_NANOS = 1_000_000_000L;
    private static final int MAX_WARMUP_RUNS = 100;

    @Option(names = "--compare", order = 36,
            description = "Also run llama-bench (next to the native libraries) and print llama-ffm/llama-bench.")
    boolean compare;

    @Option(names = "--llama-bench", paramLabel = "PATH", order = 37,
            description = "The llama-bench executable for --compare. Default: the one next to the native libraries.")
    Path llamaBench;

    @Option(names = "--json", order = 38, description = "Print one JSON object instead of the table.")
    boolean json;

    /** One test's speeds: tokens per second of each repetition. */
    record Result(String test, int nPrompt, int nGen, double[] samples) {
        double mean() {
            double s = 0;
            for (double v : samples) {
                s += v;
            }
            return samples.length == 0 ? 0 : s / samples.length;
        }

        /** Sample standard deviation, as llama-bench reports it. */
        double stddev() {
            if (samples.length < 2) {
                return 0;
            }
            double m = mean();
            double s = 0;
            for (double v : samples) {
                s += (v - m) * (v - m);
            }
            return Math.sqrt(s / (samples.length - 1));
        }
    }

    /** llama-bench's numbers for one test. */
    record Upstream(double mean, double stddev) {}

    @Override
    public Integer call() throws IOException, InterruptedException {
        modelArgs.validate(spec);
        validate();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        List<Result> results = new ArrayList<>();
        Path modelPath;
        ModelInfo info;
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false)) {
            modelPath = model.path();
            info = model.info();
            ContextOptions options = ContextOptions.builder()
                    .contextSize(Math.max(nPrompt, nGen) + 1)
                    .batchSize(batchSize)
                    .threads(threads)
                    .batchThreads(threads)
                    .build();
            try (LlamaContext ctx = model.newContext(options)) {
                Random random = new Random(1234);
                if (nPrompt > 0) {
                    results.add(run(ctx, "pp" + nPrompt, nPrompt, 0, random, err));
                }
                if (nGen > 0) {
                    results.add(run(ctx, "tg" + nGen, 0, nGen, random, err));
                }
            }
        }

        Map<String, Upstream> upstream = Map.of();
        String upstreamNote = null;
        if (compare) {
            Path exe = llamaBench != null ? llamaBench : LlamaRuntime.libraryDirectory().resolve("llama-bench");
            if (!Files.isRegularFile(exe) || !Files.isExecutable(exe)) {
                upstreamNote = "llama-bench not found at " + exe + "; comparison skipped (build it with "
                        + "./build-native.sh, or pass --llama-bench PATH)";
                err.println(upstreamNote);
            } else {
                if (modelArgs.slidingWindow > 0) {
                    err.println("note: llama-bench cannot override the sliding window; it runs the model as the file says");
                }
                upstream = runLlamaBench(exe, modelPath, err);
            }
        }

        if (json) {
            Json.print(out, toJson(modelPath, info, results, upstream, upstreamNote));
        } else {
            printTable(out, modelPath, info, results, upstream);
        }
        return 0;
    }

    private void validate() {
        if (nPrompt < 0 || nGen < 0) {
            throw new ParameterException(spec.commandLine(), "--n-prompt and --n-gen must be >= 0");
        }
        if (nPrompt == 0 && nGen == 0) {
            throw new ParameterException(spec.commandLine(), "nothing to measure: --n-prompt and --n-gen are both 0");
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must be >= 0, was " + warmup);
        }
        if (repetitions <= 0) {
            throw new ParameterException(spec.commandLine(), "--repetitions must be > 0, was " + repetitions);
        }
        if (threads <= 0) {
            throw new ParameterException(spec.commandLine(), "--threads must be > 0, was " + threads);
        }
        if (batchSize <= 0) {
            throw new ParameterException(spec.commandLine(), "--batch-size must be > 0, was " + batchSize);
        }
    }

    /** Runs one test like llama-bench: a warm-up, then {@code repetitions} timed runs on an empty cache. */
    private Result run(LlamaContext ctx, String name, int prompt, int gen, Random random, PrintWriter err) {
        Vocabulary vocab = ctx.vocabulary();
        long warmupEnd = System.nanoTime() + WARMUP_NANOS;
        for (int i = 0; i < warmup || (warmup > 0 && i < MAX_WARMUP_RUNS && System.nanoTime() < warmupEnd); i++) {
            ctx.clear();
            if (prompt > 0) {
                runPrompt(ctx, vocab, prompt, random); // warm-up: the whole prompt, as llama-bench does
            } else {
                runGeneration(ctx, vocab, Math.min(gen, 4), random); // warm-up: a few tokens (llama-bench: one)
            }
        }
        double[] samples = new double[repetitions];
        for (int i = 0; i < repetitions; i++) {
            ctx.clear();
            long start = System.nanoTime();
            if (prompt > 0) {
                runPrompt(ctx, vocab, prompt, random);
            } else {
                runGeneration(ctx, vocab, gen, random);
            }
            long ns = System.nanoTime() - start;
            samples[i] = (prompt + gen) * 1e9 / ns;
            if (modelArgs.verbose) {
                err.printf(Locale.ROOT, "%s run %d/%d: %.2f t/s%n", name, i + 1, repetitions, samples[i]);
                err.flush();
            }
        }
        return new Result(name, prompt, gen, samples);
    }

    /** Random prompt tokens (BOS first when the model wants one), decoded in batches; logits of the last. */
    private static void runPrompt(LlamaContext ctx, Vocabulary vocab, int n, Random random) {
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = i == 0 && vocab.addsBos() && vocab.bos() >= 0 ? vocab.bos() : random.nextInt(vocab.size());
        }
        ctx.evaluate(tokens);
        ctx.logits(); // waits for the computation (asynchronous on GPU backends)
    }

    /** One decode per token, starting from BOS, with random tokens after (no sampling, as llama-bench's tg). */
    private static void runGeneration(LlamaContext ctx, Vocabulary vocab, int n, Random random) {
        int token = vocab.addsBos() && vocab.bos() >= 0 ? vocab.bos() : random.nextInt(vocab.size());
        int[] one = new int[1];
        for (int i = 0; i < n; i++) {
            one[0] = token;
            ctx.evaluate(one);
            token = random.nextInt(vocab.size());
        }
        ctx.logits();
    }

    /** Runs {@code llama-bench -m MODEL -t T -p P -n N -r R -o json} and reads avg_ts/stddev_ts per test. */
    private Map<String, Upstream> runLlamaBench(Path exe, Path model, PrintWriter err)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-m", model.toString(), "-t", String.valueOf(threads),
                "-p", String.valueOf(nPrompt), "-n", String.valueOf(nGen), "-r", String.valueOf(repetitions),
                "-b", String.valueOf(batchSize), "-o", "json"));
        if (modelArgs.gpuLayers != null) {
            cmd.addAll(List.of("-ngl", String.valueOf(modelArgs.gpuLayers)));
        }
        err.println("running " + String.join(" ", cmd));
        err.flush();
        Path log = Files.createTempFile("llama-bench", ".log");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(log.toFile());
            pb.environment().merge("LD_LIBRARY_PATH", exe.toAbsolutePath().getParent().toString(),
                    (old, dir) -> dir + ":" + old);
            Process p = pb.start();
            p.getOutputStream().close();
            byte[] stdout = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new CliException("llama-bench did not finish within 10 minutes");
            }
            if (p.exitValue() != 0) {
                throw new CliException("llama-bench failed with exit code " + p.exitValue() + ":\n"
                        + tail(Files.readString(log, StandardCharsets.UTF_8)));
            }
            JsonNode root = Json.MAPPER.readTree(stdout);
            Map<String, Upstream> byTest = new LinkedHashMap<>();
            for (JsonNode test : root) {
                int tp = test.path("n_prompt").asInt();
                int tg = test.path("n_gen").asInt();
                String name = tp > 0 && tg == 0 ? "pp" + tp : tp == 0 && tg > 0 ? "tg" + tg : "pp" + tp + "+tg" + tg;
                byTest.put(name, new Upstream(test.path("avg_ts").asDouble(), test.path("stddev_ts").asDouble()));
            }
            return byTest;
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static String tail(String s) {
        String[] lines = s.strip().split("\n");
        int from = Math.max(0, lines.length - 15);
        return String.join("\n", java.util.Arrays.copyOfRange(lines, from, lines.length));
    }

    private void printTable(PrintWriter out, Path model, ModelInfo info, List<Result> results,
                            Map<String, Upstream> upstream) {
        out.printf(Locale.ROOT, "model: %s (%s, %s, %s params)%n", model.getFileName(), info.description(),
                InfoCommand.bytes(info.sizeBytes()), InfoCommand.count(info.parameterCount()));
        out.printf(Locale.ROOT, "threads: %d, repetitions: %d (after %d warm-up runs), llama.cpp %s%n%n", threads,
                repetitions, warmup, LlamaRuntime.llamaCppVersion());
        boolean withUpstream = !upstream.isEmpty();
        if (withUpstream) {
            out.printf(Locale.ROOT, "| %-8s | %20s | %20s | %7s |%n", "test", "llama-ffm t/s", "llama-bench t/s", "ratio");
            out.printf(Locale.ROOT, "| %-8s | %20s | %20s | %7s |%n", "-".repeat(8), "-".repeat(19) + ":",
                    "-".repeat(19) + ":", "-".repeat(6) + ":");
        } else {
            out.printf(Locale.ROOT, "| %-8s | %20s |%n", "test", "llama-ffm t/s");
            out.printf(Locale.ROOT, "| %-8s | %20s |%n", "-".repeat(8), "-".repeat(19) + ":");
        }
        for (Result r : results) {
            String ours = String.format(Locale.ROOT, "%.2f ± %.2f", r.mean(), r.stddev());
            if (withUpstream) {
                Upstream u = upstream.get(r.test());
                String theirs = u == null ? "-" : String.format(Locale.ROOT, "%.2f ± %.2f", u.mean(), u.stddev());
                String ratio = u == null || u.mean() <= 0 ? "-" : String.format(Locale.ROOT, "%.3f", r.mean() / u.mean());
                out.printf(Locale.ROOT, "| %-8s | %20s | %20s | %7s |%n", r.test(), ours, theirs, ratio);
            } else {
                out.printf(Locale.ROOT, "| %-8s | %20s |%n", r.test(), ours);
            }
        }
        out.flush();
    }

    private Map<String, Object> toJson(Path model, ModelInfo info, List<Result> results, Map<String, Upstream> upstream,
                                       String upstreamNote) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.toString());
        m.put("demoModel", modelArgs.isDemo());
        m.put("description", info.description());
        m.put("threads", threads);
        m.put("repetitions", repetitions);
        m.put("warmupRuns", warmup);
        m.put("llamaCppVersion", LlamaRuntime.llamaCppVersion());
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Result r : results) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("test", r.test());
            row.put("nPrompt", r.nPrompt());
            row.put("nGen", r.nGen());
            row.put("avgTs", r.mean());
            row.put("stddevTs", r.stddev());
            row.put("samplesTs", r.samples());
            Upstream u = upstream.get(r.test());
            if (u != null) {
                row.put("llamaBenchAvgTs", u.mean());
                row.put("llamaBenchStddevTs", u.stddev());
                row.put("ratio", u.mean() > 0 ? r.mean() / u.mean() : null);
            }
            rows.add(row);
        }
        m.put("results", rows);
        if (upstreamNote != null) {
            m.put("comparison", upstreamNote);
        }
        return m;
    }
}
