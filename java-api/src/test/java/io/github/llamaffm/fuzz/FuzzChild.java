package io.github.llamaffm.fuzz;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaException;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Child JVM of {@link GgufFuzzTest}: generates cases {@code from} (inclusive) to {@code to} (exclusive), loads each
 * through the public API and, if it loads, generates a few tokens. Prints {@code BEGIN i} before touching native
 * code and one result line after, so the parent knows which case a crash belongs to:
 * {@code LOADED i}, {@code REJECTED i <message>}, {@code NONAME i <message>} (a LlamaException that does not name
 * the file) or {@code UNEXPECTED i <exception>} (anything that is not a LlamaException).
 *
 * <p>Arguments: seed-file work-dir run-seed from to.
 */
public final class FuzzChild {
    private FuzzChild() {}

    /** Words of the seed vocabulary, spaces, a newline and characters that only byte fallback can encode. */
    static final String PROMPT = "Hello world\n the a\tçé 漢字 🙂";

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        GgufMutator mutator = GgufMutator.of(Files.readAllBytes(Path.of(args[0])));
        Path work = Path.of(args[1]);
        long seed = Long.parseLong(args[2]);
        long from = Long.parseLong(args[3]);
        long to = Long.parseLong(args[4]);
        ContextOptions contextOptions = ContextOptions.builder().contextSize(64).batchSize(32).threads(1)
                .batchThreads(1).build();
        GenerateOptions generate = GenerateOptions.builder().maxTokens(4).sampler(Sampler.greedy()).build();
        for (long i = from; i < to; i++) {
            Path file = work.resolve("case-" + i + ".gguf");
            try {
                Files.write(file, mutator.mutate(seed, i).bytes());
            } catch (RuntimeException e) {
                out.println("UNEXPECTED " + i + " the mutator failed: " + oneLine(e));
                continue;
            }
            out.println("BEGIN " + i);
            String result;
            try (LlamaModel model = LlamaModel.load(file);
                 LlamaContext ctx = model.newContext(contextOptions)) {
                ctx.generate(PROMPT, generate).text();
                result = "LOADED " + i;
            } catch (LlamaException e) {
                String message = oneLine(e);
                result = (message.contains(file.toString()) ? "REJECTED " : "NONAME ") + i + " " + message;
            } catch (Throwable t) {
                result = "UNEXPECTED " + i + " " + oneLine(t);
            }
            out.println(result);
            Files.delete(file);
        }
        out.println("DONE");
    }

    private static String oneLine(Throwable t) {
        return (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ').replace('\r', ' ');
    }
}
