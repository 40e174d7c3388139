package io.github.llamaffm;

/** llama.cpp refused to create a context (for example: not enough memory for the KV cache). */
public final class ContextCreationException extends LlamaException {
    public ContextCreationException(String message) {
        super(message);
    }
}
