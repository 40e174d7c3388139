package io.github.llamaffm.examples.cli;

import java.util.Locale;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * llama.cpp's log lines reach Java through the {@code System.Logger} named {@code io.github.llamaffm.native}
 * (backed by java.util.logging). This routes them to stderr in one short line each: warnings and errors only, or
 * everything with {@code --verbose}.
 */
public final class NativeLog {
    /** java.util.logging keeps loggers weakly: hold on to the one configured here. */
    private static final Logger LOGGER = Logger.getLogger("io.github.llamaffm.native");
    private static Handler handler;
    private static volatile boolean verbose;
    private static volatile boolean muted;

    private NativeLog() {
    }

    public static synchronized void configure(boolean verbose) {
        NativeLog.verbose = verbose;
        Level level = verbose ? Level.ALL : Level.WARNING;
        if (handler == null) {
            // Not a ConsoleHandler: StreamHandler.setOutputStream would close System.err.
            handler = new Handler() {
                @Override
                public void publish(LogRecord r) {
                    if (!isLoggable(r) || (muted && !verbose)) {
                        return;
                    }
                    String msg = r.getMessage() == null ? "" : r.getMessage().stripTrailing();
                    System.err.println("llama.cpp " + r.getLevel().getName().toLowerCase(Locale.ROOT) + ": " + msg);
                }

                @Override
                public void flush() {
                    System.err.flush();
                }

                @Override
                public void close() {
                    flush();
                }
            };
            LOGGER.setUseParentHandlers(false);
            LOGGER.addHandler(handler);
        }
        handler.setLevel(level);
        LOGGER.setLevel(level);
    }

    /**
     * Hides llama.cpp's log (unless verbose) until {@link #unmute()}: a cancelled decode makes it log errors
     * ("failed to compute graph", "failed to decode, ret = 2") that are expected then.
     */
    static void mute() {
        muted = true;
    }

    static void unmute() {
        muted = false;
    }
}
