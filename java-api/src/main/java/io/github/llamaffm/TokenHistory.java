package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The tokens of one sequence in the KV cache, in position order, and the prefix reuse built on them. Sequence 0's is
 * owned by its {@link LlamaContext}, the others by the {@link SequenceScheduler}; {@link SequenceEngine} appends what
 * it decodes and applies context shifts. Not thread-safe (the context's claim).
 */
final class TokenHistory {
    private final MemorySegment memory;
    private final int sequence;
    /** Sliding window of the model when the cache keeps only a rolling buffer of it; 0 otherwise. */
    private final int rollingWindow;
    private int[] tokens = new int[256];
    private int length;
    /**
     * The LoRA adapter set the cells were computed with (a {@code Map}, compared by equality), or a private marker when
     * they mix several: a prompt is reused only by a generation with the same set.
     */
    private Object adapters = java.util.Map.of();

    TokenHistory(MemorySegment memory, int sequence, int rollingWindow) {
        this.memory = memory;
        this.sequence = sequence;
        this.rollingWindow = rollingWindow;
    }

    int length() {
        return length;
    }

    int[] toArray() {
        return Arrays.copyOf(tokens, length);
    }

    /** The tokens followed by {@code next}, in one new array. */
    int[] toArrayWith(int next) {
        int[] all = Arrays.copyOf(tokens, length + 1);
        all[length] = next;
        return all;
    }

    /** The backing array, valid up to {@link #length()} until the next change: read without copying. */
    int[] view() {
        return tokens;
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = token;
    }

    void append(int[] source, int from, int n) {
        if (length + n > tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, length + n));
        }
        System.arraycopy(source, from, tokens, length, n);
        length += n;
    }

    /** Forgets everything from {@code newLength} on (the cache cells must be removed by the caller). */
    void truncate(int newLength) {
        length = Math.max(0, Math.min(length, newLength));
    }

    /** Before decoding more tokens with {@code set} after the cells there: marks mixed sets as never reusable. */
    void continueWith(Object set) {
        if (length > 0 && !java.util.Objects.equals(adapters, set)) {
            adapters = new Object(); // computed partly with another set: equal to no set
        } else {
            adapters = set;
        }
    }

    /** Removes the sequence's cells and forgets its tokens. */
    void clear() {
        Llama.llama_memory_seq_rm(memory, sequence, -1, -1);
        length = 0;
    }

    /** Removes the sequence's cells from position {@code from} on (rejected speculative guesses, never recorded). */
    void removeCellsFrom(int from) {
        Llama.llama_memory_seq_rm(memory, sequence, from, -1);
    }

    /** Forgets {@code n} tokens from index {@code from} on; later ones move down (a context shift). */
    void remove(int from, int n) {
        System.arraycopy(tokens, from + n, tokens, from, length - from - n);
        length -= n;
    }

    /** Replaces the record (after a state load). */
    void replace(int[] newTokens, int n) {
        tokens = Arrays.copyOf(newTokens, Math.max(256, n));
        length = n;
    }

    /** After a failed decode: keeps only what the cache still holds. */
    void trimToCache() {
        truncate(Llama.llama_memory_seq_pos_max(memory, sequence) + 1);
    }

    /**
     * The number of leading tokens of {@code prompt} this record shares (the prompt cache's measure of a match).
     */
    int commonPrefix(int[] prompt) {
        return commonPrefix(prompt, adapters);
    }

    /** {@link #commonPrefix(int[])} for a generation with {@code adapterSet}: 0 unless the cells were computed with it. */
    int commonPrefix(int[] prompt, Object adapterSet) {
        if (!java.util.Objects.equals(adapters, adapterSet)) {
            return 0;
        }
        int common = 0;
        int max = Math.min(length, prompt.length);
        while (common < max && tokens[common] == prompt[common]) {
            common++;
        }
        return common;
    }

    /**
     * Keeps the longest prefix of {@code prompt} already in the cache and removes the rest of the sequence, so only
     * the remainder needs decoding. At least the last prompt token is left to decode (its logits are needed).
     *
     * @return the number of reused prompt tokens
     */
    int reusePrefix(int[] prompt, Object adapterSet) {
        if (!java.util.Objects.equals(adapters, adapterSet)) {
            clear(); // computed with other adapters: nothing to reuse
            adapters = adapterSet;
        }
        int common = commonPrefix(prompt);
        if (common == prompt.length) {
            common--; // the last prompt token must be decoded again to get its logits
        }
        // Cells beyond the record (e.g. a sequence state loaded without tokens) are removed too.
        if (common < length || Llama.llama_memory_seq_pos_max(memory, sequence) >= common) {
            boolean removed = Llama.llama_memory_seq_rm(memory, sequence, common, -1);
            // A rolling sliding-window cache may already have dropped the cells the kept prefix needs.
            if (removed && common > 0 && rollingWindow > 0) {
                int posMin = Llama.llama_memory_seq_pos_min(memory, sequence);
                removed = posMin <= Math.max(0, common - rollingWindow);
            }
            if (!removed) {
                Llama.llama_memory_seq_rm(memory, sequence, -1, -1);
                common = 0;
            }
            length = common;
        }
        return common;
    }
}
