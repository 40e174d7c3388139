package io.github.llamaffm;

import io.github.llamaffm.internal.NativeLoader;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Which compute backend is used, in child JVMs (the choice is made once per JVM): the CPU here by default, a forced
 * backend that is not there is a clear error, and — when {@code ./build-native.sh --cuda} has produced CUDA natives —
 * the CUDA natives jar next to the CPU one on a machine without an NVIDIA driver falls back to the CPU with one INFO
 * line, and still generates.
 */
@Tag("tiny-model")
@Tag("slow")
class BackendChoiceTest {

    private record Run(int exit, String out) {}

    private static Run run(Path home, List<Path> extraClassPath, List<String> jvmArgs, String... args) throws Exception {
        StringBuilder cp = new StringBuilder(System.getProperty("java.class.path"));
        for (Path p : extraClassPath) {
            cp.append(File.pathSeparator).append(p);
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Duser.home=" + home));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", cp.toString(), BackendProbe.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(home.toFile()).redirectErrorStream(true);
        pb.environment().remove("LLAMAFFM_LIBRARY_PATH");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    @Test
    void withCpuNativesOnlyTheCpuIsChosenAndSaysSo(@TempDir Path home) throws Exception {
        Run r = run(home, List.of(), List.of("-Dllamaffm.project.root=" + TestModels.projectRoot(),
                "-Dllamaffm.backend=cpu"), TestModels.tiny().toString());
        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("backend=cpu", "reason=CPU (", "requested by -Dllamaffm.backend=cpu")
                .containsPattern("generated=[1-9]\\d* chars");
    }

    @Test
    void anUnknownBackendIsAClearError(@TempDir Path home) throws Exception {
        Run r = run(home, List.of(), List.of("-Dllamaffm.project.root=" + TestModels.projectRoot(),
                "-Dllamaffm.backend=tpu"));
        assertThat(r.exit()).isNotZero();
        assertThat(r.out()).contains("NativeLibraryException", "-Dllamaffm.backend=tpu is not a backend",
                "auto, cpu, cuda, vulkan, metal");
    }

    @Test
    void aForcedGpuBackendThatCannotBeUsedIsAClearError(@TempDir Path home) throws Exception {
        assumeTrue(!nvidiaDriverPresent(), "this machine has an NVIDIA driver");
        Run r = run(home, List.of(), List.of("-Dllamaffm.project.root=" + TestModels.projectRoot(),
                "-Dllamaffm.backend=cuda"));
        assertThat(r.exit()).isNotZero();
        assertThat(r.out()).contains("NativeLibraryException", "-Dllamaffm.backend=cuda");
        if (Files.isDirectory(cudaDir())) {
            assertThat(r.out()).contains("CUDA backend", "cannot be used", "NVIDIA driver not found", "libcuda");
        } else {
            assertThat(r.out()).contains("no CUDA backend found",
                    "io.github.llamaffm:llama-ffm-natives with classifier " + NativeLoader.platform() + "-cuda");
        }
    }

    /**
     * The fallback: CPU and CUDA natives jars on the class path, no NVIDIA driver. Runs when ./build-native.sh --cuda
     * has been run in this checkout (too long for CI: see scripts/cuda-fallback-proof.sh).
     */
    @Test
    void cudaNativesWithoutADriverFallBackToTheCpuWithOneInfoLine(@TempDir Path home) throws Exception {
        Path cudaJar = cudaDir().resolve("llama-ffm-natives-" + NativeLoader.platform() + "-cuda.jar");
        assumeTrue(Files.isRegularFile(cudaJar), "no CUDA natives (./build-native.sh --cuda)");
        assumeTrue(!nvidiaDriverPresent(), "this machine has an NVIDIA driver");
        Path cpuJar = TestModels.nativesJar();
        Run r = run(home, List.of(cpuJar, cudaJar), List.of(), TestModels.tiny().toString());
        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("backend=cpu").containsPattern("generated=[1-9]\\d* chars");
        List<String> info = r.out().lines().filter(l -> l.startsWith("INFO: llama-ffm: CUDA backend")).toList();
        assertThat(info).as(r.out()).hasSize(1);
        assertThat(info.getFirst()).contains("(natives jar " + NativeLoader.platform() + "-cuda) skipped: "
                + "NVIDIA driver not found (libcuda.so.1", "; using the CPU");
        // Extracted from the jars into the fresh home, nothing from the checkout.
        assertThat(home.resolve(".cache/llama-ffm/natives/" + NativeLoader.platform() + "-cuda")).isDirectory();
    }

    /**
     * The same fallback without a CUDA build: a natives jar {@code <platform>-cuda} whose {@code libggml-cuda} module
     * needs the NVIDIA driver library ({@code libcuda.so.1}) as the real one does, compiled here. The dynamic linker
     * and llama.cpp's module loader fail on it for the real reason; the loader must say so once and use the CPU.
     */
    @Test
    void aGpuModuleWhoseDriverIsMissingIsSkippedWithOneInfoLine(@TempDir Path home, @TempDir Path work) throws Exception {
        assumeTrue(NativeLoader.platform().startsWith("linux"), "builds an ELF module");
        assumeTrue(!nvidiaDriverPresent(), "this machine has an NVIDIA driver");
        String classifier = NativeLoader.platform() + "-cuda";
        // The driver, for the link step only (soname libcuda.so.1); it is not on the run-time search path.
        Path link = Files.createDirectories(work.resolve("link"));
        Files.writeString(work.resolve("driver.c"), "int cuInit(unsigned int flags) { return flags; }\n");
        cc(work, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", link.resolve("libcuda.so").toString(), "driver.c");
        // A backend module as GGML_BACKEND_DL builds them: exports ggml_backend_init, calls into the driver.
        Path res = Files.createDirectories(work.resolve("jar/io/github/llamaffm/natives/" + classifier));
        Files.writeString(work.resolve("module.c"),
                "int cuInit(unsigned int);\nvoid * ggml_backend_init(void) { cuInit(0); return 0; }\n");
        cc(work, "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", res.resolve("libggml-cuda.so").toString(), "module.c",
                "-L" + link, "-lcuda");
        Files.writeString(res.resolve("natives.list"), "libggml-cuda.so\n");
        Properties base = TestModels.buildInfo();
        Files.writeString(res.resolve("build-info.properties"), "llama.cpp.commit=" + base.getProperty("llama.cpp.commit")
                + "\npatches.hash=" + base.getProperty("patches.hash") + "\nbackend=cuda\nclassifier=" + classifier + "\n");
        Path jar = work.resolve("llama-ffm-natives-" + classifier + ".jar");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jar").toString(),
                "--create", "--file", jar.toString(), "-C", work.resolve("jar").toString(), "io")
                .redirectErrorStream(true).start();
        assertThat(p.waitFor()).as(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();

        Run r = run(home, List.of(TestModels.nativesJar(), jar), List.of(), TestModels.tiny().toString());
        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("backend=cpu", "skipped=[cuda: NVIDIA driver not found (libcuda.so.1")
                .containsPattern("generated=[1-9]\\d* chars");
        List<String> info = r.out().lines().filter(l -> l.contains("llama-ffm: CUDA backend")).toList();
        assertThat(info).as(r.out()).hasSize(1);
        assertThat(info.getFirst()).startsWith("INFO: ").contains("(natives jar " + classifier + ") skipped: "
                + "NVIDIA driver not found (libcuda.so.1: cannot open shared object file", "; using the CPU");
        // llama.cpp's own error line about the failed load is not shown: the INFO line replaces it.
        assertThat(r.out()).doesNotContain("failed to load");

        Run forced = run(home, List.of(TestModels.nativesJar(), jar), List.of("-Dllamaffm.backend=cuda"));
        assertThat(forced.exit()).isNotZero();
        assertThat(forced.out()).contains("NativeLibraryException", "-Dllamaffm.backend=cuda: the CUDA backend (natives jar "
                + classifier + ") cannot be used: NVIDIA driver not found (libcuda.so.1");
    }

    private static void cc(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("cc"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("cc " + String.join(" ", args) + "\n" + out).isZero();
    }

    private static Path cudaDir() {
        return TestModels.projectRoot().resolve("native/build").resolve(NativeLoader.platform() + "-cuda");
    }

    private static boolean nvidiaDriverPresent() {
        String name = NativeLoader.platform().startsWith("windows") ? "nvcuda.dll" : "libcuda.so.1";
        try (Arena a = Arena.ofConfined()) {
            SymbolLookup.libraryLookup(name, a);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
