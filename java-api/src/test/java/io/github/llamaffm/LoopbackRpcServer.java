package io.github.llamaffm;

import io.github.llamaffm.internal.RpcBackend;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Upstream's {@code ggml-rpc-server} (built by build-native.sh) as a child process on 127.0.0.1 and a free port.
 * Its output is kept for assertions and failure messages.
 */
final class LoopbackRpcServer implements AutoCloseable {
    final Process process;
    final int port;
    final List<String> output = Collections.synchronizedList(new ArrayList<>());

    private LoopbackRpcServer(Process process, int port) {
        this.process = process;
        this.port = port;
        Thread.ofPlatform().daemon().name("rpc-server-" + port + "-output").start(() -> {
            try (var r = process.inputReader()) {
                for (String line; (line = r.readLine()) != null; ) {
                    output.add(line);
                }
            } catch (IOException ignored) {
                // process gone
            }
        });
    }

    static Path binary() {
        return TestModels.nativeDir().resolve("ggml-rpc-server");
    }

    static boolean available() {
        try {
            return Files.isExecutable(binary());
        } catch (IllegalStateException e) {
            return false;
        }
    }

    /** Starts a server with {@code threads} CPU threads and waits until it answers HELLO. */
    static LoopbackRpcServer start(int threads) throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(binary().toString(), "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--threads", Integer.toString(threads)).redirectErrorStream(true).start();
        LoopbackRpcServer server = new LoopbackRpcServer(p, port);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try {
                RpcBackend.probe(server.endpoint(), Duration.ofSeconds(2));
                return server;
            } catch (IOException e) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    throw new IOException("ggml-rpc-server did not come up on port " + port + ": " + e.getMessage()
                            + "; its output: " + server.output, e);
                }
                Thread.sleep(50);
            }
        }
    }

    String endpoint() {
        return "127.0.0.1:" + port;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }
}
