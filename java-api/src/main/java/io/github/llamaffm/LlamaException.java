package io.github.llamaffm;

/**
 * Root of llama-ffm's unchecked exceptions: every failure that comes from llama.cpp or from loading it.
 * Contract violations by the caller (null, out-of-range values, use after close) are reported with the JDK's
 * {@link IllegalArgumentException}, {@link NullPointerException} and {@link IllegalStateException} instead.
 */
public class LlamaException extends RuntimeException {
    public LlamaException(String message) {
        super(message);
    }

    public LlamaException(String message, Throwable cause) {
        super(message, cause);
    }
}
