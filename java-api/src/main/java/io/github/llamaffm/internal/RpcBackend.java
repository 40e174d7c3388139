package io.github.llamaffm.internal;

import io.github.llamaffm.bindings.Llama;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * llama.cpp's RPC backend (ggml-rpc): remote devices served by upstream's {@code ggml-rpc-server}.
 *
 * <p>The RPC functions are reached the way upstream's {@code common} reaches them: the backend registry
 * ({@code ggml_backend_reg_by_name("RPC")}) and {@code ggml_backend_reg_get_proc_address}, because a
 * {@code GGML_BACKEND_DL} build loads ggml-rpc as a module that the class loader's symbol lookup never sees. The
 * three registry functions are not in the generated bindings; their signatures are written here (all take and
 * return plain pointers).
 *
 * <p>The client in llama.cpp connects without a timeout and (unpatched) aborts the process on any failure; patch
 * 0010 makes failures reportable, and {@link #probe} checks each endpoint from Java first with a bounded connect
 * and the protocol's HELLO. An RPC server serves one client connection at a time, so an endpoint already used by a
 * model of this process is not probed again (the probe would wait behind our own connection).
 */
public final class RpcBackend {
    private RpcBackend() {}

    /** Protocol version this llama.cpp speaks (ggml-rpc.h RPC_PROTO_MAJOR_VERSION / MINOR). */
    public static final int PROTO_MAJOR = 7;
    public static final int PROTO_MINOR = 0;
    /** RPC_CMD_HELLO: fixed at 14 in every protocol version. */
    private static final int CMD_HELLO = 14;
    /** sizeof(rpc_msg_hello_req): the transport capability bytes (RPC_CONN_CAPS_SIZE). */
    private static final int CONN_CAPS_SIZE = 24;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Map<String, Integer> IN_USE = new HashMap<>();
    private static final Set<String> REGISTERED = ConcurrentHashMap.newKeySet();
    private static final Set<Long> RPC_MODELS = ConcurrentHashMap.newKeySet();
    private static volatile MethodHandle failureCount;
    /** The last connection failure ggml-rpc logged (set by the log bridge). */
    static volatile String lastFailure = "an RPC server connection failed";

    /** The last connection failure ggml-rpc logged, e.g. {@code RPC server 10.0.0.2:50052: connection lost (...)}. */
    public static String lastFailure() {
        return lastFailure;
    }

    /**
     * Validates {@code host:port} (no native call) and returns it normalised.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static String checkEndpoint(String endpoint) {
        if (endpoint == null) {
            throw new NullPointerException("RPC endpoint");
        }
        String e = endpoint.strip();
        int colon = e.lastIndexOf(':');
        if (colon <= 0 || colon == e.length() - 1) {
            throw new IllegalArgumentException("RPC endpoint must be host:port, was '" + endpoint + "'");
        }
        String host = e.substring(0, colon);
        if (host.contains(":") || host.startsWith("[")) {
            throw new IllegalArgumentException("RPC endpoint '" + endpoint
                    + "': IPv6 addresses are not supported by llama.cpp's RPC client; use an IPv4 address or a host name");
        }
        if (!host.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("RPC endpoint '" + endpoint + "' has an invalid host '" + host + "'");
        }
        int port;
        try {
            port = Integer.parseInt(e.substring(colon + 1));
        } catch (NumberFormatException x) {
            throw new IllegalArgumentException("RPC endpoint '" + endpoint + "' has an invalid port", x);
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("RPC endpoint '" + endpoint + "': port must be 1..65535, was " + port);
        }
        return host + ":" + port;
    }

    /**
     * Connects to {@code endpoint} within {@code timeout}, sends HELLO and checks the answer within the same
     * timeout, then closes. Pure Java: nothing reaches llama.cpp.
     *
     * @return the server's protocol version, e.g. {@code 7.0.0}
     * @throws IOException with a message saying what failed (unreachable, silent, not an RPC server, other version)
     */
    public static String probe(String endpoint, Duration timeout) throws IOException {
        int colon = endpoint.lastIndexOf(':');
        String host = endpoint.substring(0, colon);
        int port = Integer.parseInt(endpoint.substring(colon + 1));
        int millis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        try (Socket s = new Socket()) {
            try {
                s.connect(new InetSocketAddress(host, port), millis);
            } catch (UnknownHostException e) {
                throw new IOException("unknown host " + host, e);
            } catch (SocketTimeoutException e) {
                throw new IOException("no connection within " + timeout.toMillis() + " ms", e);
            } catch (ConnectException e) {
                throw new IOException("connection refused (is ggml-rpc-server / llama-ffm rpc-server running there?)", e);
            }
            s.setSoTimeout(millis);
            s.setTcpNoDelay(true);
            // | cmd (1 byte) | request size (8 bytes, little-endian) | conn_caps (24 bytes: none) |
            ByteBuffer req = ByteBuffer.allocate(1 + 8 + CONN_CAPS_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            req.put((byte) CMD_HELLO).putLong(CONN_CAPS_SIZE);
            OutputStream out = s.getOutputStream();
            out.write(req.array());
            out.flush();
            // | response size (8 bytes) | major | minor | patch | padding | conn_caps (24 bytes) |
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] rsp = new byte[8 + 4 + CONN_CAPS_SIZE];
            try {
                in.readFully(rsp, 0, 8);
                long size = ByteBuffer.wrap(rsp, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (size != 4 + CONN_CAPS_SIZE) {
                    throw new IOException("not a llama.cpp RPC server of protocol " + PROTO_MAJOR + ".x (its HELLO "
                            + "answer has " + size + " bytes, expected " + (4 + CONN_CAPS_SIZE) + ")");
                }
                in.readFully(rsp, 8, 4 + CONN_CAPS_SIZE);
            } catch (SocketTimeoutException e) {
                throw new IOException("connected, but no HELLO answer within " + timeout.toMillis() + " ms (not an RPC "
                        + "server, or it is serving another client: an RPC server accepts one client at a time)", e);
            } catch (EOFException e) {
                throw new IOException("the server closed the connection during HELLO (not a llama.cpp RPC server of "
                        + "protocol " + PROTO_MAJOR + ".x, or another client version)", e);
            }
            int major = rsp[8] & 0xff, minor = rsp[9] & 0xff, patch = rsp[10] & 0xff;
            String version = major + "." + minor + "." + patch;
            if (major != PROTO_MAJOR || minor > PROTO_MINOR) {
                throw new IOException("RPC protocol version mismatch: server speaks " + version + ", this llama.cpp "
                        + PROTO_MAJOR + "." + PROTO_MINOR + ".x (run the ggml-rpc-server from the same llama-ffm natives)");
            }
            return version;
        }
    }

    /** Whether a model of this process holds a connection to {@code endpoint}. */
    public static synchronized boolean inUse(String endpoint) {
        return IN_USE.containsKey(endpoint);
    }

    /**
     * Counts a model ({@code llama_model*}) using these endpoints (see {@link #release}); with {@code usesRpc} its
     * contexts' decodes watch for lost connections.
     */
    public static synchronized void acquire(MemorySegment model, boolean usesRpc, List<String> endpoints) {
        for (String e : endpoints) {
            IN_USE.merge(e, 1, Integer::sum);
        }
        if (usesRpc) {
            RPC_MODELS.add(model.address());
        }
    }

    /** Undoes {@link #acquire}; called when the model's native handle is freed. */
    public static synchronized void release(MemorySegment model, List<String> endpoints) {
        for (String e : endpoints) {
            IN_USE.computeIfPresent(e, (k, n) -> n == 1 ? null : n - 1);
        }
        RPC_MODELS.remove(model.address());
    }

    /** Whether this {@code llama_model*} may have layers on RPC servers. */
    public static boolean isRpcModel(MemorySegment model) {
        return RPC_MODELS.contains(model.address());
    }

    /**
     * Registers the server's devices with ggml (once per endpoint and process: ggml keeps registrations for the
     * life of the process). Call only after a successful {@link #probe}.
     *
     * @throws IllegalStateException with the reason if llama.cpp has no RPC backend or the server has no devices
     */
    public static synchronized void register(String endpoint) {
        if (REGISTERED.contains(endpoint)) {
            return;
        }
        NativeRuntime.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment reg = rpcReg(arena);
            MemorySegment addServer = proc(reg, "ggml_backend_rpc_add_server", arena);
            MethodHandle add = LINKER.downcallHandle(addServer,
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            MemorySegment serverReg = (MemorySegment) add.invokeExact(arena.allocateFrom(endpoint));
            if (serverReg.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("RPC server " + endpoint + " reports no devices (or the connection "
                        + "failed after the probe)" + NativeRuntime.lastErrorSuffix());
            }
            MethodHandle register = downcall("ggml_backend_register", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            register.invokeExact(serverReg);
            REGISTERED.add(endpoint);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Whether {@code endpoint}'s devices are registered in this process. */
    public static boolean registered(String endpoint) {
        return REGISTERED.contains(endpoint);
    }

    /**
     * RPC connections that failed so far in this process (patch 0010); 0 when no RPC server was ever registered.
     * A llama_decode during which this number changed computed on data that never arrived.
     */
    public static long failureCount() {
        if (REGISTERED.isEmpty()) {
            return 0;
        }
        MethodHandle h = failureCount;
        try {
            if (h == null) {
                synchronized (RpcBackend.class) {
                    if (failureCount == null) {
                        try (Arena arena = Arena.ofConfined()) {
                            MemorySegment f = proc(rpcReg(arena), "ggml_backend_rpc_llamaffm_failure_count", arena);
                            failureCount = LINKER.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_LONG));
                        }
                    }
                    h = failureCount;
                }
            }
            return (long) h.invokeExact();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Bounds each send/receive of the RPC connections made from now on (patch 0011); called before each load with
     * RPC servers.
     */
    public static synchronized void setIoTimeout(java.time.Duration timeout) {
        long ms = Math.clamp(timeout.toMillis(), 1, Integer.MAX_VALUE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = proc(rpcReg(arena), "ggml_backend_rpc_llamaffm_set_io_timeout", arena);
            LINKER.downcallHandle(f, FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT)).invokeExact((int) ms);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Whether a device (a {@code ggml_backend_dev_t}) belongs to the RPC backend. */
    public static boolean isRpcDevice(MemorySegment dev) {
        MemorySegment reg = Llama.ggml_backend_dev_backend_reg(dev);
        return !reg.equals(MemorySegment.NULL) && "RPC".equals(NativeRuntime.cString(Llama.ggml_backend_reg_name(reg)));
    }

    private static MemorySegment rpcReg(Arena arena) throws Throwable {
        MethodHandle byName = downcall("ggml_backend_reg_by_name", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MemorySegment reg = (MemorySegment) byName.invokeExact(arena.allocateFrom("RPC"));
        NativeLoader.Loaded loaded = NativeLoader.load();
        Path module = loaded.directory().resolve(NativeLoader.libraryFileName("ggml-rpc"));
        if (reg.equals(MemorySegment.NULL) && loaded.dynamicBackends() && Files.isRegularFile(module)) {
            // GGML_BACKEND_DL natives: ggml-rpc is a module like the GPU backends, loaded (and registered) on first use
            MethodHandle load = downcall("ggml_backend_load", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            reg = (MemorySegment) load.invokeExact(arena.allocateFrom(module.toString()));
        }
        if (reg.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the loaded llama.cpp has no RPC backend (build the natives with "
                    + "./build-native.sh, which enables GGML_RPC)");
        }
        return reg;
    }

    private static MemorySegment proc(MemorySegment reg, String name, Arena arena) throws Throwable {
        MethodHandle getProc = downcall("ggml_backend_reg_get_proc_address",
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MemorySegment f = (MemorySegment) getProc.invokeExact(reg, arena.allocateFrom(name));
        if (f.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the loaded llama.cpp's RPC backend lacks " + name
                    + " (natives built without llama-ffm's patches?)");
        }
        return f;
    }

    private static MethodHandle downcall(String symbol, FunctionDescriptor fd) {
        MemorySegment addr = SymbolLookup.loaderLookup().find(symbol)
                .orElseThrow(() -> new IllegalStateException("llama.cpp library lacks " + symbol));
        return LINKER.downcallHandle(addr, fd);
    }
}
