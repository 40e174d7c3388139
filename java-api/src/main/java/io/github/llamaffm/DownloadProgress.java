package io.github.llamaffm;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Download progress on stderr. Live (a terminal): {@code \rDownloading file.gguf  123.4/4096.0 MiB  45.6 MiB/s  3%},
 * redrawn at most every {@value #INTERVAL_MS} ms and ended with a newline when done. Not live (a pipe, a log file, the
 * tests): one line when the download starts and one when it ends, no carriage returns.
 */
final class DownloadProgress {
    static final long INTERVAL_MS = 200;
    private static final double MIB = 1024.0 * 1024.0;

    private final PrintWriter err;
    private final boolean live;
    private final String fileName;
    private final LongSupplier clockNanos;
    private long startNanos;
    private long startBytes;
    private long lastDrawNanos;
    private int lastLength;
    private boolean drawn;
    private boolean started;

    DownloadProgress(PrintWriter err, boolean live, String fileName) {
        this(err, live, fileName, System::nanoTime);
    }

    DownloadProgress(PrintWriter err, boolean live, String fileName, LongSupplier clockNanos) {
        this.err = err;
        this.live = live;
        this.fileName = fileName;
        this.clockNanos = clockNanos;
    }

    /**
     * A transfer begins at {@code offset} bytes (non-zero when resuming) of {@code total} bytes (-1 when unknown);
     * {@code from} is what the non-live line names (the URL).
     */
    void start(String from, long offset, long total) {
        startNanos = clockNanos.getAsLong();
        startBytes = offset;
        lastDrawNanos = Long.MIN_VALUE;
        started = true;
        if (!live) {
            err.println("Downloading " + from + (offset > 0 ? " (resuming at " + mib(offset) + " MiB)" : "")
                    + (total >= 0 ? " (" + mib(total) + " MiB)" : "") + " ...");
            err.flush();
        } else {
            update(offset, total);
        }
    }

    /** {@code done} of {@code total} (-1 = unknown) bytes are on disk; redraws when the last draw is old enough. */
    void update(long done, long total) {
        if (!live || !started) {
            return;
        }
        long now = clockNanos.getAsLong();
        if (lastDrawNanos != Long.MIN_VALUE && now - lastDrawNanos < INTERVAL_MS * 1_000_000L) {
            return;
        }
        lastDrawNanos = now;
        draw(line(done, total, now));
    }

    /** The download ended well: the final state, then a newline (live), or a summary line (not live). */
    void finish(long done, long total) {
        if (!started) {
            return;
        }
        long now = clockNanos.getAsLong();
        if (live) {
            draw(line(done, total, now));
            err.println();
        } else {
            double seconds = Math.max(1e-9, (now - startNanos) / 1e9);
            err.println(String.format(Locale.ROOT, "Downloaded %s  %.1f MiB in %.1f s", fileName, done / MIB,
                    seconds));
        }
        err.flush();
        started = false;
        drawn = false;
    }

    /** The download failed: ends the live line (keeping what it showed) so that the error starts on a new line. */
    void abort() {
        if (live && drawn) {
            err.println();
            err.flush();
        }
        started = false;
        drawn = false;
    }

    /** {@code Downloading file.gguf  123.4/4096.0 MiB  45.6 MiB/s  3%}; without the total: no "/total", no percent. */
    String line(long done, long total, long nowNanos) {
        double seconds = (nowNanos - startNanos) / 1e9;
        double speed = seconds > 0 ? (done - startBytes) / MIB / seconds : 0;
        StringBuilder sb = new StringBuilder("Downloading ").append(fileName).append("  ");
        if (total > 0) {
            sb.append(String.format(Locale.ROOT, "%.1f/%.1f MiB  %.1f MiB/s  %d%%", done / MIB, total / MIB, speed,
                    Math.min(100, done * 100 / total)));
        } else {
            sb.append(String.format(Locale.ROOT, "%.1f MiB  %.1f MiB/s", done / MIB, speed));
        }
        return sb.toString();
    }

    private void draw(String line) {
        // Pad with spaces over a longer previous line (the speed can get shorter).
        String pad = line.length() < lastLength ? " ".repeat(lastLength - line.length()) : "";
        err.print("\r" + line + pad);
        err.flush();
        lastLength = line.length();
        drawn = true;
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f", bytes / MIB);
    }
}
