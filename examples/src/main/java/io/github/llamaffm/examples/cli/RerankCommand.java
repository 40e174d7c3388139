package io.github.llamaffm.examples.cli;

import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.RerankScore;
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
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code llama-ffm rerank --model RERANKER QUERY DOCUMENT... | --file FILE}: documents by relevance to the query. */
@Command(name = "rerank", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Score each DOCUMENT (or each line of --file) against QUERY with a reranker GGUF "
                + "(bge-reranker, jina-reranker, Qwen3-Reranker: pooling rank) and print them most relevant first: "
                + "score, index, document.",
                "The pair is laid out with the model's own rerank prompt, as llama-server does."})
public final class RerankCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Parameters(index = "0", paramLabel = "QUERY", description = "The query.")
    String query;

    @Parameters(index = "1..*", arity = "0..*", paramLabel = "DOCUMENT", description = "Documents to score.")
    List<String> documents;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", order = 39,
            description = "Score each non-blank line of FILE (- for standard input) as a document.")
    Path file;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Option(names = "--top", paramLabel = "N", order = 40, description = "Print only the N most relevant documents.")
    Integer top;

    @Option(names = "--json", order = 41,
            description = "Print one JSON object: {\"results\": [{\"index\", \"relevance_score\", \"document\"}]}.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        if (top != null && top < 1) {
            throw new ParameterException(spec.commandLine(), "--top must be at least 1, was " + top);
        }
        List<String> docs = InputLines.read(documents, file, cli.stdin());
        if (docs.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "no documents: give DOCUMENT arguments or --file");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             LlamaContext ctx = model.newContext(EmbedCommand.embeddingsOptions(contextArgs.options()).build())) {
            List<RerankScore> scores = new ArrayList<>(ctx.rerank(query, docs));
            scores.sort(Comparator.comparingDouble(RerankScore::score).reversed());
            List<RerankScore> shown = scores.subList(0, top == null ? scores.size() : Math.min(top, scores.size()));
            if (json) {
                List<Map<String, Object>> results = new ArrayList<>();
                for (RerankScore s : shown) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("index", s.index());
                    r.put("relevance_score", s.score());
                    r.put("document", docs.get(s.index()));
                    results.add(r);
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("query", query);
                m.put("results", results);
                Json.print(out, m);
            } else {
                for (RerankScore s : shown) {
                    out.println(String.format(Locale.ROOT, "%.6f\t%d\t%s", s.score(), s.index(), docs.get(s.index())));
                }
            }
            out.flush();
        }
        return 0;
    }
}
