package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_perf_context_data;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * llama.cpp's performance counters of a context since their last reset ({@code llama_perf_context}).
 *
 * @param promptMillis     time spent decoding prompt batches
 * @param generationMillis time spent decoding generated tokens
 * @param promptTokens     prompt tokens decoded
 * @param generatedTokens  generated tokens decoded
 */
record PerfCounters(double promptMillis, double generationMillis, int promptTokens, int generatedTokens) {
    static final PerfCounters NONE = new PerfCounters(0, 0, 0, 0);

    static PerfCounters of(MemorySegment ctx) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = Llama.llama_perf_context(a, ctx);
            return new PerfCounters(llama_perf_context_data.t_p_eval_ms(p), llama_perf_context_data.t_eval_ms(p),
                    llama_perf_context_data.n_p_eval(p), llama_perf_context_data.n_eval(p));
        }
    }

    static void reset(MemorySegment ctx) {
        Llama.llama_perf_context_reset(ctx);
    }
}
