package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeRuntime;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tier 1: every public enum that stands for a native enum takes its values from the generated constants; checked
 * against the C enums of the pinned headers themselves, so a llama.cpp bump that adds, removes or renumbers a member
 * fails here.
 */
@Tag("no-model")
class NativeConstantsTest {

    @Test
    void flashAttentionIsLlamaFlashAttnType() throws IOException {
        Map<String, Integer> header = cEnum("include/llama.h", "llama_flash_attn_type", "LLAMA_FLASH_ATTN_TYPE_");
        assertMatches(header, FlashAttention.values(), FlashAttention::nativeValue, Enum::name);
        NativeRuntime.ensureInitialized();
        for (FlashAttention f : FlashAttention.values()) {
            assertThat(NativeRuntime.cString(Llama.llama_flash_attn_type_name(f.nativeValue())))
                    .isEqualTo(f.name().toLowerCase(Locale.ROOT));
        }
    }

    @Test
    void poolingIsLlamaPoolingType() throws IOException {
        Map<String, Integer> header = new LinkedHashMap<>(cEnum("include/llama.h", "llama_pooling_type",
                "LLAMA_POOLING_TYPE_"));
        // UNSPECIFIED is ContextOptions' unset pooling, not a member
        assertThat(header.remove("UNSPECIFIED")).isEqualTo(-1);
        assertMatches(header, Pooling.values(), Pooling::nativeValue, Enum::name);
        for (Pooling p : Pooling.values()) {
            assertThat(Pooling.of(p.nativeValue())).isSameAs(p);
        }
    }

    @Test
    void splitModeIsLlamaSplitMode() throws IOException {
        Map<String, Integer> header = cEnum("include/llama.h", "llama_split_mode", "LLAMA_SPLIT_MODE_");
        assertMatches(header, SplitMode.values(), SplitMode::nativeValue, Enum::name);
    }

    @Test
    void backendDeviceTypeIsGgmlBackendDevType() throws IOException {
        Map<String, Integer> header = cEnum("ggml/include/ggml-backend.h", "ggml_backend_dev_type",
                "GGML_BACKEND_DEVICE_TYPE_");
        Map<BackendDevice.Type, String> names = Map.of(BackendDevice.Type.CPU, "CPU", BackendDevice.Type.GPU, "GPU",
                BackendDevice.Type.INTEGRATED_GPU, "IGPU", BackendDevice.Type.ACCELERATOR, "ACCEL",
                BackendDevice.Type.META, "META");
        BackendDevice.Type[] known = Arrays.stream(BackendDevice.Type.values())
                .filter(t -> t != BackendDevice.Type.UNKNOWN).toArray(BackendDevice.Type[]::new);
        assertMatches(header, known, BackendDevice.Type::nativeValue, names::get);
        for (BackendDevice.Type t : known) {
            assertThat(BackendDevice.Type.of(t.nativeValue())).isSameAs(t);
        }
        assertThat(BackendDevice.Type.of(12345)).isSameAs(BackendDevice.Type.UNKNOWN);
    }

    @Test
    void kvCacheTypesAreGgmlTypesOfTheSameName() throws IOException {
        Map<String, Integer> header = cEnum("ggml/include/ggml.h", "ggml_type", "GGML_TYPE_");
        NativeRuntime.ensureInitialized();
        for (KvCacheType t : KvCacheType.values()) {
            assertThat(header).as("GGML_TYPE_" + t.name()).containsEntry(t.name(), t.ggmlType());
            assertThat(NativeRuntime.cString(Llama.ggml_type_name(t.ggmlType())))
                    .isEqualTo(t.name().toLowerCase(Locale.ROOT));
            // Block sizes used to bound a context's KV cache before creating it: ggml's own.
            assertThat(t.blockBytes()).as("ggml_type_size(" + t + ")").isEqualTo(ggmlSize("ggml_type_size", t.ggmlType()));
            assertThat(t.blockElements()).as("ggml_blck_size(" + t + ")")
                    .isEqualTo(ggmlSize("ggml_blck_size", t.ggmlType()));
        }
    }

    /** {@code size_t ggml_type_size(enum ggml_type)} / {@code int64_t ggml_blck_size(...)}, bound here by hand. */
    private static long ggmlSize(String function, int type) {
        var linker = java.lang.foreign.Linker.nativeLinker();
        var f = java.lang.foreign.SymbolLookup.loaderLookup().find(function).orElseThrow();
        try {
            return (long) linker.downcallHandle(f, java.lang.foreign.FunctionDescriptor.of(
                    java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_INT)).invokeExact(type);
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void logLevelsMapFromGgmlLogLevel() throws IOException {
        Map<String, Integer> header = cEnum("ggml/include/ggml.h", "ggml_log_level", "GGML_LOG_LEVEL_");
        assertThat(header).containsOnlyKeys("NONE", "DEBUG", "INFO", "WARN", "ERROR", "CONT");
        assertThat(NativeRuntime.javaLevel(header.get("DEBUG"))).isEqualTo(System.Logger.Level.TRACE);
        assertThat(NativeRuntime.javaLevel(header.get("INFO"))).isEqualTo(System.Logger.Level.DEBUG);
        assertThat(NativeRuntime.javaLevel(header.get("WARN"))).isEqualTo(System.Logger.Level.WARNING);
        assertThat(NativeRuntime.javaLevel(header.get("ERROR"))).isEqualTo(System.Logger.Level.ERROR);
    }

    /** Each Java constant has the header's value for its name, and each header member has a Java constant. */
    private static <E> void assertMatches(Map<String, Integer> header, E[] values, ToIntFunction<E> nativeValue,
                                          java.util.function.Function<E, String> cName) {
        Map<String, Integer> java = new LinkedHashMap<>();
        for (E e : values) {
            java.put(cName.apply(e), nativeValue.applyAsInt(e));
        }
        assertThat(java).isEqualTo(header);
    }

    /** Members of {@code enum name { ... }} in a pinned header, by name without {@code prefix}, with C's numbering. */
    static Map<String, Integer> cEnum(String file, String name, String prefix) throws IOException {
        String text = Files.readString(TestModels.llamaSource().resolve(Path.of(file)));
        Matcher m = Pattern.compile("enum\\s+" + name + "\\s*\\{(.*?)}", Pattern.DOTALL).matcher(text);
        assertThat(m.find()).as("enum " + name + " in " + file).isTrue();
        String body = m.group(1).replaceAll("//[^\\n]*", "").replaceAll("/\\*.*?\\*/", "");
        Map<String, Integer> members = new LinkedHashMap<>();
        int next = 0;
        for (String entry : body.split(",")) {
            String e = entry.strip();
            if (e.isEmpty()) {
                continue;
            }
            String[] parts = e.split("=");
            String member = parts[0].strip();
            int value = parts.length > 1 ? Integer.decode(parts[1].strip()) : next;
            next = value + 1;
            if (member.startsWith(prefix)) {
                members.put(member.substring(prefix.length()), value);
            }
        }
        return members;
    }
}
