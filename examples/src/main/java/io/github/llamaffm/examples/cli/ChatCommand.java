package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ChatSession;
import io.github.llamaffm.FinishReason;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.examples.Cli;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

/** {@code llama-ffm chat}: a conversation over standard input, formatted with the model's chat template. */
@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Chat with the model: type a message and press Enter; replies stream to stdout.",
                "Commands: /exit or /quit (or end of input, Ctrl-D) ends the chat, /reset starts over.",
                "Ctrl-C while a reply is being written stops that reply; at the prompt it exits."})
public final class ChatCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Mixin
    ModelArgs modelArgs;

    @Mixin
    ContextArgs contextArgs;

    @Mixin
    SamplingArgs samplingArgs;

    @Mixin
    SpeculationArgs speculationArgs;

    @Option(names = "--system", paramLabel = "TEXT", order = 40, description = "System prompt.")
    String system;

    @Option(names = "--template", paramLabel = "TEMPLATE", order = 41,
            description = "Chat template: a Jinja source or a llama.cpp built-in name such as mistral-v1, llama2 or "
                    + "chatml. Default: the model's own (Mistral's or ChatML when it has none).")
    String template;

    @Option(names = "--stats", order = 42, description = "Print token counts and speed after each reply (stderr).")
    boolean stats;

    @Override
    public Integer call() throws IOException {
        modelArgs.validate(spec);
        contextArgs.validate(spec);
        samplingArgs.validate(spec);
        speculationArgs.validate(spec);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        BufferedReader in = new BufferedReader(new InputStreamReader(cli.stdin(), StandardCharsets.UTF_8));
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false);
             LlamaContext ctx = contextArgs.newContext(model, contextArgs.options(), spec);
             SpeculationArgs.Drafting drafting = speculationArgs.open(ctx, modelArgs.options());
             Interrupts interrupts = Interrupts.install(cli.interactive())) {
            ChatSession.Options options = ChatSession.Options.defaults()
                    .withSystemPrompt(system)
                    .withTemplate(template)
                    .withGenerateOptions(drafting.apply(samplingArgs.options()));
            ChatSession session = ctx.chat(options);
            err.println("Chatting with " + model.info().description() + " (context " + ctx.contextSize()
                    + " tokens). /exit or Ctrl-D quits, /reset starts over, Ctrl-C stops a reply.");
            err.flush();
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null) {
                    out.println();
                    out.flush();
                    return 0;
                }
                String message = line.strip();
                if (message.isEmpty()) {
                    continue;
                }
                if (message.equals("/exit") || message.equals("/quit")) {
                    return 0;
                }
                if (message.equals("/reset")) {
                    session = ctx.chat(options);
                    err.println("(conversation reset)");
                    err.flush();
                    continue;
                }
                GenerationResult r;
                interrupts.arm(ctx::cancel);
                try {
                    r = session.send(message, t -> {
                        out.print(t.text());
                        out.flush();
                    });
                } catch (RuntimeException e) {
                    out.println();
                    out.flush();
                    err.println("llama-ffm: error: " + e.getMessage());
                    if (modelArgs.verbose) {
                        e.printStackTrace(err);
                    }
                    err.flush();
                    continue;
                } finally {
                    interrupts.disarm();
                }
                out.println();
                out.flush();
                if (r.finishReason() == FinishReason.CANCELLED) {
                    err.println("(reply stopped)");
                } else if (r.finishReason() == FinishReason.CONTEXT_FULL) {
                    err.println("(the context is full: /reset to start over, or use a larger --ctx-size)");
                }
                if (stats) {
                    err.println(GenerateCommand.summary(r) + ", " + r.cachedPromptTokens() + " prompt tokens reused");
                }
                err.flush();
            }
        }
    }
}
