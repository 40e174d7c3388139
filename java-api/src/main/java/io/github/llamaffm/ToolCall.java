package io.github.llamaffm;

import java.util.Objects;

/**
 * A call of a {@link Tool} in a model's reply, parsed by llama.cpp's chat parser for the model's format.
 *
 * @param id        the call's id (the model's own when its format has one, else generated); a tool result names it
 * @param name      the tool's name
 * @param arguments the arguments as JSON text
 */
public record ToolCall(String id, String name, String arguments) {
    public ToolCall {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(arguments, "arguments");
    }

    /** The arguments decoded into {@code type} (see {@link JsonSchema#decode(String, Class)}). */
    public <T> T arguments(Class<T> type) {
        return JsonSchema.decode(arguments, type);
    }
}
