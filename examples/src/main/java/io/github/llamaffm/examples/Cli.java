package io.github.llamaffm.examples;

import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.examples.cli.BenchCommand;
import io.github.llamaffm.examples.cli.BenchServeCommand;
import io.github.llamaffm.examples.cli.RpcServerCommand;
import io.github.llamaffm.examples.cli.SoakServeCommand;
import io.github.llamaffm.examples.cli.ChatCommand;
import io.github.llamaffm.examples.cli.CliException;
import io.github.llamaffm.examples.cli.EmbedCommand;
import io.github.llamaffm.examples.cli.RerankCommand;
import io.github.llamaffm.examples.cli.GenerateCommand;
import io.github.llamaffm.examples.cli.InfoCommand;
import io.github.llamaffm.examples.cli.NativeLog;
import io.github.llamaffm.examples.cli.ServeCommand;
import io.github.llamaffm.examples.cli.Terminal;
import io.github.llamaffm.examples.cli.TokenizeCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

/**
 * The {@code llama-ffm} command line: {@code generate}, {@code chat}, {@code info}, {@code tokenize},
 * {@code bench}, {@code serve} (an OpenAI-compatible HTTP server), {@code bench-serve} (its load test) and
 * {@code soak-serve} (its reliability soak) on a GGUF
 * model, or on a built-in tiny demo model when no {@code --model} is given.
 *
 * <p>Exit codes: 0 success, 1 runtime failure (the message is printed; the stack trace too with {@code --verbose}),
 * 2 usage error, 130 interrupted with Ctrl-C.
 *
 * <p>Run it in-process (as the tests do) with {@link #commandLine(Cli, PrintWriter, PrintWriter)}.
 */
@Command(name = "llama-ffm",
        mixinStandardHelpOptions = true,
        versionProvider = Cli.Version.class,
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = {
                "Run GGUF language models with llama.cpp through Java's Foreign Function & Memory API.",
                "Without --model, commands use a tiny built-in demo model with random weights (its output is "
                        + "gibberish), so everything works out of the box."},
        subcommands = {
                GenerateCommand.class,
                ChatCommand.class,
                InfoCommand.class,
                TokenizeCommand.class,
                EmbedCommand.class,
                RerankCommand.class,
                BenchCommand.class,
                ServeCommand.class,
                BenchServeCommand.class,
                RpcServerCommand.class,
                SoakServeCommand.class,
                CommandLine.HelpCommand.class},
        footer = {"", "Examples:",
                "  llama-ffm generate -m mistral-7b.gguf --sliding-window 4096 \"The Mistral 7B paper\"",
                "  llama-ffm chat -m mistral-7b-instruct.gguf --system \"Answer briefly.\"",
                "  llama-ffm info --json",
                "  llama-ffm rpc-server --port 50052      (then elsewhere: llama-ffm chat -m model.gguf --rpc host:50052)",
                "  llama-ffm bench -p 64 -n 32 -r 3 --compare",
                "  llama-ffm serve -m mistral-7b-instruct.gguf --parallel 4 --port 8080"})
public final class Cli implements Callable<Integer> {
    /** Exit code of a run stopped with Ctrl-C (128 + SIGINT), as shells report it. */
    public static final int EXIT_INTERRUPTED = 130;

    @Spec
    CommandSpec spec;

    private final InputStream stdin;
    private final boolean interactive;

    /** For in-process use: no signal handlers, no progress bar, the given standard input. */
    public Cli(InputStream stdin) {
        this(stdin, false);
    }

    private Cli(InputStream stdin, boolean interactive) {
        this.stdin = stdin;
        this.interactive = interactive;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.UTF_8));
        PrintWriter err = new PrintWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.err), StandardCharsets.UTF_8), true);
        int code;
        try {
            code = commandLine(new Cli(System.in, true), out, err).execute(args);
        } finally {
            out.flush();
            err.flush();
        }
        System.exit(code);
    }

    /**
     * A configured command line: picocli's parsing with this CLI's error handling (usage errors exit 2 with a short
     * hint, runtime failures exit 1 with the message).
     */
    public static CommandLine commandLine(Cli cli, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(cli);
        cl.setOut(out);
        cl.setErr(err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler(Cli::handleUsageError);
        cl.setExecutionExceptionHandler(Cli::handleFailure);
        return cl;
    }

    /** Standard input for {@code chat} (and {@code generate -}). */
    public InputStream stdin() {
        return stdin;
    }

    /** Whether this is a real terminal run (from {@link #main}): Ctrl-C handling, load progress bar. */
    public boolean interactive() {
        return interactive;
    }

    /** Whether to draw the model-load progress bar on stderr: only when stderr is a terminal. */
    public boolean showProgress() {
        return interactive && Terminal.stderrIsTerminal();
    }

    @Override
    public Integer call() {
        CommandLine cl = spec.commandLine();
        cl.getErr().println("llama-ffm: missing command");
        cl.usage(cl.getErr());
        return cl.getCommandSpec().exitCodeOnInvalidInput();
    }

    private static int handleUsageError(ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println(cl.getCommandSpec().qualifiedName() + ": " + ex.getMessage());
        if (!UnmatchedArgumentException.printSuggestions(ex, err)) {
            err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for more information.");
        }
        err.flush();
        return cl.getCommandSpec().exitCodeOnInvalidInput();
    }

    private static int handleFailure(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        cl.getOut().flush();
        String message = ex.getMessage() == null || ex.getMessage().isBlank() ? ex.toString() : ex.getMessage();
        err.println("llama-ffm: error: " + message);
        if (verbose(cl)) {
            ex.printStackTrace(err);
        } else if (!(ex instanceof CliException) && !(ex instanceof io.github.llamaffm.ModelDownloadException)) {
            err.println("(run with --verbose for details)");
        }
        err.flush();
        return 1;
    }

    private static boolean verbose(CommandLine cl) {
        CommandLine.ParseResult pr = cl.getParseResult();
        return pr != null && pr.hasMatchedOption("--verbose");
    }

    /** {@code --version}: this CLI's and the loaded llama.cpp's versions. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String own = Cli.class.getPackage().getImplementationVersion();
            String native_;
            try {
                NativeLog.configure(false);
                native_ = "llama.cpp " + LlamaRuntime.llamaCppVersion() + " (" + LlamaRuntime.libraryDirectory() + ")";
            } catch (RuntimeException | LinkageError e) {
                native_ = "llama.cpp: not loaded (" + e.getMessage() + ")";
            }
            return new String[] {"llama-ffm " + (own != null ? own : "(development build)"), native_,
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
