package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Pooling;
import io.github.llamaffm.examples.Cli;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code llama-ffm embed TEXT... | --file FILE}: the embedding of each input with the model's own pooling, like
 * llama.cpp's llama-embedding; several inputs per decode.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Print the embedding of each TEXT, or of each line of --file, pooled the model's way (mean "
                + "for models that name no pooling; --pooling to choose); L2-normalised unless --no-normalize.",
                "With a few texts, also prints their cosine similarity matrix (on stderr)."})
public final class EmbedCommand implements Callable<Integer> {
    /** Inputs per facade call (one decode or a few), so a large file streams out. */
    private static final int CHUNK = 64;
    /** Inputs decoded together. */
    private static final int SEQUENCES = 8;

    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Parameters(arity = "0..*", paramLabel = "TEXT", description = "Texts to embed; - reads one from standard input.")
    List<String> texts;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", order = 39,
            description = "Embed each non-blank line of FILE (- for standard input), one vector per line out.")
    Path file;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Option(names = "--no-normalize", order = 40, description = "Print raw pooled vectors instead of unit-length ones.")
    boolean noNormalize;

    @Option(names = "--json", order = 41, description = "Print one JSON object.")
    boolean json;

    @Option(names = "--jsonl", order = 42,
            description = "Print one JSON object per input and line: {\"index\", \"text\", \"embedding\"} "
                    + "(with --pooling none: \"tokens\" and \"embeddings\", one per token).")
    boolean jsonl;

    @Option(names = "--pooling", paramLabel = "TYPE", order = 43,
            description = "none (one vector per token), mean, cls or last. Default: the model's own.")
    Pooling pooling;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        if (json && jsonl) {
            throw new ParameterException(spec.commandLine(), "--json and --jsonl cannot be combined");
        }
        if (pooling == Pooling.RANK) {
            throw new ParameterException(spec.commandLine(), "--pooling rank: use the rerank command");
        }
        List<String> inputs = InputLines.read(texts, file, cli.stdin());
        if (inputs.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "nothing to embed: give TEXT arguments or --file");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ContextOptions.Builder options = embeddingsOptions(contextArgs.options());
        if (pooling != null) {
            options.pooling(pooling);
        }
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             LlamaContext ctx = model.newContext(options.build())) {
            boolean normalize = !noNormalize;
            boolean perToken = ctx.pooling() == Pooling.NONE;
            List<Map<String, Object>> all = new ArrayList<>(); // --json
            List<float[]> similarities = new ArrayList<>();    // plain output, a few texts
            for (int start = 0; start < inputs.size(); start += CHUNK) {
                List<String> chunk = inputs.subList(start, Math.min(inputs.size(), start + CHUNK));
                List<float[]> pooled = perToken ? null : ctx.embed(chunk, normalize); // the chunk shares decodes
                for (int i = 0; i < chunk.size(); i++) {
                    Map<String, Object> d = new LinkedHashMap<>();
                    d.put("index", start + i);
                    d.put("text", chunk.get(i));
                    List<float[]> vectors;
                    if (perToken) {
                        vectors = ctx.tokenEmbeddings(chunk.get(i), normalize);
                        d.put("tokens", ctx.vocabulary().tokenize(chunk.get(i), true, false));
                        d.put("embeddings", vectors);
                    } else {
                        vectors = List.of(pooled.get(i));
                        d.put("embedding", pooled.get(i));
                    }
                    if (jsonl) {
                        out.println(Json.COMPACT.writeValueAsString(d));
                    } else if (json) {
                        all.add(d);
                    } else {
                        vectors.forEach(v -> out.println(line(v)));
                        if (perToken) {
                            out.println(); // a blank line ends each input's token vectors
                        } else if (inputs.size() <= 16) {
                            similarities.add(pooled.get(i));
                        }
                    }
                }
                out.flush();
            }
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("dimensions", ctx.modelInfo().embeddingSize());
                m.put("pooling", ctx.pooling().name().toLowerCase(Locale.ROOT));
                m.put("normalized", normalize);
                m.put("data", all);
                Json.print(out, m);
            } else if (similarities.size() > 1) {
                err.println("cosine similarity:");
                for (float[] a : similarities) {
                    StringBuilder row = new StringBuilder();
                    for (float[] b : similarities) {
                        row.append(String.format(Locale.ROOT, " %7.4f", cosine(a, b)));
                    }
                    err.println(row);
                }
            }
            out.flush();
            err.flush();
        }
        return 0;
    }

    /**
     * The context of {@code embed} and {@code rerank}: embeddings, a unified KV cache, and {@value #SEQUENCES}
     * inputs per decode unless the options say how many.
     */
    static ContextOptions.Builder embeddingsOptions(ContextOptions base) {
        ContextOptions.Builder options = base.toBuilder().embeddings(true).kvUnified(true);
        if (base.sequences() == 1 && base.microBatchSize() % SEQUENCES == 0) {
            options.sequences(SEQUENCES);
        }
        return options;
    }

    private static String line(float[] v) {
        StringBuilder line = new StringBuilder();
        for (int k = 0; k < v.length; k++) {
            line.append(k == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.6f", v[k]));
        }
        return line.toString();
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb);
    }
}
