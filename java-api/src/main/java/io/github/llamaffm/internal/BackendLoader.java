package io.github.llamaffm.internal;

import io.github.llamaffm.NativeLibraryException;
import io.github.llamaffm.bindings.Llama;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * Chooses the compute backend once per JVM: the best GPU backend that actually initialises (CUDA, then Vulkan, as
 * llama.cpp's loadable backend modules; Metal is built into the macOS natives), else the CPU. A GPU module whose
 * driver or runtime is missing is skipped with one INFO line naming why. System property {@code llamaffm.backend}
 * ({@code auto} (default), {@code cpu}, {@code cuda}, {@code vulkan}, {@code metal}) forces one, and then failing
 * to initialise it is a {@link NativeLibraryException}.
 */
public final class BackendLoader {
    private BackendLoader() {}

    private static final System.Logger LOG = System.getLogger("io.github.llamaffm");
    private static final Set<String> CHOICES = Set.of("auto", "cpu", "cuda", "vulkan", "metal");

    /**
     * The outcome.
     *
     * @param name    {@code cuda}, {@code vulkan}, {@code metal} or {@code cpu}
     * @param reason  why, in one sentence
     * @param skipped GPU backends found but not used, each "backend: why"
     */
    public record Choice(String name, String reason, List<String> skipped) {}

    /** Loads the GPU module (if any) and the CPU backend; call before llama_backend_init. */
    static Choice choose(NativeLoader.Loaded loaded) {
        String raw = System.getProperty("llamaffm.backend", "auto");
        String requested = raw.strip().toLowerCase(Locale.ROOT);
        if (requested.isEmpty()) {
            requested = "auto";
        }
        if (!CHOICES.contains(requested)) {
            throw new NativeLibraryException("-Dllamaffm.backend=" + raw + " is not a backend; use one of auto, cpu, "
                    + "cuda, vulkan, metal");
        }
        List<String> skipped = new ArrayList<>();
        String chosen = null;
        String why = null;
        if (!requested.equals("cpu")) {
            for (NativeLoader.BackendModule m : loaded.gpuModules()) {
                if (!requested.equals("auto") && !requested.equals(m.backend())) {
                    continue;
                }
                String problem = tryLoad(m, loaded);
                if (problem == null) {
                    chosen = m.backend();
                    why = display(m.backend()) + " from " + m.source();
                    break;
                }
                if (requested.equals(m.backend())) {
                    throw new NativeLibraryException("-Dllamaffm.backend=" + requested + ": the " + display(m.backend())
                            + " backend (" + m.source() + ") cannot be used: " + problem);
                }
                LOG.log(System.Logger.Level.INFO, "llama-ffm: " + display(m.backend()) + " backend (" + m.source()
                        + ") skipped: " + problem + "; using the CPU");
                skipped.add(m.backend() + ": " + problem);
            }
        }
        String cpu = loaded.dynamicBackends() ? loadBestCpuVariant(loaded.directory()) : builtInCpu(loaded);
        // Backends built into the base libraries (Metal in the macOS natives) register themselves.
        String builtInGpu = builtInGpu();
        if (chosen == null && builtInGpu != null && !requested.equals("cpu")) {
            chosen = builtInGpu;
            why = display(builtInGpu) + ", built into the natives from " + loaded.source();
        }
        if (chosen == null && !requested.equals("auto") && !requested.equals("cpu")) {
            throw new NativeLibraryException("-Dllamaffm.backend=" + requested + ": no " + display(requested)
                    + " backend found for " + NativeLoader.platform() + hint(requested));
        }
        if (chosen == null) {
            String reason = "CPU (" + cpu + ")";
            if (requested.equals("cpu")) {
                reason += ", requested by -Dllamaffm.backend=cpu";
                if (builtInGpu != null) {
                    reason += " (" + display(builtInGpu) + " is built into these natives: keep layers on the CPU with "
                            + "ModelOptions gpuLayers(0))";
                }
            } else if (skipped.isEmpty()) {
                reason += ": no GPU backend in the natives on the class path";
            } else {
                reason += ": " + String.join("; ", skipped);
            }
            return new Choice("cpu", reason, List.copyOf(skipped));
        }
        return new Choice(chosen, why + "; CPU: " + cpu, List.copyOf(skipped));
    }

    private static String hint(String backend) {
        return switch (backend) {
            case "metal" -> " (Metal is part of the macos-aarch64 natives)";
            default -> ": add io.github.llamaffm:llama-ffm-natives with classifier " + NativeLoader.platform() + "-"
                    + backend + " next to the " + NativeLoader.platform() + " one";
        };
    }

    private static String display(String backend) {
        return switch (backend) {
            case "cuda" -> "CUDA";
            case "vulkan" -> "Vulkan";
            case "metal" -> "Metal";
            default -> backend;
        };
    }

    /** Loads one GPU module; null when it initialised with at least one device, else why not. */
    private static String tryLoad(NativeLoader.BackendModule m, NativeLoader.Loaded loaded) {
        String mismatch = mismatch(m, loaded);
        if (mismatch != null) {
            return mismatch;
        }
        NativeRuntime.beginCapture(true);
        MemorySegment reg;
        List<String> lines;
        try (Arena a = Arena.ofConfined()) {
            reg = (MemorySegment) Downcalls.BACKEND_LOAD.invokeExact(a.allocateFrom(m.library().toString()));
        } catch (Throwable t) {
            NativeRuntime.endCapture();
            return "loading " + m.library() + " failed: " + t;
        }
        lines = NativeRuntime.endCapture();
        NativeRuntime.clearLastError(); // the probe's errors are reported by the returned reason, not by later calls
        if (reg.equals(MemorySegment.NULL)) {
            return explain(m, lines);
        }
        long devices;
        try {
            devices = (long) Downcalls.REG_DEV_COUNT.invokeExact(reg);
        } catch (Throwable t) {
            devices = 0;
        }
        if (devices == 0) {
            try {
                Downcalls.BACKEND_UNLOAD.invokeExact(reg);
            } catch (Throwable ignored) {
                // still registered, with no devices: harmless
            }
            String detail = lines.stream().filter(l -> l.toLowerCase(Locale.ROOT).contains("fail")).findFirst()
                    .map(l -> " (" + l.strip() + ")").orElse("");
            return "no " + display(m.backend()) + " device found" + detail;
        }
        return null;
    }

    /** A module built from another llama.cpp or patch set than the base would not be ABI-compatible. */
    private static String mismatch(NativeLoader.BackendModule m, NativeLoader.Loaded loaded) {
        for (String key : List.of("llama.cpp.commit", "patches.hash")) {
            String a = loaded.buildInfo().getProperty(key);
            String b = m.buildInfo().getProperty(key);
            if (a != null && b != null && !a.equals(b)) {
                return "built from another llama.cpp than the CPU natives (" + key + " " + b + " vs " + a
                        + "): use one llama-ffm version for all natives";
            }
        }
        return null;
    }

    /**
     * Turns ggml's "failed to load X: dlerror" into what the user must install, looking up the backend's driver and
     * runtime libraries one by one (also where the loader's message names no library, as on Windows).
     */
    static String explain(NativeLoader.BackendModule m, List<String> lines) {
        String detail = lines.stream().filter(l -> l.contains("failed to load")).findFirst()
                .map(l -> {
                    int at = l.indexOf(": ", l.indexOf("failed to load"));
                    return (at < 0 ? l : l.substring(at + 2)).strip();
                })
                .orElseGet(() -> lines.isEmpty() ? "" : lines.getLast().strip());
        // The dynamic linker names the first missing dependency in its own order (say cuBLAS); the driver, when it
        // is missing too, is what the user needs first.
        String missing = firstMissing(m);
        if (missing != null && !detail.contains(missing)) {
            detail = missing + ": cannot be opened" + (detail.isEmpty() ? "" : "; " + detail);
        }
        String what = missingWhat(missing != null ? missing : detail);
        if (what == null) {
            what = display(m.backend()) + " backend did not load";
        }
        return what + " (" + (detail.isEmpty() ? m.library().toString() : detail) + ")";
    }

    private static String missingWhat(String text) {
        String d = text.toLowerCase(Locale.ROOT);
        if (d.contains("libcuda.so") || d.contains("nvcuda.dll")) {
            return "NVIDIA driver not found";
        } else if (d.contains("cudart") || d.contains("cublas")) {
            return "CUDA runtime libraries (cudart, cuBLAS) not found";
        } else if (d.contains("vulkan")) {
            return "Vulkan loader not found";
        }
        return null;
    }

    /** The first driver or runtime library of the module's backend that cannot be opened, or null. */
    private static String firstMissing(NativeLoader.BackendModule m) {
        boolean windows = NativeLoader.platform().startsWith("windows");
        String cuda = m.buildInfo().getProperty("cuda.version", "13").split("\\.")[0];
        List<String> needed = switch (m.backend()) {
            case "cuda" -> windows
                    ? List.of("nvcuda.dll", "cudart64_" + cuda + ".dll", "cublas64_" + cuda + ".dll", "cublasLt64_" + cuda + ".dll")
                    : List.of("libcuda.so.1", "libcudart.so." + cuda, "libcublas.so." + cuda, "libcublasLt.so." + cuda);
            case "vulkan" -> List.of(windows ? "vulkan-1.dll" : "libvulkan.so.1");
            default -> List.of();
        };
        for (String lib : needed) {
            try (Arena a = Arena.ofConfined()) {
                SymbolLookup.libraryLookup(lib, a);
            } catch (IllegalArgumentException e) {
                return lib;
            }
        }
        return null;
    }

    /** The best of the CPU variants of a GGML_BACKEND_DL build, as ggml_backend_load_best does. */
    private static String loadBestCpuVariant(Path dir) {
        String prefix = NativeLoader.libraryFileName("ggml-cpu-");
        String suffix = prefix.substring(prefix.lastIndexOf('.'));
        prefix = prefix.substring(0, prefix.lastIndexOf('.'));
        Path best = null;
        int bestScore = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, prefix + "*" + suffix)) {
            for (Path variant : s) {
                int score = score(variant);
                if (score > bestScore) {
                    bestScore = score;
                    best = variant;
                }
            }
        } catch (IOException e) {
            throw new NativeLibraryException("cannot list the CPU backend variants in " + dir, e);
        }
        if (best == null) {
            throw new NativeLibraryException("no CPU backend variant in " + dir + " supports this CPU");
        }
        NativeRuntime.beginCapture(false);
        MemorySegment reg;
        try (Arena a = Arena.ofConfined()) {
            reg = (MemorySegment) Downcalls.BACKEND_LOAD.invokeExact(a.allocateFrom(best.toString()));
        } catch (Throwable t) {
            throw new NativeLibraryException("loading " + best + " failed", t);
        } finally {
            NativeRuntime.endCapture();
        }
        if (reg.equals(MemorySegment.NULL)) {
            throw new NativeLibraryException("the CPU backend " + best + " did not load" + NativeRuntime.lastErrorSuffix());
        }
        String name = best.getFileName().toString();
        return "portable natives, variant " + name.substring(prefix.length(), name.length() - suffix.length());
    }

    /** ggml_backend_score() of one CPU variant: 0 when this CPU lacks its instructions. */
    private static int score(Path variant) {
        try (Arena a = Arena.ofConfined()) {
            SymbolLookup lib = SymbolLookup.libraryLookup(variant, a);
            MemorySegment fn = lib.find("ggml_backend_score").orElse(null);
            if (fn == null) {
                return 0;
            }
            MethodHandle h = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT));
            return (int) h.invokeExact();
        } catch (Throwable t) {
            return 0;
        }
    }

    private static String builtInCpu(NativeLoader.Loaded loaded) {
        String backend = loaded.buildInfo().getProperty("backend", "");
        return switch (backend) {
            case "cpu" -> "built for this machine's CPU (-march=native)";
            case "metal" -> "Apple Silicon";
            default -> "natives from " + loaded.source();
        };
    }

    /** The first GPU device registered by a backend built into the base libraries, as a backend name; or null. */
    private static String builtInGpu() {
        long n = Llama.ggml_backend_dev_count();
        for (long i = 0; i < n; i++) {
            MemorySegment dev = Llama.ggml_backend_dev_get(i);
            int type = Llama.ggml_backend_dev_type(dev);
            if (type == 1 || type == 2) { // GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU
                String reg = Objects.requireNonNullElse(
                        NativeRuntime.cString(Llama.ggml_backend_reg_name(Llama.ggml_backend_dev_backend_reg(dev))), "");
                String r = reg.toLowerCase(Locale.ROOT);
                return r.equals("mtl") || r.contains("metal") ? "metal" : r;
            }
        }
        return null;
    }

    /** ggml functions the generated bindings do not cover (backend module loading). */
    private static final class Downcalls {
        static final MethodHandle BACKEND_LOAD = handle("ggml_backend_load",
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        static final MethodHandle REG_DEV_COUNT = handle("ggml_backend_reg_dev_count",
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        static final MethodHandle BACKEND_UNLOAD = handle("ggml_backend_unload",
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

        private static MethodHandle handle(String name, FunctionDescriptor fd) {
            MemorySegment fn = SymbolLookup.loaderLookup().find(name)
                    .orElseThrow(() -> new NativeLibraryException("the loaded ggml lacks " + name));
            return Linker.nativeLinker().downcallHandle(fn, fd);
        }
    }
}
