package io.github.llamaffm;

import io.github.llamaffm.internal.ChatGlue;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A function the model may call: name, description and the JSON Schema of its arguments (an object schema). The
 * chat template shows it to the model; the reply's {@link ToolCall}s name it.
 *
 * {@snippet :
 * record Weather(String city) {}
 * Tool weather = Tool.of("get_weather", "Current weather in a city", Weather.class);
 * }
 *
 * @param name        letters, digits, {@code _} and {@code -}, 1 to 64 characters (OpenAI's rule)
 * @param description what it does, for the model; may be empty
 * @param parameters  JSON Schema (text) of the arguments object
 */
public record Tool(String name, String description, String parameters) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    public Tool {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(parameters, "parameters");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("tool name must be 1-64 letters, digits, '_' or '-', was '" + name + "'");
        }
        try {
            if (!ChatGlue.JSON.readTree(parameters).isObject()) {
                throw new IllegalArgumentException("tool '" + name + "': parameters must be a JSON Schema object");
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("tool '" + name + "': parameters are not JSON: " + e.getOriginalMessage());
        }
    }

    /** A tool whose arguments are {@code argumentsType} (a record; see {@link JsonSchema#of(Class)}). */
    public static Tool of(String name, String description, Class<?> argumentsType) {
        return new Tool(name, description, JsonSchema.of(argumentsType));
    }
}
