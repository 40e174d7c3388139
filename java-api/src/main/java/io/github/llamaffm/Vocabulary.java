package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.internal.NativeHandle;
import io.github.llamaffm.internal.NativeRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A model's tokenizer. Thread-safe; valid while its model is open.
 *
 * {@snippet :
 * int[] ids = model.vocabulary().tokenize("Hello world", true, false);
 * String text = model.vocabulary().detokenize(ids, true, false);
 * }
 */
public final class Vocabulary {
    private static final byte[] UNSET = new byte[0];

    private final LlamaModel model;
    private final NativeHandle owner;
    private final MemorySegment vocab;
    private final int size;
    /** Token id -> UTF-8 bytes of its piece (special tokens rendered), filled on first use. */
    private final AtomicReferenceArray<byte[]> pieces;
    /** Fixed per vocabulary, read once so the generation loop and closed models need no native call. */
    private final java.util.BitSet endOfGeneration;
    private final int bos;
    private final int eos;
    private final int eot;
    private final int newline;
    private final boolean addsBos;

    Vocabulary(LlamaModel model, MemorySegment vocab) {
        this.model = model;
        this.owner = model.handle();
        this.vocab = vocab;
        this.size = Llama.llama_vocab_n_tokens(vocab);
        this.pieces = new AtomicReferenceArray<>(size);
        this.endOfGeneration = new java.util.BitSet(size);
        for (int t = 0; t < size; t++) {
            if (Llama.llama_vocab_is_eog(vocab, t)) {
                endOfGeneration.set(t);
            }
        }
        this.bos = Llama.llama_vocab_bos(vocab);
        this.eos = Llama.llama_vocab_eos(vocab);
        this.eot = Llama.llama_vocab_eot(vocab);
        this.newline = Llama.llama_vocab_nl(vocab);
        this.addsBos = Llama.llama_vocab_get_add_bos(vocab);
    }

    /** The same vocabulary, valid while {@code owner} (a context, which keeps the model alive) is open. */
    private Vocabulary(Vocabulary base, NativeHandle owner) {
        this.model = base.model;
        this.owner = owner;
        this.vocab = base.vocab;
        this.size = base.size;
        this.pieces = base.pieces;
        this.endOfGeneration = base.endOfGeneration;
        this.bos = base.bos;
        this.eos = base.eos;
        this.eot = base.eot;
        this.newline = base.newline;
        this.addsBos = base.addsBos;
    }

    Vocabulary ownedBy(NativeHandle owner) {
        return new Vocabulary(this, owner);
    }

    /** Number of tokens. */
    public int size() {
        return size;
    }

