package io.github.llamaffm.fuzz;

import io.github.llamaffm.TestModels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile GGUF files never take the JVM down: {@link GgufMutator} derives mutated copies of a small generated model,
 * {@link FuzzChild} JVMs load them through the public API (several hundred files per JVM, restarted after a crash),
 * and every case must end in a {@code LlamaException} naming the file, or load and generate.
 *
 * <p>A crash or a hang fails the test and keeps the file in {@code java-api/target/gguf-fuzz/failures/} with the
 * mutation and the child's last stderr lines. System properties: {@code llamaffm.fuzz.cases} (default 2000; e.g.
 * 100000 for a long run), {@code llamaffm.fuzz.seed} (default 20261201), {@code llamaffm.fuzz.jvms} (parallel child
 * JVMs, default 2).
 */
@Tag("tiny-model")
@Tag("slow")
class GgufFuzzTest {
    private static final long CASES = Long.getLong("llamaffm.fuzz.cases", 2000);
    private static final long SEED = Long.getLong("llamaffm.fuzz.seed", 20261201);
    private static final int JVMS = Integer.getInteger("llamaffm.fuzz.jvms", 2);
    /** A case that produces no output for this long counts as a hang. */
    private static final long CASE_TIMEOUT_S = 120;

    private final Path dir = TestModels.projectRoot().resolve("java-api/target/gguf-fuzz");
    private final AtomicLong loaded = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private final Map<String, Long> rejectionsByReason = Collections.synchronizedMap(new TreeMap<>());

    @Test
    void mutatedGgufFilesEndInALlamaExceptionOrLoadAndGenerate() throws Exception {
        Path seed = GgufMutator.writeSeed(dir);
        GgufMutator mutator = GgufMutator.of(Files.readAllBytes(seed));
        assertThat(mutator.seed()).as("the mutator re-serializes the seed byte for byte").isEqualTo(Files.readAllBytes(seed));
        assertThat(CASES).as("cases (llamaffm.fuzz.cases) must cover every structure boundary")
                .isGreaterThan(mutator.boundaryCount());
        Files.createDirectories(dir.resolve("work"));
        deleteTree(dir.resolve("failures")); // what a previous run kept

        long start = System.nanoTime();
        List<Thread> workers = new ArrayList<>();
        long chunk = (CASES + JVMS - 1) / JVMS;
        for (int w = 0; w < JVMS; w++) {
            long from = w * chunk;
            long to = Math.min(CASES, from + chunk);
            int worker = w;
            Thread t = new Thread(() -> runRange(seed, mutator, worker, from, to), "fuzz-" + w);
            t.start();
            workers.add(t);
        }
        for (Thread t : workers) {
            t.join();
        }
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);

