package io.github.llamaffm.examples.cli;

import io.github.llamaffm.FinishReason;
import io.github.llamaffm.Generation;
import io.github.llamaffm.GenerationResult;
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
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code llama-ffm generate PROMPT}: streams the continuation of a prompt to stdout. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Continue a prompt, streaming tokens to stdout as they come; then print \"N tokens, X tok/s\" "
                + "to stderr.", "Ctrl-C stops the generation (exit code 130)."})
public final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Parameters(index = "0", paramLabel = "PROMPT", description = "The prompt; - reads it from standard input.")
    String prompt;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Mixin
    SamplingArgs samplingArgs;

    @Mixin
    SpeculationArgs speculationArgs;

    @Option(names = "--echo", order = 40, description = "Print the prompt before the generated text.")
    boolean echo;

    @Option(names = "--json", order = 41, description = "Print one JSON object (text, finish reason, token counts, "
            + "speed) at the end instead of streaming.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        samplingArgs.validate(spec);
        speculationArgs.validate(spec);
        String text = "-".equals(prompt) ? new String(cli.stdin().readAllBytes(), StandardCharsets.UTF_8) : prompt;
        if (text.isEmpty()) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "PROMPT must not be empty");
        }
        var generateOptions = samplingArgs.options();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             LlamaContext ctx = contextArgs.newContext(model, contextArgs.options(), spec);
             SpeculationArgs.Drafting drafting = speculationArgs.open(ctx, modelArgs.options());
             Interrupts interrupts = Interrupts.install(cli.interactive());
             Generation generation = ctx.generate(text, drafting.apply(generateOptions))) {
            interrupts.arm(generation::cancel);
            if (json) {
                generation.forEach(t -> { });
            } else {
                if (echo) {
                    out.print(text);
                    out.flush();
                }
                generation.forEach(t -> {
                    out.print(t.text());
                    out.flush();
                });
            }
            interrupts.disarm();
            GenerationResult r = generation.result();
            if (json) {
                Json.print(out, toJson(r, model));
            } else {
                if (!r.text().endsWith("\n")) {
                    out.println();
                }
                out.flush();
                err.println(summary(r));
                err.flush();
            }
            return r.finishReason() == FinishReason.CANCELLED ? Cli.EXIT_INTERRUPTED : 0;
        }
    }

    static String summary(GenerationResult r) {
        double promptTps = r.promptMillis() > 0 ? (r.promptTokens() - r.cachedPromptTokens()) * 1000.0 / r.promptMillis() : 0;
        return String.format(Locale.ROOT, "%d tokens, %.1f tok/s (prompt: %d tokens, %.1f tok/s; stop: %s)",
                r.generatedTokens(), r.tokensPerSecond(), r.promptTokens(), promptTps, describe(r.finishReason()))
                + (r.draftTokens() > 0 ? String.format(Locale.ROOT, "; draft: %d of %d accepted (%.0f%%)",
                        r.acceptedDraftTokens(), r.draftTokens(), 100 * r.draftAcceptanceRate()) : "");
    }

    static String describe(FinishReason reason) {
        return switch (reason) {
            case END_OF_GENERATION -> "end of text";
            case MAX_TOKENS -> "--max-tokens reached";
            case STOP_STRING -> "stop string";
            case CONTEXT_FULL -> "context full";
            case CANCELLED -> "cancelled";
            case ERROR -> "error";
        };
    }

    private Map<String, Object> toJson(GenerationResult r, LlamaModel model) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", r.text());
        m.put("finishReason", r.finishReason().name());
        m.put("promptTokens", r.promptTokens());
        m.put("cachedPromptTokens", r.cachedPromptTokens());
        m.put("generatedTokens", r.generatedTokens());
        m.put("promptMillis", r.promptMillis());
        m.put("generationMillis", r.generationMillis());
        m.put("promptTokensPerSecond", r.promptMillis() > 0
                ? (r.promptTokens() - r.cachedPromptTokens()) * 1000.0 / r.promptMillis() : 0.0);
        m.put("tokensPerSecond", r.tokensPerSecond());
        m.put("draftTokens", r.draftTokens());
        m.put("acceptedDraftTokens", r.acceptedDraftTokens());
        m.put("model", model.path().toString());
        m.put("demoModel", modelArgs.isDemo());
        return m;
    }
}
