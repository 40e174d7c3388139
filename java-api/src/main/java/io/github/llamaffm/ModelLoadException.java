package io.github.llamaffm;

import java.nio.file.Path;

/** A model file could not be loaded; {@link #path()} names it. */
public final class ModelLoadException extends LlamaException {
    private final transient Path path;

    public ModelLoadException(Path path, String message) {
        super(message + ": " + path);
        this.path = path;
    }

    /** The model file that failed to load. */
    public Path path() {
        return path;
    }
}
