package io.github.llamaffm;

/**
 * A model could not be downloaded ({@link ModelDownloader}): the message names the HTTP status and URL, the
 * unreachable host, the checksums that differ, or the file that could not be written, and what to do about it.
 */
public final class ModelDownloadException extends LlamaException {
    public ModelDownloadException(String message) {
        super(message);
    }

    public ModelDownloadException(String message, Throwable cause) {
        super(message, cause);
    }
}
