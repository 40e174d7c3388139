package io.github.llamaffm;

import java.nio.charset.StandardCharsets;

/**
 * Joins token pieces into text without ever emitting a broken character: a multi-byte UTF-8 character split
 * across tokens (common for CJK and emoji) is held back until its last byte arrives. Not thread-safe.
 *
 * {@snippet :
 * Utf8StreamDecoder decoder = new Utf8StreamDecoder();
 * String a = decoder.decode(new byte[] {(byte) 0xE4, (byte) 0xBD}); // "" (incomplete)
 * String b = decoder.decode(new byte[] {(byte) 0xA0});              // "你"
 * }
 */
public final class Utf8StreamDecoder {
    /** Bytes of an incomplete trailing character (at most 3) carried to the next call. */
    private final byte[] pending = new byte[4];
    private int pendingLength;
    private byte[] scratch = new byte[64];

    /** Adds bytes; returns the text of all characters now complete (possibly empty). */
    public String decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    /** Adds {@code length} bytes from {@code offset}; returns the newly complete text. */
    public String decode(byte[] bytes, int offset, int length) {
        int total = pendingLength + length;
        if (scratch.length < total) {
            scratch = new byte[Math.max(total, scratch.length * 2)];
        }
        System.arraycopy(pending, 0, scratch, 0, pendingLength);
        System.arraycopy(bytes, offset, scratch, pendingLength, length);
        int complete = completePrefix(scratch, total);
        pendingLength = total - complete;
        System.arraycopy(scratch, complete, pending, 0, pendingLength);
        return complete == 0 ? "" : new String(scratch, 0, complete, StandardCharsets.UTF_8);
    }

    /** Ends the stream: returns any held incomplete bytes as U+FFFD replacement characters, and resets. */
    public String flush() {
        if (pendingLength == 0) {
            return "";
        }
        String s = new String(pending, 0, pendingLength, StandardCharsets.UTF_8);
        pendingLength = 0;
        return s;
    }

    /** Whether bytes of an incomplete character are held back. */
    public boolean hasPending() {
        return pendingLength > 0;
    }

    /**
     * Length of the longest prefix that does not end inside a multi-byte sequence. Only the last (up to) three
     * bytes can belong to an incomplete character; invalid bytes are left to the String decoder to replace.
     */
    private static int completePrefix(byte[] b, int len) {
        for (int back = 1; back <= Math.min(3, len); back++) {
            int c = b[len - back] & 0xFF;
            if ((c & 0xC0) == 0x80) {
                continue; // continuation byte: look further back for the lead byte
            }
            int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            return need > back ? len - back : len;
        }
        return len;
    }
}
