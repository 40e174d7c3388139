package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeLoader;
import io.github.llamaffm.internal.NativeRuntime;
import io.github.llamaffm.internal.RpcBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The loaded llama.cpp library: version, build features, devices. Loading happens on first use of any llama-ffm
 * type; see the README for where the native libraries are looked for.
 */
public final class LlamaRuntime {
    private LlamaRuntime() {}

    /** Loads and initialises llama.cpp now (otherwise done on first use). */
    public static void initialize() {
        NativeRuntime.ensureInitialized();
    }

    /** {@code llama_version()} of the loaded library, e.g. {@code 0.5.0}. */
    public static String llamaCppVersion() {
        NativeRuntime.ensureInitialized();
        return NativeRuntime.cString(Llama.llama_version());
    }

    /** llama.cpp's system info line: SIMD features compiled in and used (AVX2, FMA, ...). */
    public static String systemInfo() {
        NativeRuntime.ensureInitialized();
        return NativeRuntime.cString(Llama.llama_print_system_info());
    }

    /**
     * The compute backend llama-ffm chose when it loaded llama.cpp, and why.
     *
     * @param name    {@code cuda}, {@code vulkan}, {@code metal} or {@code cpu}
     * @param reason  why, e.g. "CPU (portable natives, variant haswell): cuda: NVIDIA driver not found (...)"
     * @param skipped GPU backends that were found but could not be used, each as "backend: why"
     */
    public record Backend(String name, String reason, List<String> skipped) {
        public Backend {
            skipped = List.copyOf(skipped);
        }
    }

    /**
     * The backend in use. With several natives on the class path (say {@code linux-x86_64} and
     * {@code linux-x86_64-cuda}) llama-ffm uses the best GPU backend that initialises (CUDA, then Vulkan; Metal on
     * Apple Silicon) and otherwise the CPU, logging one INFO line per GPU backend it skipped. System property
     * {@code llamaffm.backend} ({@code auto}, {@code cpu}, {@code cuda}, {@code vulkan}, {@code metal}) forces one;
     * if it cannot be used, loading fails with a {@link NativeLibraryException} that says why.
     */
    public static Backend backend() {
        var c = NativeRuntime.backend();
        return new Backend(c.name(), c.reason(), c.skipped());
    }

    /** Directory the native libraries were loaded from. */
    public static Path libraryDirectory() {
        NativeRuntime.ensureInitialized();
        return NativeLoader.load().directory();
    }

    public static boolean supportsGpuOffload() {
        NativeRuntime.ensureInitialized();
        return Llama.llama_supports_gpu_offload();
    }

    public static boolean supportsMmap() {
        NativeRuntime.ensureInitialized();
        return Llama.llama_supports_mmap();
    }

    public static boolean supportsMlock() {
        NativeRuntime.ensureInitialized();
        return Llama.llama_supports_mlock();
    }

    /**
     * Devices of all loaded backends: the CPU always; GPUs when built with CUDA/Metal/Vulkan and present; the devices
     * of every RPC server a model of this process was loaded with ({@link ModelOptions.Builder#rpcServers}), named
     * {@code RPC<n>[host:port]} with the endpoint as description (memory 0 when the server does not answer now).
     */
    public static List<BackendDevice> devices() {
        NativeRuntime.ensureInitialized();
        List<BackendDevice> out = new ArrayList<>();
        long n = Llama.ggml_backend_dev_count();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            for (long i = 0; i < n; i++) {
                MemorySegment dev = Llama.ggml_backend_dev_get(i);
                free.set(ValueLayout.JAVA_LONG, 0, 0);
                total.set(ValueLayout.JAVA_LONG, 0, 0);
                if (!RpcBackend.isRpcDevice(dev) || rpcReachable(NativeRuntime.cString(Llama.ggml_backend_dev_description(dev)))) {
                    Llama.ggml_backend_dev_memory(dev, free, total);
                }
                out.add(new BackendDevice(
                        NativeRuntime.cString(Llama.ggml_backend_dev_name(dev)),
                        NativeRuntime.cString(Llama.ggml_backend_dev_description(dev)),
                        BackendDevice.Type.of(Llama.ggml_backend_dev_type(dev)),
                        free.get(ValueLayout.JAVA_LONG, 0),
                        total.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return List.copyOf(out);
    }

    /** Asking an RPC device for its memory connects to its server, which must answer first (bounded, pure Java). */
    private static boolean rpcReachable(String endpoint) {
        if (RpcBackend.inUse(endpoint)) {
            return true;
        }
        try {
            RpcBackend.probe(endpoint, java.time.Duration.ofSeconds(2));
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
