package io.github.llamaffm.examples.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The inputs of {@code embed} and {@code rerank}: arguments, then the lines of {@code --file} (- for standard input). */
final class InputLines {
    private InputLines() {
    }

    /**
     * {@code args} ("-" reads all of standard input as one input), then each non-blank line of {@code file} (trailing
     * CR removed; "-" reads standard input).
     */
    static List<String> read(List<String> args, Path file, InputStream stdin) throws IOException {
        List<String> inputs = new ArrayList<>();
        if (args != null) {
            for (String a : args) {
                inputs.add("-".equals(a) ? new String(stdin.readAllBytes(), StandardCharsets.UTF_8) : a);
            }
        }
        if (file != null) {
            try (BufferedReader r = file.toString().equals("-")
                    ? new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8))
                    : Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (!line.isBlank()) {
                        inputs.add(line);
                    }
                }
            }
        }
        return inputs;
    }
}