    /**
     * Tokenizes text.
     *
     * @param addSpecial   add the model's BOS (and EOS if it wants one) as upstream does for a prompt start
     * @param parseSpecial recognise special-token text such as {@code </s>} or {@code [INST]} as those tokens
     * @throws IllegalArgumentException if the text contains an unpaired surrogate (it has no UTF-8 encoding)
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        byte[] utf8 = strictUtf8(text);
        // The lease keeps the model from being freed by a concurrent close() during the native call.
        owner.retain();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment textSeg = arena.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, textSeg, ValueLayout.JAVA_BYTE, 0, utf8.length);
            int capacity = utf8.length + 4;
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT, capacity);
            NativeRuntime.clearLastError();
            int n = Llama.llama_tokenize(vocab, textSeg, utf8.length, out, capacity, addSpecial, parseSpecial);
            if (n < 0) {
                if (n == Integer.MIN_VALUE) { // too many tokens, or a vocabulary that cannot encode the text
                    throw new LlamaException("llama.cpp could not tokenize the text (" + utf8.length + " bytes) with the "
                            + "vocabulary of " + model.path() + NativeRuntime.lastErrorSuffix());
                }
                capacity = -n;
                out = arena.allocate(ValueLayout.JAVA_INT, capacity);
                n = Llama.llama_tokenize(vocab, textSeg, utf8.length, out, capacity, addSpecial, parseSpecial);
            }
            return out.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT);
        } finally {
            owner.release();
        }
    }

    /**
     * The UTF-8 bytes of {@code text}. A lone surrogate has no UTF-8 encoding ({@link String#getBytes} would silently
     * put a '?' into the prompt), so it is rejected.
     *
     * @throws IllegalArgumentException naming the index of the first unpaired surrogate
     */
    static byte[] strictUtf8(String text) {
        for (int i = 0, n = text.length(); i < n; i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                } else {
                    throw new IllegalArgumentException(String.format(
                            "text contains an unpaired surrogate U+%04X at index %d, which has no UTF-8 encoding", (int) c, i));
                }
            }
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Turns tokens back into text.
     *
     * @param removeSpecial   drop the BOS/EOS the tokenizer would add
     * @param unparseSpecial  render special tokens as their text (otherwise they produce nothing)
     */
    public String detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        Objects.requireNonNull(tokens, "tokens");
        checkTokens(tokens);
        owner.retain();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_INT, tokens);
            int capacity = tokens.length * 8 + 16;
            MemorySegment out = arena.allocate(capacity);
            int n = Llama.llama_detokenize(vocab, in, tokens.length, out, capacity, removeSpecial, unparseSpecial);
            if (n < 0) {
                capacity = -n;
                out = arena.allocate(capacity);
                n = Llama.llama_detokenize(vocab, in, tokens.length, out, capacity, removeSpecial, unparseSpecial);
            }
            return new String(out.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        } finally {
            owner.release();
        }
    }

    /**
     * The raw UTF-8 bytes a token stands for (special tokens rendered as their text). A piece may be part of a
     * multi-byte character; use {@link Utf8StreamDecoder} to join pieces. The returned array is shared: do not
     * modify it.
     */
    byte[] pieceBytes(int token) {
        byte[] p = pieces.get(token);
        if (p == null) {
            p = computePiece(token);
            pieces.set(token, p);
        }
        return p;
    }

    /** The text of one token (special tokens rendered), decoded leniently: a partial character becomes U+FFFD. */
    public String piece(int token) {
        checkToken(token);
        owner.retain();
        try {
            return new String(pieceBytes(token), StandardCharsets.UTF_8);
        } finally {
            owner.release();
        }
    }

    private byte[] computePiece(int token) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(128);
            int n = Llama.llama_token_to_piece(vocab, token, buf, (int) buf.byteSize(), 0, true);
            if (n < 0) {
                buf = arena.allocate(-n);
                n = Llama.llama_token_to_piece(vocab, token, buf, (int) buf.byteSize(), 0, true);
            }
            return n == 0 ? UNSET : buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Beginning-of-sequence token, or -1 if the model has none. */
    public int bos() {
        owner.ensureOpen();
        return bos;
    }

    /** End-of-sequence token, or -1. */
    public int eos() {
        owner.ensureOpen();
        return eos;
    }

    /** End-of-turn token, or -1. */
    public int eot() {
        owner.ensureOpen();
        return eot;
    }

    /** Newline token, or -1. */
    public int newline() {
        owner.ensureOpen();
        return newline;
    }

    /** Whether generation should stop at this token (EOS, EOT and the like). */
    public boolean isEndOfGeneration(int token) {
        checkToken(token);
        owner.ensureOpen();
        return endOfGeneration.get(token);
    }

    /** Whether the model adds BOS when tokenizing with {@code addSpecial}. */
    public boolean addsBos() {
        owner.ensureOpen();
        return addsBos;
    }

    /** @throws IllegalArgumentException if {@code token} is not in {@code [0, size())} */
    public void checkToken(int token) {
        if (token < 0 || token >= size) {
            throw new IllegalArgumentException("token id " + token + " out of range [0, " + size + ")");
        }
    }

    void checkTokens(int[] tokens) {
        for (int t : tokens) {
            if (t < 0 || t >= size) {
                throw new IllegalArgumentException("token id " + t + " out of range [0, " + size + ") in "
                        + (tokens.length > 16 ? Arrays.toString(Arrays.copyOf(tokens, 16)) + "..." : Arrays.toString(tokens)));
            }
        }
    }

    MemorySegment segment() {
        return vocab;
    }

    LlamaModel model() {
        return model;
    }
}
