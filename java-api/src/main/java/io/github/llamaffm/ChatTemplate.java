package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_chat_message;
import io.github.llamaffm.internal.NativeRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Formats chat messages with llama.cpp's built-in chat templates ({@code llama_chat_apply_template}): the
 * template is either a model's Jinja template source (recognised by llama.cpp's heuristics) or a built-in name such
 * as {@code mistral-v1}, {@code llama2} or {@code chatml} (see {@link #builtinNames()}).
 */
public final class ChatTemplate {
    private ChatTemplate() {}

    /**
     * Renders messages.
     *
     * @param template     template source or built-in name
     * @param addAssistant end with the prefix of an assistant reply (for generating one)
     * @throws IllegalArgumentException if llama.cpp does not support the template
     */
    public static String apply(String template, List<ChatMessage> messages, boolean addAssistant) {
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(messages, "messages");
        NativeRuntime.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chat = arena.allocate(llama_chat_message.layout(), Math.max(1, messages.size()));
            long chars = 0;
            for (int i = 0; i < messages.size(); i++) {
                ChatMessage m = Objects.requireNonNull(messages.get(i), "message");
                MemorySegment e = llama_chat_message.asSlice(chat, i);
                llama_chat_message.role(e, arena.allocateFrom(m.role()));
                llama_chat_message.content(e, arena.allocateFrom(m.content()));
                chars += m.role().length() + m.content().length();
            }
            MemorySegment tmpl = arena.allocateFrom(template);
            int capacity = (int) Math.min(Integer.MAX_VALUE - 8, chars * 4 + 1024);
            MemorySegment buf = arena.allocate(capacity);
            int n = Llama.llama_chat_apply_template(tmpl, chat, messages.size(), addAssistant, buf, capacity);
            if (n < 0) {
                throw new IllegalArgumentException("chat template not supported by llama.cpp: "
                        + (template.length() > 80 ? template.substring(0, 80) + "..." : template));
            }
            if (n > capacity) {
                buf = arena.allocate(n);
                n = Llama.llama_chat_apply_template(tmpl, chat, messages.size(), addAssistant, buf, n);
            }
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    /** Names of llama.cpp's built-in templates. */
    public static List<String> builtinNames() {
        NativeRuntime.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            int n = Llama.llama_chat_builtin_templates(MemorySegment.NULL, 0);
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS, Math.max(1, n));
            n = Llama.llama_chat_builtin_templates(out, n);
            List<String> names = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                names.add(NativeRuntime.cString(out.getAtIndex(ValueLayout.ADDRESS, i)));
            }
            return List.copyOf(names);
        }
    }
}
