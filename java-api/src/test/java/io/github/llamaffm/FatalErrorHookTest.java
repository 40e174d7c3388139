package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The rare llama.cpp abort that no check catches is at least diagnosable: ggml's fatal-error path (the one
 * GGML_ASSERT takes) is hooked, and before the process ends the message and the model file being loaded reach
 * stderr and the log bridge. A child JVM calls ggml's own {@code ggml_abort} from inside a model load.
 */
@Tag("tiny-model")
@Tag("slow")
class FatalErrorHookTest {

    /**
     * Child JVM: loads {@code args[0]} and, from the load's progress callback, calls ggml_abort, or with
     * {@code args[1] = "terminate"} the C++ runtime's std::terminate (the path of an uncaught C++ exception).
     */
    public static final class Probe {
        public static void main(String[] args) {
            boolean terminate = args.length > 1 && args[1].equals("terminate");
            LlamaModel.load(Path.of(args[0]), ModelOptions.builder().progressListener(progress -> {
                if (terminate) {
                    terminate();
                } else {
                    abort();
                }
                return true;
            }).build());
            System.out.println("not reached");
        }

        private static void terminate() {
            // std::terminate() as the Itanium C++ ABI names it (libstdc++, libc++): the Linux and macOS natives.
            MethodHandle terminate = Linker.nativeLinker().downcallHandle(
                    Linker.nativeLinker().defaultLookup().find("_ZSt9terminatev")
                            .or(() -> SymbolLookup.loaderLookup().find("_ZSt9terminatev")).orElseThrow(),
                    FunctionDescriptor.ofVoid());
            try {
                terminate.invokeExact();
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        private static void abort() {
            Linker linker = Linker.nativeLinker();
            MethodHandle ggmlAbort = linker.downcallHandle(SymbolLookup.loaderLookup().find("ggml_abort").orElseThrow(),
                    FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.ADDRESS),
                    Linker.Option.firstVariadicArg(3));
            try (Arena a = Arena.ofConfined()) {
                ggmlAbort.invokeExact(a.allocateFrom("probe.c"), 42, a.allocateFrom("%s"),
                        a.allocateFrom("GGML_ASSERT(probe) failed"));
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }
    }

    private static String runProbe(Path model, String mode) throws Exception {
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dllamaffm.library.path=" + TestModels.nativeDir(),
                "-cp", System.getProperty("java.class.path"), Probe.class.getName(), model.toString(), mode))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isNotZero();
        return out;
    }

    @Test
    void anUncaughtCppExceptionPathIsReportedWithTheFileBeingLoadedBeforeTheProcessEnds() throws Exception {
        Path model = TestModels.tiny();
        String out = runProbe(model, "terminate");
        assertThat(out)
                .contains("llama-ffm: fatal error in llama.cpp, the process will abort: "
                        + "std::terminate called without an active exception")
                .containsPattern("llama.cpp hit a fatal error and aborts the process while loading model \\S*"
                        + java.util.regex.Pattern.quote(model.getFileName().toString())
                        + " \\(thread 'main'\\): std::terminate called without an active exception")
                .doesNotContain("not reached");
    }

    @Test
    void aFatalLlamaCppErrorIsReportedWithTheFileBeingLoadedBeforeTheProcessEnds() throws Exception {
        Path model = TestModels.tiny();
        String out = runProbe(model, "abort");
        assertThat(out)
                .contains("llama-ffm: fatal error in llama.cpp, the process will abort: probe.c:42: GGML_ASSERT(probe) failed")
                .containsPattern("llama.cpp hit a fatal error and aborts the process while loading model \\S*"
                        + java.util.regex.Pattern.quote(model.getFileName().toString())
                        + " \\(thread 'main'\\): probe.c:42: GGML_ASSERT\\(probe\\) failed")
                .doesNotContain("not reached");
    }
}
