import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.LogFormat;

import java.util.Locale;

/**
 * The same end-to-end measurement as io.github.llamaffm.benchmarks.EndToEnd, through kherud's java-llama.cpp
 * (de.kherud:llama, JNI, with its own bundled llama.cpp build). Run as a single-file program:
 * {@code java -cp llama-4.2.0.jar KherudBench.java MODEL THREADS greedy|sampling GEN_TOKENS RUNS PROMPT}.
 * Prints one JSON object per run, then exits without waiting for close() (which can hang in 4.2.0).
 */
public class KherudBench {
    public static void main(String[] args) throws Exception {
        String model = args[0];
        int threads = Integer.parseInt(args[1]);
        String mode = args[2];
        int gen = Integer.parseInt(args[3]);
        int runs = Integer.parseInt(args[4]);
        String prompt = args[5];
        LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> { });
        LlamaModel m = new LlamaModel(new ModelParameters().setModel(model).setThreads(threads)
                .setThreadsBatch(threads).setCtxSize(1024).setGpuLayers(0));
        for (int run = 1; run <= runs; run++) {
            InferenceParameters p = new InferenceParameters(prompt).setNPredict(gen).setIgnoreEos(true)
                    .setCachePrompt(false);
            if (mode.equals("greedy")) {
                p.setTemperature(0f).setTopK(1);
            } else {
                p.setTopK(40).setTopP(0.95f).setMinP(0.05f).setTemperature(0.8f).setSeed(42);
            }
            long t0 = System.nanoTime();
            long first = 0;
            int n = 0;
            for (LlamaOutput o : m.generate(p)) {
                if (n++ == 0) {
                    first = System.nanoTime();
                }
            }
            long end = System.nanoTime();
            System.out.printf(Locale.ROOT, "{\"tool\":\"kherud-%s\",\"run\":%d,\"tokens\":%d,\"ttftMs\":%.2f,"
                    + "\"tokensPerSecond\":%.3f,\"outputs\":%d}%n", mode, run, gen, (first - t0) / 1e6,
                    (gen - 1) / ((end - first) / 1e9), n);
            System.out.flush();
        }
        Runtime.getRuntime().halt(0); // close() of 4.2.0 can hang; the process ends here either way
    }
}
