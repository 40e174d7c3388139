package io.github.llamaffm;

/**
 * {@link SequenceScheduler#submit} found every sequence of the context busy. Retry after a running sequence has
 * finished (a server answers 429 or 503), or create the context with more
 * {@link ContextOptions.Builder#sequences(int) sequences}.
 */
public final class SequencesBusyException extends LlamaException {
    private final int sequences;

    public SequencesBusyException(int sequences) {
        super("all " + sequences + " sequences of the context are busy; retry when one has finished, or create the "
                + "context with more ContextOptions.sequences");
        this.sequences = sequences;
    }

    /** Number of sequences of the context (all of them busy). */
    public int sequences() {
        return sequences;
    }
}
