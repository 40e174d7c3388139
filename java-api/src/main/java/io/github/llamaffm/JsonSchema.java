package io.github.llamaffm;

import com.fasterxml.jackson.annotation.JsonClassDescription;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.llamaffm.internal.ChatGlue;

import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * JSON Schemas of Java types, and JSON decoded back into them: the typed side of structured output and tools.
 *
 * <p>{@link #of(Class)} describes a record as a JSON object with one property per component ({@code required} unless
 * the component is an {@link Optional}; no other properties), recursively: nested records, {@code List}/{@code Set}/
 * arrays ({@code array}), {@code Map<String, V>} ({@code object} of V), enums ({@code string} with the constants'
 * names), {@code String}/{@code char} ({@code string}), {@code boolean}, integral types and {@code BigInteger}
 * ({@code integer}), {@code float}/{@code double}/{@code BigDecimal} ({@code number}). Jackson's
 * {@link JsonProperty @JsonProperty} renames a property, {@link JsonPropertyDescription @JsonPropertyDescription} and
 * {@link JsonClassDescription @JsonClassDescription} add a {@code description} (models see it in tool definitions).
 * {@link #decode(String, Class)} reads JSON into the type with Jackson, so both directions agree.
 *
 * {@snippet :
 * record City(String name, int population, Optional<String> country) {}
 * String schema = JsonSchema.of(City.class);
 * City c = JsonSchema.decode("{\"name\":\"Paris\",\"population\":2100000}", City.class);
 * }
 */
public final class JsonSchema {
    private JsonSchema() {}

    /**
     * The JSON Schema (text) of {@code type}: a record, or any type listed in the class description.
     *
     * @throws IllegalArgumentException for a type that has no JSON form here (e.g. an interface or a recursive record)
     */
    public static String of(Class<?> type) {
        Objects.requireNonNull(type, "type");
        try {
            return ChatGlue.JSON.writeValueAsString(schema(type, new HashSet<>()));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads {@code json} into {@code type} (Jackson; records, {@code Optional} and the types of {@link #of(Class)}).
     *
     * @throws IllegalArgumentException if the JSON does not fit the type
     */
    public static <T> T decode(String json, Class<T> type) {
        Objects.requireNonNull(json, "json");
        Objects.requireNonNull(type, "type");
        try {
            return ChatGlue.JSON.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot decode JSON as " + type.getName() + ": "
                    + e.getOriginalMessage(), e);
        }
    }

    private static ObjectNode schema(Type type, Set<Class<?>> inProgress) {
        ObjectNode s = ChatGlue.JSON.createObjectNode();
        if (type instanceof ParameterizedType p) {
            Class<?> raw = (Class<?>) p.getRawType();
            Type[] args = p.getActualTypeArguments();
            if (raw == Optional.class) {
                return schema(args[0], inProgress);
            }
            if (Collection.class.isAssignableFrom(raw)) {
                s.put("type", "array");
                s.set("items", schema(args[0], inProgress));
                if (Set.class.isAssignableFrom(raw)) {
                    s.put("uniqueItems", true);
                }
                return s;
            }
            if (Map.class.isAssignableFrom(raw)) {
                if (args[0] != String.class) {
                    throw new IllegalArgumentException("only Map<String, V> has a JSON form, not " + type);
                }
                s.put("type", "object");
                s.set("additionalProperties", schema(args[1], inProgress));
                return s;
            }
            return schema(raw, inProgress);
        }
        if (type instanceof GenericArrayType g) {
            s.put("type", "array");
            s.set("items", schema(g.getGenericComponentType(), inProgress));
            return s;
        }
        if (type instanceof WildcardType w) {
            return schema(w.getUpperBounds()[0], inProgress);
        }
        if (!(type instanceof Class<?> c)) {
            throw new IllegalArgumentException("no JSON form for type " + type);
        }
        if (c == String.class || c == CharSequence.class) {
            return s.put("type", "string");
        }
        if (c == char.class || c == Character.class) {
            return s.put("type", "string").put("minLength", 1).put("maxLength", 1);
        }
        if (c == boolean.class || c == Boolean.class) {
            return s.put("type", "boolean");
        }
        if (c == int.class || c == Integer.class || c == long.class || c == Long.class || c == short.class
                || c == Short.class || c == byte.class || c == Byte.class || c == BigInteger.class) {
            s.put("type", "integer");
            if (c == int.class || c == Integer.class) {
                s.put("minimum", Integer.MIN_VALUE).put("maximum", Integer.MAX_VALUE);
            } else if (c == short.class || c == Short.class) {
                s.put("minimum", Short.MIN_VALUE).put("maximum", Short.MAX_VALUE);
            } else if (c == byte.class || c == Byte.class) {
                s.put("minimum", Byte.MIN_VALUE).put("maximum", Byte.MAX_VALUE);
            }
            return s;
        }
        if (c == float.class || c == Float.class || c == double.class || c == Double.class || c == BigDecimal.class) {
            return s.put("type", "number");
        }
        if (c.isEnum()) {
            s.put("type", "string");
            ArrayNode values = s.putArray("enum");
            for (Object constant : c.getEnumConstants()) {
                String name = ((Enum<?>) constant).name();
                try {
                    Field f = c.getField(name);
                    JsonProperty jp = f.getAnnotation(JsonProperty.class);
                    if (jp != null && !jp.value().isEmpty()) {
                        name = jp.value();
                    }
                } catch (NoSuchFieldException e) {
                    // an enum constant always has its field
                }
                values.add(name);
            }
            return s;
        }
        if (c.isArray()) {
            s.put("type", "array");
            s.set("items", schema(c.getComponentType(), inProgress));
            return s;
        }
        if (c.isRecord()) {
            if (!inProgress.add(c)) {
                throw new IllegalArgumentException("recursive record " + c.getName() + " has no finite JSON Schema");
            }
            s.put("type", "object");
            JsonClassDescription cd = c.getAnnotation(JsonClassDescription.class);
            if (cd != null) {
                s.put("description", cd.value());
            }
            ObjectNode props = s.putObject("properties");
            List<String> required = new ArrayList<>();
            for (RecordComponent rc : c.getRecordComponents()) {
                String name = rc.getName();
                JsonProperty jp = annotation(rc, JsonProperty.class);
                if (jp != null && !jp.value().isEmpty()) {
                    name = jp.value();
                }
                ObjectNode ps = schema(rc.getGenericType(), inProgress);
                JsonPropertyDescription pd = annotation(rc, JsonPropertyDescription.class);
                if (pd != null) {
                    ObjectNode withDescription = ChatGlue.JSON.createObjectNode().put("description", pd.value());
                    withDescription.setAll(ps);
                    ps = withDescription;
                }
                props.set(name, ps);
                if (rc.getType() != Optional.class) {
                    required.add(name);
                }
            }
            ArrayNode req = s.putArray("required");
            required.forEach(req::add);
            s.put("additionalProperties", false);
            inProgress.remove(c);
            return s;
        }
        throw new IllegalArgumentException("no JSON form for " + c.getName()
                + ": use a record, an enum, a collection, a String, a boolean or a number type");
    }

    /** An annotation on a record component, or on its accessor or field (where Jackson's may be placed). */
    private static <A extends java.lang.annotation.Annotation> A annotation(RecordComponent rc, Class<A> type) {
        A a = rc.getAnnotation(type);
        if (a == null) {
            a = rc.getAccessor().getAnnotation(type);
        }
        if (a == null) {
            try {
                a = rc.getDeclaringRecord().getDeclaredField(rc.getName()).getAnnotation(type);
            } catch (NoSuchFieldException e) {
                return null;
            }
        }
        return a;
    }
}
