package io.github.llamaffm.examples;

import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.examples.cli.DemoModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.condition.EnabledIf;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Every {@link ServeTest} check (LangChain4j's OpenAI chat, streaming and embedding models, the protocol, the
 * hardening) again, with the demo model's layers split across two upstream {@code ggml-rpc-server} processes on
 * loopback and the local CPU (issue 15). The static set-up here hides ServeTest's, so JUnit runs only this one.
 */
@EnabledIf("serverBuilt")
class RpcServeTest extends ServeTest {
    private static final List<Process> rpcServers = new ArrayList<>();

    static boolean serverBuilt() {
        return Files.isExecutable(binary());
    }

    private static Path binary() {
        return LlamaRuntime.libraryDirectory().resolve("ggml-rpc-server");
    }

    @BeforeAll
    static void start() throws Exception {
        List<String> endpoints = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            endpoints.add(startRpcServer());
        }
        // The demo model has 4 layers: layer 3 on one server, the output layer on the other, layers 0-2 on the CPU.
        model = LlamaModel.load(DemoModel.path(demoCache, new PrintWriter(new StringWriter())),
                ModelOptions.builder().rpcServers(endpoints).gpuLayers(2).tensorSplit(1, 1).build());
        startServer();
    }

    @AfterAll
    static void stop() {
        try {
            ServeTest.stop();
        } finally {
            for (Process p : rpcServers) {
                p.destroyForcibly();
            }
        }
    }

    private static String startRpcServer() throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(binary().toString(), "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--threads", "1").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        rpcServers.add(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return "127.0.0.1:" + port;
            } catch (IOException e) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("ggml-rpc-server did not come up on port " + port, e);
                }
                Thread.sleep(50);
            }
        }
    }
}
