package io.github.llamaffm.bindings;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The C ABI is the outside truth for the generated layouts: a C program compiled at test time against the pinned
 * headers prints sizeof/_Alignof of every struct the bindings expose and offsetof/sizeof of every member; each
 * must equal what jextract generated.
 */
@Tag("no-model")
class AbiLayoutTest {
    /** struct name -> its layout, for every generated struct class. */
    private static final Map<String, GroupLayout> STRUCTS = new LinkedHashMap<>();
    private static Map<String, Long> cValues;

    @BeforeAll
    static void compileAndRunCProgram() throws Exception {
        Path classes = Path.of(Llama.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path pkg = classes.resolve("io/github/llamaffm/bindings");
        try (Stream<Path> files = Files.list(pkg)) {
            for (Path f : files.sorted().toList()) {
                String file = f.getFileName().toString();
                if (!file.endsWith(".class") || file.contains("$")) {
                    continue;
                }
                Class<?> c = Class.forName("io.github.llamaffm.bindings." + file.substring(0, file.length() - 6));
                Method layout;
                try {
                    layout = c.getMethod("layout");
                } catch (NoSuchMethodException e) {
                    continue;
                }
                if (Modifier.isStatic(layout.getModifiers()) && layout.invoke(null) instanceof GroupLayout g) {
                    STRUCTS.put(g.name().orElse(c.getSimpleName()), g);
                }
            }
        }
        assertThat(STRUCTS).as("generated struct classes").containsKeys(
                "llama_model_params", "llama_context_params", "llama_batch", "llama_token_data_array",
                "llama_sampler_i", "llama_chat_message", "llama_model_kv_override", "gguf_init_params");

        StringBuilder c = new StringBuilder("""
                #include "llama.h"
                #include "gguf.h"
                #include <stddef.h>
                #include <stdio.h>
                int main(void) {
                """);
        for (var e : STRUCTS.entrySet()) {
            String s = "struct " + e.getKey();
            c.append("  printf(\"%s %zu\\n\", \"").append(e.getKey()).append(".sizeof\", sizeof(").append(s).append("));\n");
            c.append("  printf(\"%s %zu\\n\", \"").append(e.getKey()).append(".alignof\", _Alignof(").append(s).append("));\n");
            for (String m : memberNames(e.getValue())) {
                c.append("  printf(\"%s %zu\\n\", \"").append(e.getKey()).append('.').append(m)
                        .append(".offsetof\", offsetof(").append(s).append(", ").append(m).append("));\n");
                c.append("  printf(\"%s %zu\\n\", \"").append(e.getKey()).append('.').append(m)
                        .append(".sizeof\", sizeof(((").append(s).append(" *) 0)->").append(m).append("));\n");
            }
        }
        c.append("  return 0;\n}\n");

        Path src = sourceDir();
        Path work = Files.createTempDirectory("llamaffm-abi");
        Files.writeString(work.resolve("abi.c"), c);
        run(work, "cc", "-std=c11", "-I", src.resolve("include").toString(), "-I", src.resolve("ggml/include").toString(),
                "-o", work.resolve("abi").toString(), work.resolve("abi.c").toString());
        String out = run(work, work.resolve("abi").toString());
        cValues = new LinkedHashMap<>();
        out.lines().forEach(l -> {
            String[] kv = l.split(" ");
            cValues.put(kv[0], Long.parseLong(kv[1]));
        });
    }

    /** Named members, descending into anonymous unions/structs (C reaches their members directly). */
    private static List<String> memberNames(GroupLayout g) {
        List<String> names = new ArrayList<>();
        for (MemoryLayout m : g.memberLayouts()) {
            if (m instanceof PaddingLayout || m.name().isEmpty()) {
                continue;
            }
            if (m.name().get().startsWith("$anon$") && m instanceof GroupLayout inner) {
                names.addAll(memberNames(inner));
            } else {
                names.add(m.name().get());
            }
        }
        return names;
    }

    /** Offset and layout of a (possibly anonymous-nested) member, as jextract laid it out. */
    private static long[] javaOffsetAndSize(GroupLayout g, String member) {
        for (MemoryLayout m : g.memberLayouts()) {
            if (m.name().isEmpty() || m instanceof PaddingLayout) {
                continue;
            }
            long offset = g.byteOffset(MemoryLayout.PathElement.groupElement(m.name().get()));
            if (m.name().get().equals(member)) {
                return new long[] {offset, m.byteSize()};
            }
            if (m.name().get().startsWith("$anon$") && m instanceof GroupLayout inner) {
                long[] r = javaOffsetAndSize(inner, member);
                if (r != null) {
                    return new long[] {offset + r[0], r[1]};
                }
            }
        }
        return null;
    }

    @Test
    void everyStructSizeAndAlignmentMatchesTheCCompiler() {
        for (var e : STRUCTS.entrySet()) {
            assertThat(e.getValue().byteSize()).as("sizeof(struct %s)", e.getKey())
                    .isEqualTo(cValues.get(e.getKey() + ".sizeof"));
            assertThat(e.getValue().byteAlignment()).as("_Alignof(struct %s)", e.getKey())
                    .isEqualTo(cValues.get(e.getKey() + ".alignof"));
        }
    }

    @Test
    void everyMemberOffsetAndSizeMatchesTheCCompiler() {
        int checked = 0;
        for (var e : STRUCTS.entrySet()) {
            for (String m : memberNames(e.getValue())) {
                long[] java = javaOffsetAndSize(e.getValue(), m);
                String key = e.getKey() + "." + m;
                assertThat(java).as(key).isNotNull();
                assertThat(java[0]).as("offsetof(%s)", key).isEqualTo(cValues.get(key + ".offsetof"));
                assertThat(java[1]).as("sizeof(%s)", key).isEqualTo(cValues.get(key + ".sizeof"));
                checked++;
            }
        }
        assertThat(checked).as("members checked").isGreaterThan(100);
    }

    /** The pinned llama.cpp source recorded by build-native.sh. */
    static Path sourceDir() throws IOException {
        String root = System.getProperty("llamaffm.project.root", System.getProperty("user.dir") + "/..");
        String os = System.getProperty("os.name").toLowerCase().contains("mac") ? "macos" : "linux";
        String arch = System.getProperty("os.arch").matches("amd64|x86_64") ? "x86_64" : "aarch64";
        Path info = Path.of(root, "native", "build", os + "-" + arch, "build-info.properties");
        assertThat(info).as("natives built by ./build-native.sh").exists();
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(info)) {
            p.load(in);
        }
        return Path.of(p.getProperty("llama.cpp.source"));
    }

    private static String run(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("%s failed:%n%s", String.join(" ", cmd), out).isZero();
        return out;
    }
}
