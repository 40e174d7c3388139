package io.github.llamaffm.examples.cli;

/** A failure with a message meant for the user as is (exit code 1, no "run with --verbose" hint). */
public final class CliException extends RuntimeException {
    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
