package io.github.llamaffm;

/** llama.cpp's native libraries could not be found or loaded, or do not match these bindings. */
public final class NativeLibraryException extends LlamaException {
    public NativeLibraryException(String message) {
        super(message);
    }

    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
