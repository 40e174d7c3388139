package io.github.llamaffm.gguf;

import java.nio.file.Path;

/**
 * A file is not valid GGUF, or lacks what the caller asked of it (a key, a value of the expected type);
 * the message says what was wrong and {@link #path()} names the file.
 */
public final class GgufFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path path;

    /** Creates an exception whose message is {@code message}, followed by the path. */
    public GgufFormatException(Path path, String message) {
        super(message + ": " + path);
        this.path = path;
    }

    /** Creates an exception whose message is {@code message}, followed by the path, with a cause. */
    public GgufFormatException(Path path, String message, Throwable cause) {
        super(message + ": " + path, cause);
        this.path = path;
    }

    /** The offending file. */
    public Path path() {
        return path;
    }
}
