package io.github.llamaffm;

/**
 * {@code llama_decode} (or {@code llama_encode}) failed. {@link #status()} is llama.cpp's return code:
 * 1 = no KV slot for the batch (context full), 2 = aborted, -1 = invalid batch, below -1 = fatal error.
 */
public final class DecodeException extends LlamaException {
    private final int status;

    public DecodeException(int status, String message) {
        super(message + " (llama_decode status " + status + ")");
        this.status = status;
    }

    /** llama.cpp's status code. */
    public int status() {
        return status;
    }
}
