package io.github.llamaffm.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import io.github.llamaffm.bindings.Llama;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Objects;

/**
 * Java side of the chat glue (native/glue/llamaffm_chat.h): llama.cpp's {@code common} chat templates (Jinja), tool
 * call grammars and parsers, and JSON Schema to GBNF. Every call passes JSON text in and gets JSON text back; an
 * {@code {"error": ...}} answer becomes an {@link IllegalArgumentException} naming what the glue reported.
 */
public final class ChatGlue {
    private ChatGlue() {}

    /** Shared, thread-safe JSON mapper of the facade. */
    public static final ObjectMapper JSON = new ObjectMapper().registerModule(new Jdk8Module());

    /** Converts a JSON Schema (text) to a GBNF grammar with common's {@code json_schema_to_grammar}. */
    public static String jsonSchemaToGrammar(String schemaJson) {
        Objects.requireNonNull(schemaJson, "schema");
        NativeRuntime.ensureInitialized();
        NativeLoader.requireChatGlue();
        try (Arena arena = Arena.ofConfined()) {
            return call(Llama.llamaffm_json_schema_to_grammar(arena.allocateFrom(schemaJson))).get("grammar").asText();
        }
    }

    /** Parses model output into a message ({@code common_chat_parse}); see {@code llamaffm_chat_parse}. */
    public static ObjectNode parse(ObjectNode params) {
        Objects.requireNonNull(params, "params");
        NativeRuntime.ensureInitialized();
        NativeLoader.requireChatGlue();
        try (Arena arena = Arena.ofConfined()) {
            return call(Llama.llamaffm_chat_parse(arena.allocateFrom(write(params))));
        }
    }

    /** Bytes a context holds, summed over every buffer type (host and devices). */
    public record ContextMemory(long model, long context, long compute) {}

    private static volatile MethodHandle contextMemory;

    /**
     * What llama.cpp's {@code llama_get_memory_breakdown} reports for {@code ctx} (through the glue's
     * {@code llamaffm_context_memory}, bound by hand: it is not in the jextract header), or null where the chat glue
     * is not built (Windows for now).
     */
    public static ContextMemory contextMemory(MemorySegment ctx) {
        MethodHandle h = contextMemory;
        if (h == null) {
            java.util.Optional<MemorySegment> f = SymbolLookup.loaderLookup().find("llamaffm_context_memory");
            if (f.isEmpty()) {
                return null;
            }
            h = Linker.nativeLinker().downcallHandle(f.get(), FunctionDescriptor.of(ValueLayout.JAVA_BOOLEAN,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            contextMemory = h;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 3);
            boolean ok = (boolean) h.invokeExact(ctx, out, out.asSlice(8), out.asSlice(16));
            if (!ok) {
                throw new IllegalStateException("llama.cpp could not report the memory of this context");
            }
            return new ContextMemory(out.getAtIndex(ValueLayout.JAVA_LONG, 0), out.getAtIndex(ValueLayout.JAVA_LONG, 1),
                    out.getAtIndex(ValueLayout.JAVA_LONG, 2));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static String write(JsonNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** Reads and frees a string returned by the glue; throws if it is an error. */
    static ObjectNode call(MemorySegment answer) {
        if (answer.equals(MemorySegment.NULL)) {
            throw new OutOfMemoryError("llama-ffm chat glue could not allocate its answer");
        }
        String text;
        try {
            text = answer.reinterpret(Long.MAX_VALUE).getString(0);
        } finally {
            Llama.llamaffm_chat_string_free(answer);
        }
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("chat glue returned invalid JSON: " + e.getMessage(), e);
        }
        if (!(node instanceof ObjectNode o)) {
            throw new IllegalStateException("chat glue returned a non-object: " + text);
        }
        JsonNode error = o.get("error");
        if (error != null) {
            throw new IllegalArgumentException(error.asText());
        }
        return o;
    }

    /**
     * Chat templates ({@code common_chat_templates}): a model's own, or a Jinja source. Immutable and thread-safe;
     * {@link #close()} is idempotent, the {@link NativeHandle}'s cleaner frees an unreachable one, and use after close
     * throws {@link IllegalStateException}.
     */
    public static final class Templates implements AutoCloseable {
        private final NativeHandle handle;
        private final MemorySegment ptr;
        private final String source;
        private final JsonNode caps;

        private Templates(MemorySegment ptr, ObjectNode info) {
            this.ptr = ptr;
            this.handle = new NativeHandle(this, "chat templates", new Freer(ptr));
            this.source = info.get("source").asText();
            this.caps = info.get("caps");
        }

        /** Holds only the pointer, so the Cleaner does not keep the owner reachable. */
        private record Freer(MemorySegment ptr) implements Runnable {
            @Override
            public void run() {
                Llama.llamaffm_chat_templates_free(ptr);
            }
        }

        /**
         * The templates of a model ({@code llama_model*}), or of {@code source} if non-null.
         *
         * @param model  a loaded model, or {@code NULL} when {@code source} is given
         * @param source Jinja source, or {@code null} for the model's own template (ChatML if it has none)
         * @param bos    bos_token the template sees when there is no model (ignored with a model)
         * @param eos    eos_token the template sees when there is no model (ignored with a model)
         * @throws IllegalArgumentException if the template does not parse
         */
        public static Templates create(MemorySegment model, String source, String bos, String eos) {
            NativeRuntime.ensureInitialized();
        NativeLoader.requireChatGlue();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                MemorySegment m = model == null ? MemorySegment.NULL : model;
                ObjectNode info = call(Llama.llamaffm_chat_templates_init(m,
                        source == null ? MemorySegment.NULL : arena.allocateFrom(source),
                        bos == null ? MemorySegment.NULL : arena.allocateFrom(bos),
                        eos == null ? MemorySegment.NULL : arena.allocateFrom(eos), out));
                MemorySegment ptr = out.get(ValueLayout.ADDRESS, 0);
                if (ptr.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException("llamaffm_chat_templates_init returned no templates");
                }
                return new Templates(ptr, info);
            }
        }

        /** The default template's source. */
        public String source() {
            return source;
        }

        /** What the template supports, as common reports it (supports_tools, supports_system_role, ...). */
        public boolean cap(String name) {
            JsonNode v = caps == null ? null : caps.get(name);
            return v != null && v.asBoolean();
        }

        /** Renders a conversation; see {@code llamaffm_chat_apply} for the fields of inputs and of the answer. */
        public ObjectNode apply(ObjectNode inputs) {
            Objects.requireNonNull(inputs, "inputs");
            handle.retain();
            try (Arena arena = Arena.ofConfined()) {
                return call(Llama.llamaffm_chat_apply(ptr, arena.allocateFrom(write(inputs))));
            } finally {
                handle.release();
            }
        }

        public boolean isClosed() {
            return handle.isClosed();
        }

        @Override
        public void close() {
            handle.close();
        }
    }
}
