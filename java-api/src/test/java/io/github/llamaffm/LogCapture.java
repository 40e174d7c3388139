package io.github.llamaffm;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Records what a {@code java.util.logging} logger (where System.Logger goes in tests) receives, until closed. */
final class LogCapture implements AutoCloseable {
    final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Logger logger;
    private final Level before;
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    private LogCapture(String name, Level level) {
        this.logger = Logger.getLogger(name);
        this.before = logger.getLevel();
        if (level != null) {
            logger.setLevel(level);
        }
        logger.addHandler(handler);
    }

    /** Captures at the logger's configured level. */
    static LogCapture of(String name) {
        return new LogCapture(name, null);
    }

    /** Captures every level. */
    static LogCapture all(String name) {
        return new LogCapture(name, Level.ALL);
    }

    @Override
    public void close() {
        logger.removeHandler(handler);
        logger.setLevel(before);
    }
}
