package io.github.llamaffm.benchmarks;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Generation;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.Sampler;
import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.llama_context_params;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * 32 greedy tokens through the facade ({@link Generation}: decode, sample, piece, UTF-8, Token) versus the same loop
 * written directly against the jextract bindings, as a C program would (llama_decode of one token, greedy sampler,
 * llama_token_to_piece). The difference is what the facade costs per token.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TokenLoopBenchmark {
    static final int TOKENS = 32;
    /** Threads of both loops: {@code -Dllamaffm.bench.threads=N} (a loaded machine measures best with 1). */
    static final int THREADS = Integer.getInteger("llamaffm.bench.threads", Math.max(1, ContextOptions.defaultThreads()));

    LlamaModel model;
    LlamaContext context;
    GenerateOptions options;
    int[] prompt;

    // the raw loop's own native objects
    Arena arena;
    MemorySegment rawModel;
    MemorySegment rawContext;
    MemorySegment rawVocab;
    MemorySegment rawSampler;
    MemorySegment token;
    MemorySegment oneTokenBatch;
    MemorySegment pieceBuffer;

    @Setup
    public void setUp() {
        model = LlamaModel.load(BenchModels.model());
        context = model.newContext(ContextOptions.builder().contextSize(512).threads(THREADS).batchThreads(THREADS).build());
        options = GenerateOptions.builder().maxTokens(TOKENS).sampler(Sampler.greedy()).build();
        prompt = model.vocabulary().tokenize("The Mistral 7B paper shows", true, true);

        arena = Arena.ofConfined();
        MemorySegment mp = Llama.llama_model_default_params(arena);
        rawModel = Llama.llama_model_load_from_file(arena.allocateFrom(BenchModels.model().toString()), mp);
        MemorySegment cp = Llama.llama_context_default_params(arena);
        llama_context_params.n_ctx(cp, 512);
        llama_context_params.n_threads(cp, THREADS);
        llama_context_params.n_threads_batch(cp, THREADS);
        rawContext = Llama.llama_init_from_model(rawModel, cp);
        rawVocab = Llama.llama_model_get_vocab(rawModel);
        rawSampler = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params(arena));
        Llama.llama_sampler_chain_add(rawSampler, Llama.llama_sampler_init_greedy());
        token = arena.allocate(ValueLayout.JAVA_INT);
        oneTokenBatch = Llama.llama_batch_get_one(arena, token, 1); // points at `token`: reused for every step
        pieceBuffer = arena.allocate(256);
    }

    /** The facade: a whole generation of 32 tokens (the prompt is cached after the first call: one token decoded). */
    @Benchmark
    public void facadeGeneration(Blackhole bh) {
        try (Generation g = context.generate(prompt, options)) {
            g.forEach(bh::consume);
        }
    }

    /** The same loop on the raw bindings (no prompt reuse: the prompt's last token is decoded again, as above). */
    @Benchmark
    public void rawBindingsLoop(Blackhole bh) {
        MemorySegment mem = Llama.llama_get_memory(rawContext);
        Llama.llama_memory_seq_rm(mem, 0, prompt.length - 1, -1);
        if (Llama.llama_memory_seq_pos_max(mem, 0) < prompt.length - 2) {
            MemorySegment all = arena.allocateFrom(ValueLayout.JAVA_INT, prompt);
            Llama.llama_memory_clear(mem, true);
            Llama.llama_decode(rawContext, Llama.llama_batch_get_one(arena, all, prompt.length - 1));
        }
        token.set(ValueLayout.JAVA_INT, 0, prompt[prompt.length - 1]);
        for (int i = 0; i < TOKENS; i++) {
            Llama.llama_decode(rawContext, oneTokenBatch);
            int t = Llama.llama_sampler_sample(rawSampler, rawContext, -1);
            int n = Llama.llama_token_to_piece(rawVocab, t, pieceBuffer, 256, 0, true);
            bh.consume(n);
            token.set(ValueLayout.JAVA_INT, 0, t);
        }
    }

    @TearDown
    public void tearDown() {
        context.close();
        model.close();
        Llama.llama_sampler_free(rawSampler);
        Llama.llama_free(rawContext);
        Llama.llama_model_free(rawModel);
        arena.close();
    }
}
