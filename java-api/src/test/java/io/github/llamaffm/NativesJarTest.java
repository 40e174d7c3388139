package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.internal.NativeLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The natives jar built by build-native.sh is found on the class path and extracted once into a versioned cache
 * directory, safely when several JVMs start at the same time; without any natives the error lists every place
 * searched.
 */
@Tag("tiny-model")
@Tag("slow")
class NativesJarTest {

    private static Process launch(Path home, Path workDir, boolean withJar) throws Exception {
        return launch(home, workDir, withJar, null);
    }

    private static Process launch(Path home, Path workDir, boolean withJar, Path firstOnClassPath) throws Exception {
        Path jar = TestModels.nativesJar();
        assertThat(jar).as("natives jar from ./build-native.sh").exists();
        String cp = (firstOnClassPath != null ? firstOnClassPath + File.pathSeparator : "")
                + System.getProperty("java.class.path") + (withJar ? File.pathSeparator + jar : "");
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Duser.home=" + home, "-cp", cp, NativesJarProbe.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile()).redirectErrorStream(true);
        pb.environment().remove("LLAMAFFM_LIBRARY_PATH");
        return pb.start();
    }

    private static String output(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return out;
    }

    @Test
    void concurrentJvmsExtractTheNativesJarOnceAndLoadIt(@TempDir Path home, @TempDir Path work) throws Exception {
        List<Process> jvms = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            jvms.add(launch(home, work, true));
        }
        Path cache = home.resolve(".cache/llama-ffm/natives").resolve(NativeLoader.platform());
        for (Process p : jvms) {
            String out = output(p);
            assertThat(p.exitValue()).as(out).isZero();
            String[] lines = out.strip().split("\n");
            assertThat(Path.of(lines[lines.length - 2])).startsWith(cache);
            assertThat(lines[lines.length - 1]).startsWith(TestModels.buildInfo().getProperty("llama.cpp.version"));
        }
        try (var dirs = Files.list(cache)) {
            List<Path> versions = dirs.toList();
            assertThat(versions).as("one extracted version, no leftover temporary directories").hasSize(1);
            assertThat(versions.getFirst().resolve(System.mapLibraryName("llama"))).exists();
        }
    }

    @Test
    void aLibraryOfAnotherVersionThanTheBindingsIsAClearError(@TempDir Path home, @TempDir Path work,
                                                              @TempDir Path shadow) throws Exception {
        // Bindings that claim another llama.cpp version, found first on the class path.
        Path props = shadow.resolve("io/github/llamaffm/bindings/bindings.properties");
        Files.createDirectories(props.getParent());
        Files.writeString(props, "llama.cpp.version=9.9.9\n");
        Process p = launch(home, work, true, shadow);
        String out = output(p);
        assertThat(p.exitValue()).isNotZero();
        assertThat(out).contains("NativeLibraryException", "does not match the bindings", "9.9.9",
                TestModels.buildInfo().getProperty("llama.cpp.version"));
    }

    @Test
    void withoutNativesTheErrorListsEverywhereSearched(@TempDir Path home, @TempDir Path work) throws Exception {
        Process p = launch(home, work, false);
        String out = output(p);
        assertThat(p.exitValue()).isNotZero();
        assertThat(out).contains("NativeLibraryException", "llamaffm.library.path", "LLAMAFFM_LIBRARY_PATH",
                "natives.list", "native/build", "./build-native.sh");
    }
}
