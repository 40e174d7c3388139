package io.github.llamaffm.examples.cli;

import java.io.Console;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whether standard error is a terminal (for the load progress bar). */
public final class Terminal {
    private Terminal() {
    }

    public static boolean stderrIsTerminal() {
        if (System.getenv("TERM") != null && "dumb".equals(System.getenv("TERM"))) {
            return false;
        }
        try {
            // Linux: where file descriptor 2 points to.
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            Console console = System.console();
            return console != null && console.isTerminal();
        }
    }
}
