package io.github.llamaffm.examples.cli;

import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.Cli;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code llama-ffm embed TEXT...}: mean-pooled embeddings of each text, like llama.cpp's llama-embedding. */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Print the embedding of each TEXT (mean-pooled over its tokens; L2-normalised unless "
                + "--no-normalize).", "With several texts, also prints their cosine similarity matrix."})
public final class EmbedCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Parameters(arity = "1..*", paramLabel = "TEXT", description = "Texts to embed; - reads one from standard input.")
    List<String> texts;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Option(names = "--no-normalize", order = 40, description = "Print raw pooled vectors instead of unit-length ones.")
    boolean noNormalize;

    @Option(names = "--json", order = 41, description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        List<String> inputs = new ArrayList<>();
        for (String t : texts) {
            inputs.add("-".equals(t) ? new String(cli.stdin().readAllBytes(), StandardCharsets.UTF_8) : t);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             LlamaContext ctx = model.newContext(contextArgs.options().toBuilder().embeddings(true).build())) {
            List<float[]> vectors = new ArrayList<>();
            for (String text : inputs) {
                vectors.add(ctx.embed(text, !noNormalize));
            }
            if (json) {
                List<Map<String, Object>> data = new ArrayList<>();
                for (int i = 0; i < vectors.size(); i++) {
                    Map<String, Object> d = new LinkedHashMap<>();
                    d.put("index", i);
                    d.put("text", inputs.get(i));
                    d.put("embedding", vectors.get(i));
                    data.add(d);
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("dimensions", vectors.getFirst().length);
                m.put("normalized", !noNormalize);
                m.put("data", data);
                Json.print(out, m);
            } else {
                for (int i = 0; i < vectors.size(); i++) {
                    float[] v = vectors.get(i);
                    StringBuilder line = new StringBuilder();
                    for (int k = 0; k < v.length; k++) {
                        line.append(k == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.6f", v[k]));
                    }
                    out.println(line);
                }
                if (vectors.size() > 1) {
                    err.println("cosine similarity:");
                    for (float[] a : vectors) {
                        StringBuilder row = new StringBuilder();
                        for (float[] b : vectors) {
                            row.append(String.format(Locale.ROOT, " %7.4f", cosine(a, b)));
                        }
                        err.println(row);
                    }
                }
            }
            out.flush();
            err.flush();
        }
        return 0;
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
