package io.github.llamaffm;

import java.util.Objects;

/**
 * Whether the model must call a tool (OpenAI's {@code tool_choice}).
 * <ul>
 *   <li>{@link #AUTO}: the model decides; a tool call is constrained by its grammar once the model starts one
 *       (llama.cpp's lazy grammar);</li>
 *   <li>{@link #NONE}: tools are shown but not called;</li>
 *   <li>{@link #REQUIRED}: the reply is one or more tool calls, constrained from the first token;</li>
 *   <li>{@link #named(String)}: the reply calls that tool.</li>
 * </ul>
 * For a required or named call the reply starts with the call (after the model's reasoning where its format has
 * one): llama.cpp's grammar would also allow free text before it, which a model may never end, so that text is not
 * allowed here and the call is guaranteed within the token limit.
 *
 * @param mode the choice
 * @param name the tool's name for {@link Mode#NAMED}, else {@code null}
 */
public record ToolChoice(Mode mode, String name) {
    /** The kinds of choice. */
    public enum Mode { AUTO, NONE, REQUIRED, NAMED }

    public static final ToolChoice AUTO = new ToolChoice(Mode.AUTO, null);
    public static final ToolChoice NONE = new ToolChoice(Mode.NONE, null);
    public static final ToolChoice REQUIRED = new ToolChoice(Mode.REQUIRED, null);

    public ToolChoice {
        Objects.requireNonNull(mode, "mode");
        if ((mode == Mode.NAMED) != (name != null)) {
            throw new IllegalArgumentException("a tool name goes with Mode.NAMED only");
        }
    }

    /** The model must call the tool {@code name}. */
    public static ToolChoice named(String name) {
        Objects.requireNonNull(name, "name");
        return new ToolChoice(Mode.NAMED, name);
    }
}
