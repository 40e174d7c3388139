package io.github.llamaffm;

import io.github.llamaffm.internal.TinyModel;
import io.github.llamaffm.internal.NativeRuntime;
import io.github.llamaffm.internal.RpcBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A model split across two of upstream's {@code ggml-rpc-server} processes on loopback and the local CPU (issue 15):
 * the same greedy tokens as the local-only run; dead, silent, foreign and other-version endpoints are
 * {@link ModelLoadException}s within the timeout; a server killed mid-generation fails the request, not the JVM.
 */
@Tag("tiny-model")
@Tag("slow")
@EnabledIf("io.github.llamaffm.LoopbackRpcServer#available")
class RpcTest {
    /** Six layers; gpuLayers(4) offloads layers 3-5 and the output layer (llama.cpp counts it): 2 per server. */
    static final TinyModel.Spec SPEC = TinyModel.Spec.builder().layers(6).embeddingSize(128).heads(8).kvHeads(2)
            .feedForwardSize(256).seed(15).build();
    private static LoopbackRpcServer a;
    private static LoopbackRpcServer b;

    @BeforeAll
    static void startServers() throws Exception {
        a = LoopbackRpcServer.start(1);
        b = LoopbackRpcServer.start(1);
    }

    @AfterAll
    static void stopServers() throws Exception {
        if (a != null) {
            a.close();
        }
        if (b != null) {
            b.close();
        }
    }

    static ModelOptions split(LoopbackRpcServer... servers) {
        List<String> endpoints = new ArrayList<>();
        for (LoopbackRpcServer s : servers) {
            endpoints.add(s.endpoint());
        }
        float[] even = new float[servers.length];
        java.util.Arrays.fill(even, 1f);
        return ModelOptions.builder().rpcServers(endpoints).gpuLayers(SPEC.layers() - 2).tensorSplit(even).build();
    }

