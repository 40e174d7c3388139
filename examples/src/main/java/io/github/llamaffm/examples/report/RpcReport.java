package io.github.llamaffm.examples.report;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Generation;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.Token;
import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures a model split across two {@code ggml-rpc-server} processes on loopback against the local-only run
 * (BENCHMARKS.md, "RPC"): decode tokens/s both ways, and the bytes each generated token moves over the network,
 * counted by a relay in front of each server (the speeds are measured without the relay).
 * Run from the repository root after {@code ./llama-ffm --help} built the jar:
 * {@code java --enable-native-access=ALL-UNNAMED -cp examples/target/llama-ffm-cli.jar
 * io.github.llamaffm.examples.report.RpcReport [tokens]}
 */
public final class RpcReport {
    private RpcReport() {}

    /**
     * Llama 3.2 1B's hidden size (2048, 16 heads, 4 KV heads) with 4 layers. gpuLayers(2) offloads layer 3 and the
     * output layer (llama.cpp counts it as one): one to each server; layers 0-2 stay on the CPU.
     */
    static final TinyModel.Spec SPEC = TinyModel.Spec.builder().layers(4).embeddingSize(2048).heads(16).kvHeads(4)
            .feedForwardSize(256).contextLength(4096).tensorType(GgmlType.F16).seed(15).name("rpc-report").build();

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        Path file = TinyModel.cached(SPEC, vocab(), Path.of(System.getProperty("user.home"), ".cache", "llama-ffm",
                "report-models"));
        Path binary = LlamaRuntime.libraryDirectory().resolve("ggml-rpc-server");
        List<Process> servers = new ArrayList<>();
        try {
            List<String> direct = new ArrayList<>();
            List<String> relayed = new ArrayList<>();
            List<Relay> relays = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                int port = freePort();
                servers.add(new ProcessBuilder(binary.toString(), "--host", "127.0.0.1", "--port",
                        Integer.toString(port), "--threads", "2").redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
                waitFor(port);
                direct.add("127.0.0.1:" + port);
                Relay r = new Relay(port);
                relays.add(r);
                relayed.add("127.0.0.1:" + r.port());
            }
            ModelOptions local = ModelOptions.builder().build();
            double localSpeed = speed(file, local, n, null);
            double splitSpeed = speed(file, split(direct), n, null);
            long[] bytes = new long[2];
            speed(file, split(relayed), n, () -> {
                bytes[0] = relays.stream().mapToLong(r -> r.up.get()).sum();
                bytes[1] = relays.stream().mapToLong(r -> r.down.get()).sum();
            });
            long up = relays.stream().mapToLong(r -> r.up.get()).sum() - bytes[0];
            long down = relays.stream().mapToLong(r -> r.down.get()).sum() - bytes[1];
            System.out.printf(Locale.ROOT, "model: %d layers, n_embd %d, F16 (%.0f MiB); %d generated tokens, greedy%n",
                    SPEC.layers(), SPEC.embeddingSize(), Files.size(file) / 1048576.0, n);
            System.out.println("| run | decode tokens/s | to servers per token | from servers per token |");
            System.out.println("|---|---:|---:|---:|");
            System.out.printf(Locale.ROOT, "| local CPU only | %.1f | - | - |%n", localSpeed);
            System.out.printf(Locale.ROOT, "| split: layer 3 on server A, output layer on server B, layers 0-2 on the CPU | %.1f (%.2fx) | %,d B | %,d B |%n",
                    splitSpeed, splitSpeed / localSpeed, up / n, down / n);
        } finally {
            for (Process p : servers) {
                p.destroyForcibly();
            }
        }
    }

    private static ModelOptions split(List<String> endpoints) {
        return ModelOptions.builder().rpcServers(endpoints).gpuLayers(2).tensorSplit(1, 1).build();
    }

    /** Decode tokens/s over {@code n} greedy tokens after the prompt; {@code atFirstToken} runs after the prompt. */
    private static double speed(Path file, ModelOptions options, int n, Runnable atFirstToken) {
        try (LlamaModel model = LlamaModel.load(file, options);
             LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(512).threads(2).build());
             Generation g = ctx.generate("The Mistral 7B paper shows", GenerateOptions.builder().maxTokens(n + 1)
                     .sampler(Sampler.greedy()).build())) {
            Iterator<Token> it = g.iterator();
            it.next(); // the prompt is decoded and the first token sampled
            if (atFirstToken != null) {
                atFirstToken.run();
            }
            long start = System.nanoTime();
            int count = 0;
            while (it.hasNext()) {
                it.next();
                count++;
            }
            if (count != n) {
                throw new IllegalStateException("generated " + count + " tokens, expected " + n);
            }
            return n / ((System.nanoTime() - start) / 1e9);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void waitFor(int port) throws Exception {
        for (int i = 0; i < 600; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        throw new IOException("ggml-rpc-server did not come up on port " + port);
    }

    private static Path vocab() throws Exception {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(LlamaRuntime.libraryDirectory().resolve("build-info.properties"))) {
            p.load(in);
        }
        return Path.of(p.getProperty("llama.cpp.source"), "models", "ggml-vocab-llama-spm.gguf");
    }

    /** A loopback TCP relay that counts the bytes in each direction. */
    private static final class Relay {
        final ServerSocket socket;
        final AtomicLong up = new AtomicLong();
        final AtomicLong down = new AtomicLong();

        Relay(int target) throws IOException {
            socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            Thread.ofPlatform().daemon().start(() -> {
                while (true) {
                    try {
                        Socket client = socket.accept();
                        Socket server = new Socket("127.0.0.1", target);
                        client.setTcpNoDelay(true);
                        server.setTcpNoDelay(true);
                        pump(client, server, up);
                        pump(server, client, down);
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        private static void pump(Socket from, Socket to, AtomicLong counter) {
            Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[1 << 16];
                try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                    for (int r; (r = in.read(buf)) > 0; ) {
                        out.write(buf, 0, r);
                        counter.addAndGet(r);
                    }
                } catch (IOException ignored) {
                    // connection closed
                }
                try {
                    from.close();
                    to.close();
                } catch (IOException ignored) {
                    // already closed
                }
            });
        }
    }
}
