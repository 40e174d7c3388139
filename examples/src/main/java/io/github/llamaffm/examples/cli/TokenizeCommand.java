package io.github.llamaffm.examples.cli;

import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Vocabulary;
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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code llama-ffm tokenize TEXT}: token ids and their pieces, like llama.cpp's llama-tokenize. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = "Print the tokens of a text: one \"id -> 'piece'\" per line (loads only the vocabulary).")
public final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Parameters(index = "0", paramLabel = "TEXT", description = "The text; - reads it from standard input.")
    String text;

    @Mixin
    ModelArgs modelArgs;

    @Option(names = "--no-bos", order = 40, description = "Do not add the BOS token the model asks for.")
    boolean noBos;

    @Option(names = "--no-parse-special", order = 41,
            description = "Treat special-token text such as </s> or [INST] as plain text.")
    boolean noParseSpecial;

    @Option(names = "--ids", order = 42, description = "Print only the ids, as [1, 2, 3].")
    boolean idsOnly;

    @Option(names = "--json", order = 43, description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        String input = "-".equals(text) ? new String(cli.stdin().readAllBytes(), StandardCharsets.UTF_8) : text;
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), true)) {
            Vocabulary vocab = model.vocabulary();
            int[] ids = vocab.tokenize(input, !noBos, !noParseSpecial);
            if (json) {
                List<Map<String, Object>> tokens = new ArrayList<>();
                for (int id : ids) {
                    Map<String, Object> t = new LinkedHashMap<>();
                    t.put("id", id);
                    t.put("piece", vocab.piece(id));
                    tokens.add(t);
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("count", ids.length);
                m.put("ids", ids);
                m.put("tokens", tokens);
                Json.print(out, m);
            } else if (idsOnly) {
                out.println(Arrays.toString(ids));
            } else {
                for (int id : ids) {
                    out.printf(Locale.ROOT, "%6d -> '%s'%n", id, escape(vocab.piece(id)));
                }
                err.println(ids.length + " tokens");
            }
            out.flush();
            err.flush();
        }
        return 0;
    }

    /** Makes control characters visible (a piece may be a newline or a byte token). */
    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format(Locale.ROOT, "\\x%02x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