    private static List<Integer> greedy(LlamaModel model, String prompt, int n) {
        try (LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).threads(1).build());
             Generation g = ctx.generate(prompt, GenerateOptions.builder().maxTokens(n).sampler(Sampler.greedy()).build())) {
            List<Integer> ids = new ArrayList<>();
            g.forEach(t -> ids.add(t.id()));
            return ids;
        }
    }

    @Test
    void splitAcrossTwoServersAndTheCpuIsTokenIdenticalToLocal() throws Exception {
        Path file = TestModels.tiny(SPEC);
        String prompt = "The Mistral 7B paper shows";
        List<Integer> local;
        try (LlamaModel model = LlamaModel.load(file)) {
            local = greedy(model, prompt, 40);
        }
        NativeRuntime.beginCapture();
        List<String> loadLog;
        List<Integer> remote;
        try (LlamaModel model = LlamaModel.load(file, split(a, b))) {
            loadLog = NativeRuntime.endCapture();
            remote = greedy(model, prompt, 40);
            // The devices are listed under names that say where they live, with the server's memory.
            List<BackendDevice> rpc = LlamaRuntime.devices().stream().filter(d -> d.name().startsWith("RPC")).toList();
            assertThat(rpc).extracting(BackendDevice::name)
                    .contains("RPC0[" + a.endpoint() + "]", "RPC0[" + b.endpoint() + "]");
            assertThat(rpc).filteredOn(d -> d.description().equals(a.endpoint())).singleElement()
                    .satisfies(d -> assertThat(d.totalBytes()).isPositive());
        } finally {
            NativeRuntime.endCapture();
        }
        // llama.cpp's own account of where the weights went: a buffer on each server, and on the CPU.
        assertThat(loadLog).anyMatch(l -> l.contains("RPC0[" + a.endpoint() + "]") && l.contains("buffer size"))
                .anyMatch(l -> l.contains("RPC0[" + b.endpoint() + "]") && l.contains("buffer size"))
                .anyMatch(l -> l.contains("CPU") && l.contains("buffer size"));
        assertThat(local).hasSize(40);
        assertThat(local.stream().distinct().count()).as("the tiny model is not stuck on one token").isGreaterThan(3);
        assertThat(remote).isEqualTo(local);
    }

    @Test
    void endpointsAreValidatedBeforeAnyNativeCall() {
        for (String bad : List.of("localhost", "127.0.0.1:", ":50052", "127.0.0.1:0", "127.0.0.1:70000", "host:port",
                "[::1]:50052", "a b:1")) {
            assertThatThrownBy(() -> ModelOptions.builder().rpcServers(List.of(bad)))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(bad);
        }
        assertThatThrownBy(() -> ModelOptions.builder().rpcServers(List.of("h:1", "h:1")))
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> ModelOptions.builder().tensorSplit(1, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(ModelOptions.builder().rpcServers(List.of(" 10.0.0.2:50052 ")).build().rpcServers())
                .containsExactly("10.0.0.2:50052");
    }

    @Test
    void nothingListeningIsAModelLoadException() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path file = TestModels.tiny(SPEC);
        assertThatThrownBy(() -> LlamaModel.load(file, ModelOptions.builder().rpcServers(List.of("127.0.0.1:" + port)).build()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("RPC server 127.0.0.1:" + port).hasMessageContaining("connection refused");
    }

    @Test
    void aSilentServerTimesOut() throws Exception {
        try (ServerSocket silent = new ServerSocket(0)) { // accepts (backlog) but never answers
            long start = System.nanoTime();
            assertThatThrownBy(() -> LlamaModel.load(TestModels.tiny(SPEC), ModelOptions.builder()
                    .rpcServers(List.of("127.0.0.1:" + silent.getLocalPort())).rpcTimeout(Duration.ofMillis(300)).build()))
                    .isInstanceOf(ModelLoadException.class).hasMessageContaining("no HELLO answer within 300 ms");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
        }
    }

    @Test
    void aForeignServerIsRejected() throws Exception {
        assertRejected(out -> write(out, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".getBytes()),
                "not a llama.cpp RPC server");
    }

    @Test
    void anotherProtocolVersionIsRejected() throws Exception {
        // A HELLO answer as upstream's server sends it (size, major, minor, patch, padding, conn_caps), but major 6.
        ByteBuffer rsp = ByteBuffer.allocate(8 + 4 + 24).order(ByteOrder.LITTLE_ENDIAN);
        rsp.putLong(4 + 24).put((byte) 6).put((byte) 0).put((byte) 0);
        assertRejected(out -> write(out, rsp.array()), "version mismatch: server speaks 6.0.0");
    }

    private static void write(OutputStream out, byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void assertRejected(Consumer<OutputStream> answer, String message) throws Exception {
        try (ServerSocket fake = new ServerSocket(0)) {
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                try (Socket s = fake.accept(); InputStream in = s.getInputStream()) {
                    in.readNBytes(1 + 8 + 24); // the HELLO request
                    answer.accept(s.getOutputStream());
                    in.read(); // until the client closes
                } catch (IOException ignored) {
                    // client gone
                }
            });
            assertThatThrownBy(() -> LlamaModel.load(TestModels.tiny(SPEC), ModelOptions.builder()
                    .rpcServers(List.of("127.0.0.1:" + fake.getLocalPort())).build()))
                    .isInstanceOf(ModelLoadException.class).hasMessageContaining(message);
            t.join(5000);
        }
    }

    @Test
    void killingAServerMidGenerationFailsTheRequestNotTheProcess() throws Exception {
        Path file = TestModels.tiny(SPEC);
        try (LoopbackRpcServer doomed = LoopbackRpcServer.start(1)) {
            try (LlamaModel model = LlamaModel.load(file, split(a, doomed));
                 LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).threads(1).build())) {
                List<Integer> before = new ArrayList<>();
                Throwable failure = null;
                try (Generation g = ctx.generate("Once upon a time", GenerateOptions.builder().maxTokens(200)
                        .sampler(Sampler.greedy()).build())) {
                    Iterator<Token> it = g.iterator();
                    while (it.hasNext()) {
                        before.add(it.next().id());
                        if (before.size() == 5) {
                            doomed.process.destroyForcibly().waitFor();
                        }
                    }
                } catch (LlamaException e) {
                    failure = e;
                }
                assertThat(failure).as("the request ends with an exception").isInstanceOf(DecodeException.class)
                        .hasMessageContaining("RPC server " + doomed.endpoint());
                // The step that lost the server does not yield a token computed on missing data.
                assertThat(before).hasSizeBetween(5, 6);
                // Later requests on this model fail too, promptly (no hang, no abort).
                assertThatThrownBy(() -> greedy(model, "again", 4)).isInstanceOf(LlamaException.class);
            }
            assertThat(a.process.isAlive()).as("the other server stays up").isTrue();
            // The surviving server is free again, and this process still runs models (local and remote).
            RpcBackend.probe(a.endpoint(), Duration.ofSeconds(5));
            try (LlamaModel local = LlamaModel.load(file)) {
                assertThat(greedy(local, "still alive", 4)).hasSize(4);
            }
            try (LlamaModel remote = LlamaModel.load(file, split(a))) {
                assertThat(greedy(remote, "still alive", 4)).hasSize(4);
            }
        }
    }

    /**
     * A server that stays connected but stops answering (SIGSTOP) fails the step after
     * {@link ModelOptions.Builder#rpcReplyTimeout} (patch 0011) instead of blocking it forever.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
    @org.junit.jupiter.api.condition.EnabledOnOs({org.junit.jupiter.api.condition.OS.LINUX,
            org.junit.jupiter.api.condition.OS.MAC})
    void aServerThatStopsAnsweringFailsTheStepAfterTheReplyTimeout() throws Exception {
        Path file = TestModels.tiny(SPEC);
        try (LoopbackRpcServer silent = LoopbackRpcServer.start(1)) {
            ModelOptions options = split(silent).toBuilder().rpcReplyTimeout(Duration.ofSeconds(2)).build();
            try (LlamaModel model = LlamaModel.load(file, options);
                 LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(256).threads(1).build())) {
                List<Integer> before = new ArrayList<>();
                Throwable failure = null;
                long stoppedAt = 0;
                try (Generation g = ctx.generate("Once upon a time", GenerateOptions.builder().maxTokens(200)
                        .sampler(Sampler.greedy()).build())) {
                    Iterator<Token> it = g.iterator();
                    while (it.hasNext()) {
                        before.add(it.next().id());
                        if (before.size() == 3) {
                            signal("STOP", silent.process);
                            stoppedAt = System.nanoTime();
                        }
                    }
                } catch (LlamaException e) {
                    failure = e;
                } finally {
                    signal("CONT", silent.process);
                }
                assertThat(failure).as("the step fails instead of hanging").isInstanceOf(DecodeException.class)
                        .hasMessageContaining("RPC server " + silent.endpoint());
                assertThat(before).hasSizeBetween(3, 4);
                assertThat(Duration.ofNanos(System.nanoTime() - stoppedAt)).as("failed after about the timeout")
                        .isGreaterThanOrEqualTo(Duration.ofMillis(1500));
            }
        }
    }

    private static void signal(String name, Process p) throws Exception {
        // the shell's builtin kill: no dependence on a kill binary
        assertThat(new ProcessBuilder("/bin/sh", "-c", "kill -" + name + " " + p.pid()).inheritIO().start().waitFor())
                .isZero();
    }
}
