package io.github.llamaffm.internal;

import io.github.llamaffm.DecodeException;
import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_batch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The one native {@code llama_batch} of a context and its {@code llama_decode}: entries are added with
 * {@link #add}, {@link #decode()} submits them, and a failed status becomes an exception here and nowhere else.
 * Every entry belongs to one sequence. Used by one thread at a time (its context's claim).
 */
public final class NativeBatch {
    /** {@code llama_decode} status of a decode stopped through the abort callback. */
    public static final int ABORTED = 2;

    private final MemorySegment context;
    private final MemorySegment abortFlag;
    private final MemorySegment batch;
    private final MemorySegment tokens;
    private final MemorySegment positions;
    private final MemorySegment outputs;
    private final MemorySegment[] seqIds;
    private final int capacity;
    /** Whether the context's model has layers on RPC servers: decode then watches for lost connections. */
    private final boolean rpc;
    private int size;

    /**
     * Allocates the batch ({@code llama_batch_init}; the struct lives in {@code arena}, its arrays in native heap
     * memory freed by {@link #free(MemorySegment)} of {@link #struct()} before the arena closes).
     *
     * @param context   the {@code llama_context*} it decodes into
     * @param abortFlag the byte the context's abort callback reads
     */
    public NativeBatch(Arena arena, MemorySegment context, MemorySegment abortFlag, int capacity) {
        this.context = context;
        this.abortFlag = abortFlag;
        this.capacity = capacity;
        this.rpc = RpcBackend.isRpcModel(Llama.llama_get_model(context));
        this.batch = Llama.llama_batch_init(arena, capacity, 0, 1);
        this.tokens = llama_batch.token(batch).reinterpret((long) capacity * Integer.BYTES);
        this.positions = llama_batch.pos(batch).reinterpret((long) capacity * Integer.BYTES);
        this.outputs = llama_batch.logits(batch).reinterpret(capacity);
        MemorySegment counts = llama_batch.n_seq_id(batch).reinterpret((long) capacity * Integer.BYTES);
        MemorySegment ids = llama_batch.seq_id(batch).reinterpret((long) capacity * ValueLayout.ADDRESS.byteSize());
        this.seqIds = new MemorySegment[capacity];
        for (int i = 0; i < capacity; i++) {
            counts.setAtIndex(ValueLayout.JAVA_INT, i, 1);
            seqIds[i] = ids.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(Integer.BYTES);
            seqIds[i].set(ValueLayout.JAVA_INT, 0, 0);
        }
    }

    /** The native struct, for the owner's free action. */
    public MemorySegment struct() {
        return batch;
    }

    /** Frees the arrays of a batch struct ({@code llama_batch_free}); the owner's free action calls it. */
    public static void free(MemorySegment struct) {
        Llama.llama_batch_free(struct);
    }

    /** The {@code llama_context*} this batch decodes into (for sampling its outputs). */
    public MemorySegment context() {
        return context;
    }

    public int capacity() {
        return capacity;
    }

    public int size() {
        return size;
    }

    /** Room left in this batch. */
    public int remaining() {
        return capacity - size;
    }

    /** Empties the batch. */
    public void clear() {
        size = 0;
    }

    /**
     * Adds one entry.
     *
     * @param output whether llama.cpp computes logits for it
     * @return its index in the batch (the output index to sample after {@link #decode()})
     */
    public int add(int token, int position, int sequence, boolean output) {
        int i = size;
        if (i == capacity) {
            throw new IllegalStateException("batch is full (" + capacity + " entries)");
        }
        tokens.setAtIndex(ValueLayout.JAVA_INT, i, token);
        positions.setAtIndex(ValueLayout.JAVA_INT, i, position);
        seqIds[i].set(ValueLayout.JAVA_INT, 0, sequence);
        outputs.set(ValueLayout.JAVA_BYTE, i, (byte) (output ? 1 : 0));
        size = i + 1;
        return i;
    }

    /**
     * Decodes the entries. While it runs, the log bridge knows this context's abort flag, so the errors llama.cpp
     * logs for a decode cancelled on purpose are logged at debug level.
     *
     * @throws DecodeException for any status but 0; {@link DecodeException#status()} {@value #ABORTED} when it was
     *                         cancelled through the abort flag
     */
    public void decode() {
        llama_batch.n_tokens(batch, size);
        int status;
        long rpcFailures = rpc ? RpcBackend.failureCount() : 0;
        NativeRuntime.decodingWith(abortFlag);
        try {
            status = Llama.llama_decode(context, batch);
        } finally {
            NativeRuntime.decodingWith(null);
        }
        if (rpc && status != 1 && status != ABORTED) {
            // An RPC connection lost during this step: it computed on data that never arrived (patch 0010), so it
            // fails like a failed compute (-3) instead of yielding a token; later steps fail inside llama.cpp.
            if (status == 0 && RpcBackend.failureCount() != rpcFailures) {
                status = -3;
            }
            if (status < -1) {
                NativeRuntime.noteError(RpcBackend.lastFailure());
            }
        }
        if (status != 0) {
            throw failure(status);
        }
    }

    /** The exception for a failed {@code llama_decode} status: the one mapping of statuses to messages. */
    public static DecodeException failure(int status) {
        String why = switch (status) {
            case 1 -> "no KV cache slot for the batch (context full; try a larger contextSize)";
            case ABORTED -> "aborted";
            case -1 -> "invalid batch";
            default -> "llama_decode failed" + NativeRuntime.lastErrorSuffix();
        };
        return new DecodeException(status, why);
    }

    /** Asks the running (or next) decode of this context to stop; callable from any thread. */
    public void requestAbort() {
        abortFlag.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
    }

    public void clearAbort() {
        abortFlag.set(ValueLayout.JAVA_BYTE, 0, (byte) 0);
    }

    public boolean abortRequested() {
        return abortFlag.get(ValueLayout.JAVA_BYTE, 0) != 0;
    }
}
