package io.github.llamaffm.examples.cli;

import io.github.llamaffm.LlamaRuntime;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code llama-ffm rpc-server}: runs upstream's {@code ggml-rpc-server} from the natives, so a worker host lends its
 * CPU/GPU to a model loaded elsewhere with {@code --rpc}.
 */
@Command(name = "rpc-server", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Serve this machine's devices to llama-ffm (or llama.cpp) on other hosts: runs upstream's "
                + "ggml-rpc-server shipped with the natives. Clients connect with --rpc HOST:PORT.",
                "The protocol has NO authentication and NO encryption: whoever reaches the port can use the "
                        + "devices and memory and send the C++ server crafted input; whoever is on the path can read "
                        + "and alter weights and activations. Bind to a trusted network only (default: loopback)."})
public final class RpcServerCommand implements Callable<Integer> {
    /** Upstream's default port. */
    static final int DEFAULT_PORT = 50052;

    @Spec
    CommandSpec spec;

    @Option(names = {"-H", "--host"}, paramLabel = "ADDRESS", order = 1,
            description = "IPv4 address to listen on. Default: 127.0.0.1 (this machine only). Anything else exposes "
                    + "the server to that network.")
    String host = "127.0.0.1";

    @Option(names = {"-p", "--port"}, paramLabel = "PORT", order = 2,
            description = "Port to listen on. Default: " + DEFAULT_PORT + ".")
    int port = DEFAULT_PORT;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", order = 3,
            description = "CPU threads for the CPU device. Default: upstream's (the hardware threads).")
    Integer threads;

    @Option(names = {"-d", "--device"}, paramLabel = "DEV", split = ",", order = 4,
            description = "Devices to serve, by llama.cpp name (llama-ffm info lists them). Default: all.")
    List<String> devices = new ArrayList<>();

    @Option(names = {"-c", "--cache"}, order = 5,
            description = "Let clients store large tensors in the server's local file cache "
                    + "($LLAMA_CACHE or ~/.cache/llama.cpp/rpc), so reloading a model skips sending the weights.")
    boolean cache;

    @Override
    public Integer call() throws IOException, InterruptedException {
        PrintWriter err = spec.commandLine().getErr();
        if (port < 1 || port > 65535) {
            throw new ParameterException(spec.commandLine(), "--port must be 1..65535, was " + port);
        }
        if (threads != null && threads < 1) {
            throw new ParameterException(spec.commandLine(), "--threads must be >= 1, was " + threads);
        }
        if (!host.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            throw new ParameterException(spec.commandLine(), "--host must be an IPv4 address (the server binds with "
                    + "inet_addr), was " + host);
        }
        if (!isLoopback(host)) {
            err.println(warning(host, port));
            err.flush();
        }
        Path server = serverBinary();
        List<String> cmd = new ArrayList<>(List.of(server.toString(), "--host", host, "--port", Integer.toString(port)));
        if (threads != null) {
            cmd.addAll(List.of("--threads", threads.toString()));
        }
        if (!devices.isEmpty()) {
            cmd.addAll(List.of("--device", String.join(",", devices)));
        }
        if (cache) {
            cmd.add("--cache");
        }
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        Thread stopper = new Thread(p::destroy, "llama-ffm rpc-server stop");
        Runtime.getRuntime().addShutdownHook(stopper); // Ctrl-C stops the server with us
        try {
            return p.waitFor();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException ignored) {
                // shutting down: the hook runs
            }
        }
    }

    /** Whether {@code host} is a loopback address (then no warning is printed). */
    public static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    static String warning(String host, int port) {
        String line = "!".repeat(100);
        return String.join(System.lineSeparator(), line,
                "WARNING: the RPC server listens on " + host + ":" + port + ", not on loopback.",
                "  llama.cpp's RPC protocol has no authentication and no encryption. Anyone who can reach this port",
                "  can use this machine's devices and memory (all of it), keep your own clients out (the server takes",
                "  one connection at a time), and send crafted commands to a C++ server whose input checks are its only",
                "  defence. Anyone on the network path can read the weights and activations (derived from your prompts)",
                "  in clear and alter them, changing the model's output unnoticed. Use it only on a network you trust,",
                "  or through a tunnel (SSH -L, WireGuard).",
                line);
    }

    /** {@code ggml-rpc-server} beside the loaded native libraries (natives jar or native/build). */
    static Path serverBinary() {
        Path dir = LlamaRuntime.libraryDirectory();
        for (String name : List.of("ggml-rpc-server", "ggml-rpc-server.exe")) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                if (!Files.isExecutable(p)) {
                    throw new CliException(p + " is not executable");
                }
                return p;
            }
        }
        throw new CliException("no ggml-rpc-server in " + dir + ": rebuild the natives with ./build-native.sh "
                + "(it builds upstream's RPC server beside the libraries)");
    }
}
