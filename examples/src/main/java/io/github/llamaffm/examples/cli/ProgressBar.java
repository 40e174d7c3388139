package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ModelOptions;

import java.io.PrintWriter;

/** {@code \rLoading model [#####     ] 50%} on stderr while llama.cpp loads the weights; erased when done. */
final class ProgressBar implements ModelOptions.LoadProgressListener {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private int lastPercent = -1;
    private int lastLength;

    ProgressBar(PrintWriter err) {
        this.err = err;
    }

    @Override
    public boolean onProgress(float progress) {
        int percent = Math.max(0, Math.min(100, (int) (progress * 100)));
        if (percent != lastPercent) {
            lastPercent = percent;
            int filled = percent * WIDTH / 100;
            String line = "Loading model [" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] " + percent + "%";
            lastLength = line.length();
            err.print("\r" + line);
            err.flush();
        }
        return true;
    }

    /** Erases the bar (if one was drawn). */
    void clear() {
        if (lastPercent >= 0) {
            err.print("\r" + " ".repeat(lastLength) + "\r");
            err.flush();
        }
    }
}
