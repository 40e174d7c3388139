package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The README's quick-start code, taken from README.md as it is, compiles and runs (on a tiny generated model). */
@Tag("tiny-model")
@Tag("slow")
class ReadmeQuickStartTest {
    private static final String MODEL_IN_README = "Path.of(\"mistral-7b-instruct-v0.1.Q4_K_M.gguf\")";

    @Test
    void readmeQuickStartCompilesAndRuns(@TempDir Path dir) throws Exception {
        String readme = Files.readString(TestModels.projectRoot().resolve("README.md"));
        int marker = readme.indexOf("<!-- quickstart");
        assertThat(marker).as("quickstart marker in README.md").isPositive();
        int start = readme.indexOf("```java\n", marker) + "```java\n".length();
        String code = readme.substring(start, readme.indexOf("```", start));
        assertThat(code).contains(MODEL_IN_README);

        String source = """
                import io.github.llamaffm.*;
                import java.nio.file.Path;
                public class QuickStart {
                    public static void run(Path modelPath) {
                %s
                    }
                }
                """.formatted(code.replace(MODEL_IN_README, "modelPath"));
        Path src = dir.resolve("QuickStart.java");
        Files.writeString(src, source);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, diagnostics, diagnostics, "-d", dir.toString(),
                "-cp", System.getProperty("java.class.path"), src.toString());
        assertThat(rc).as(diagnostics.toString(StandardCharsets.UTF_8)).isZero();

        PrintStream originalOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            loader.loadClass("QuickStart").getMethod("run", Path.class).invoke(null, TestModels.tiny());
        } finally {
            System.setOut(originalOut);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).isNotBlank();
    }
}
