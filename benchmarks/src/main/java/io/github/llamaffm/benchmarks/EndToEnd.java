package io.github.llamaffm.benchmarks;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Generation;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Token;

import java.nio.file.Path;
import java.util.Locale;

/**
 * End-to-end generation through the facade, as an application does it: {@code generate(prompt)} and iterate the
 * tokens, timing the first token (prompt processing included) and the generation rate after it (wall clock, so
 * decode, sampling, piece lookup, UTF-8 decoding and {@link Token} creation all count). The first run is a fresh
 * JVM's first generation (no warm-up); each later run starts from an empty cache. Prints one JSON object per run.
 *
 * <p>{@code java --enable-native-access=ALL-UNNAMED -cp llama-ffm-benchmarks.jar
 * io.github.llamaffm.benchmarks.EndToEnd MODEL THREADS greedy|sampling GEN_TOKENS RUNS [PROMPT]}
 *
 * <p>The sampling chain is a typical chat setting: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8, seed 42.
 * End of generation is suppressed (logit bias) so that every run generates exactly {@code GEN_TOKENS}.
 */
public final class EndToEnd {
    /** The prompt every end-to-end runner (this one, the kherud one) uses unless given. */
    static final String PROMPT = "The Mistral 7B paper shows that a small model with grouped-query attention and "
            + "sliding window attention can outperform much larger models on reasoning, mathematics and code.";

    private EndToEnd() {}

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("--print-prompt")) {
            System.out.println(PROMPT);
            return;
        }
        if (args.length < 5) {
            System.err.println("usage: EndToEnd MODEL THREADS greedy|sampling GEN_TOKENS RUNS [PROMPT]");
            System.exit(2);
        }
        long jvmStart = ProcessHandle.current().info().startInstant().map(i -> i.toEpochMilli()).orElse(0L);
        Path model = Path.of(args[0]);
        int threads = Integer.parseInt(args[1]);
        String mode = args[2];
        int gen = Integer.parseInt(args[3]);
        int runs = Integer.parseInt(args[4]);
        String prompt = args.length > 5 ? args[5] : PROMPT;
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = m.newContext(ContextOptions.builder().contextSize(1024).threads(threads).build())) {
            int eos = m.vocabulary().eos();
            Sampler.Builder sb = switch (mode) {
                case "greedy" -> Sampler.builder().greedy(true);
                case "sampling" -> Sampler.builder().topK(40).topP(0.95f).minP(0.05f).temperature(0.8f).seed(42);
                default -> throw new IllegalArgumentException("mode must be greedy or sampling, was " + mode);
            };
            if (eos >= 0) {
                sb.logitBias(eos, Float.NEGATIVE_INFINITY);
            }
            GenerateOptions options = GenerateOptions.builder().maxTokens(gen).sampler(sb.build()).build();
            long loaded = System.currentTimeMillis();
            for (int run = 1; run <= runs; run++) {
                ctx.clear();
                long t0 = System.nanoTime();
                long first = 0;
                int n = 0;
                try (Generation g = ctx.generate(prompt, options)) {
                    for (Token t : g) {
                        if (n++ == 0) {
                            first = System.nanoTime();
                        }
                    }
                    long end = System.nanoTime();
                    double ttftMs = (first - t0) / 1e6;
                    double tps = n > 1 ? (n - 1) / ((end - first) / 1e9) : 0;
                    System.out.printf(Locale.ROOT, "{\"tool\":\"facade-%s\",\"run\":%d,\"tokens\":%d,\"ttftMs\":%.2f,"
                                    + "\"tokensPerSecond\":%.3f,\"evalTokensPerSecond\":%.3f,\"promptTokens\":%d%s}%n",
                            mode, run, n, ttftMs, tps, g.result().tokensPerSecond(), g.result().promptTokens(),
                            run == 1 && jvmStart > 0 ? String.format(Locale.ROOT, ",\"jvmStartToLoadedMs\":%d",
                                    loaded - jvmStart) : "");
                }
            }
        }
    }
}
