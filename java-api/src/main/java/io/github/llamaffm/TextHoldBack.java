package io.github.llamaffm;

import java.util.List;

/**
 * Turns the pieces of sampled tokens into text that is safe to release: bytes of an unfinished UTF-8 character and
 * a tail that may be the start of a stop string are held back until a later piece decides them. When a stop string
 * is complete, the text before it is released, the rest is dropped and {@link #stopped()} becomes true.
 *
 * <p>Used by {@link SequenceEngine}, so {@link Generation} and {@link SequenceScheduler} release text the same way. Not
 * thread-safe.
 */
final class TextHoldBack {
    private final List<String> stops;
    private final int maxStopLength;
    private final Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
    /** Text decoded but not yet released because it may be the start of a stop string. */
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    TextHoldBack(List<String> stops) {
        this.stops = List.copyOf(stops);
        this.maxStopLength = this.stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /**
     * Adds a token's piece and returns the text that can be released now (possibly empty). If a stop string is
     * complete, returns the text before it and {@link #stopped()} becomes true.
     */
    String append(byte[] piece) {
        String decoded = utf8.decode(piece);
        if (stops.isEmpty()) {
            return decoded; // nothing is ever held back for stop strings: no extra copy on the per-token path
        }
        held.append(decoded);
        return releasable();
    }

    /** Whether a stop string was produced. */
    boolean stopped() {
        return stopped;
    }

    /** Ends the text: returns everything still held (an incomplete character as U+FFFD) and empties the buffer. */
    String drain() {
        held.append(utf8.flush());
        String rest = held.toString();
        held.setLength(0);
        return rest;
    }

    /**
     * Takes from {@link #held} the text that can no longer be part of a stop string. If a stop string is complete,
     * returns the text before it and marks the text stopped.
     */
    private String releasable() {
        int firstStop = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (firstStop < 0 || i < firstStop)) {
                firstStop = i;
            }
        }
        if (firstStop >= 0) {
            String t = held.substring(0, firstStop);
            held.setLength(0);
            stopped = true;
            return t;
        }
        // Keep the longest tail that is a prefix of some stop string.
        int keep = 0;
        for (int len = Math.min(maxStopLength - 1, held.length()); len > 0; len--) {
            if (isStopPrefix(held.length() - len, len)) {
                keep = len;
                break;
            }
        }
        String t = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return t;
    }

    private boolean isStopPrefix(int from, int len) {
        for (String s : stops) {
            if (s.length() > len && startsWithRegion(s, from, len)) {
                return true;
            }
        }
        return false;
    }

    private boolean startsWithRegion(String stop, int from, int len) {
        for (int i = 0; i < len; i++) {
            if (stop.charAt(i) != held.charAt(from + i)) {
                return false;
            }
        }
        return true;
    }
}