        String summary = "GGUF fuzz: seed " + SEED + ", " + CASES + " cases in " + seconds + " s on " + JVMS
                + " JVMs: " + loaded + " loaded and generated, " + rejected + " rejected with a LlamaException naming the file, "
                + failures.size() + " failures" + System.lineSeparator()
                + "most frequent rejections:" + System.lineSeparator() + topReasons();
        System.out.println(summary);
        Files.writeString(dir.resolve("summary.txt"), summary + String.join(System.lineSeparator(), failures));
        assertThat(failures).as(summary).isEmpty();
        assertThat(loaded.get() + rejected.get()).isEqualTo(CASES);
        assertThat(loaded.get()).as("some mutations leave a loadable model").isPositive();
        assertThat(rejected.get()).as("most mutations are rejected").isGreaterThan(CASES / 4);
    }

    private String topReasons() {
        synchronized (rejectionsByReason) {
            return rejectionsByReason.entrySet().stream()
                    .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(12)
                    .map(e -> String.format("  %6d  %s", e.getValue(), e.getKey()))
                    .reduce("", (a, b) -> a + b + System.lineSeparator());
        }
    }

    /** Runs cases [from, to) in child JVMs, starting a new one after each crash. */
    private void runRange(Path seed, GgufMutator mutator, int worker, long from, long to) {
        Path work = dir.resolve("work").resolve("jvm-" + worker);
        try {
            Files.createDirectories(work);
            long next = from;
            while (next < to) {
                next = runChild(seed, mutator, work, next, to);
            }
        } catch (IOException | RuntimeException e) {
            failures.add("worker " + worker + " failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add("interrupted");
        }
    }

    /** The natives the children load: {@code -Dllamaffm.library.path} (e.g. another build to compare), else this checkout's. */
    private static String libraryPath() {
        String p = System.getProperty("llamaffm.library.path");
        return p != null ? p : TestModels.nativeDir().toString();
    }

    /** One child JVM; returns the next case to run (after the one that crashed or hung, or {@code to}). */
    private long runChild(Path seed, GgufMutator mutator, Path work, long from, long to)
            throws IOException, InterruptedException {
        Path stderr = work.resolve("stderr-" + from + ".txt");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
                "-Dllamaffm.library.path=" + libraryPath(),
                "-cp", System.getProperty("java.class.path"), FuzzChild.class.getName(),
                seed.toString(), work.toAbsolutePath().toString(), Long.toString(SEED), Long.toString(from),
                Long.toString(to));
        Process p = new ProcessBuilder(cmd).directory(work.toFile()).redirectError(stderr.toFile()).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // the child died; its exit is handled below
            } finally {
                lines.add("EOF");
            }
        }, "fuzz-reader");
        reader.start();
        long current = -1;
        try {
            while (true) {
                String line = lines.poll(CASE_TIMEOUT_S, TimeUnit.SECONDS);
                if (line == null) {
                    p.destroyForcibly().waitFor();
                    keep(mutator, current, "hang (no result after " + CASE_TIMEOUT_S + " s)", stderr);
                    return current + 1;
                }
                if (line.equals("DONE")) {
                    p.waitFor();
                    Files.deleteIfExists(stderr);
                    return to;
                }
                if (line.equals("EOF")) {
                    int exit = p.waitFor();
                    if (current < 0) {
                        failures.add("child JVM failed to start (exit " + exit + "): " + tail(stderr));
                        return to;
                    }
                    keep(mutator, current, "JVM died with exit code " + exit, stderr);
                    return current + 1;
                }
                String[] parts = line.split(" ", 3);
                if (parts.length < 2 || !parts[1].matches("\\d+")) {
                    continue; // not ours (llama.cpp may print to stdout)
                }
                long index = Long.parseLong(parts[1]);
                switch (parts[0]) {
                    case "BEGIN" -> current = index;
                    case "LOADED" -> {
                        loaded.incrementAndGet();
                        current = -1;
                    }
                    case "REJECTED" -> {
                        rejected.incrementAndGet();
                        rejectionsByReason.merge(reason(parts[2]), 1L, Long::sum);
                        current = -1;
                    }
                    case "NONAME", "UNEXPECTED" -> {
                        failures.add("case " + index + " (" + mutator.mutate(SEED, index).description() + "): " + line);
                        current = -1;
                    }
                    default -> {
                        // not a line of the protocol (llama.cpp may print to stdout)
                    }
                }
            }
        } finally {
            p.destroyForcibly();
        }
    }

    /** The message without file names and numbers, to group rejections. */
    private static String reason(String message) {
        String s = message.replaceAll("/\\S+", "<file>").replaceAll("-?\\d+", "N");
        return s.length() > 140 ? s.substring(0, 140) + "..." : s;
    }

    private void keep(GgufMutator mutator, long index, String what, Path stderr) throws IOException {
        Path kept = dir.resolve("failures");
        Files.createDirectories(kept);
        GgufMutator.Case c = mutator.mutate(SEED, index);
        Path file = kept.resolve("seed-" + SEED + "-case-" + index + ".gguf");
        Files.write(file, c.bytes());
        String tail = tail(stderr);
        Files.writeString(kept.resolve("seed-" + SEED + "-case-" + index + ".txt"),
                what + System.lineSeparator() + c.description() + System.lineSeparator() + tail);
        failures.add("case " + index + ": " + what + " (" + c.description() + "), kept as " + file
                + System.lineSeparator() + tail);
    }

    private static void deleteTree(Path root) throws IOException {
        if (Files.exists(root)) {
            try (var paths = Files.walk(root)) {
                for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    private static String tail(Path file) throws IOException {
        if (!Files.exists(file)) {
            return "";
        }
        List<String> all = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
        return String.join(System.lineSeparator(), all.subList(Math.max(0, all.size() - 8), all.size()));
    }
}
