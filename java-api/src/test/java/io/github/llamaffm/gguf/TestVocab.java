package io.github.llamaffm.gguf;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates llama.cpp's Llama/Mistral SPM vocabulary GGUF (32000 tokens), which tests only read. */
final class TestVocab {
    static final String PROPERTY = "llamaffm.vocab.spm";
    private static final String DEFAULT_RELATIVE = ".cache/llama-ffm/src-v0.5.0/models/ggml-vocab-llama-spm.gguf";

    private TestVocab() {
    }

    /**
     * The file named by system property {@value #PROPERTY}, else {@code $HOME/}{@value #DEFAULT_RELATIVE}.
     * Fails (rather than skips) the calling test when it is missing, so a broken setup cannot pass silently.
     */
    static Path spm() {
        String prop = System.getProperty(PROPERTY);
        Path path;
        if (prop != null && !prop.isBlank()) {
            path = Path.of(prop);
        } else {
            String home = System.getenv("HOME");
            path = Path.of(home != null && !home.isBlank() ? home : System.getProperty("user.home"), DEFAULT_RELATIVE);
        }
        if (!Files.isRegularFile(path)) {
            fail("SPM vocabulary GGUF not found at " + path + "; set -D" + PROPERTY
                    + "=<llama.cpp>/models/ggml-vocab-llama-spm.gguf");
        }
        return path;
    }
}
