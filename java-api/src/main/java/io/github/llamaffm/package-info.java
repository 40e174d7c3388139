/**
 * llama-ffm: llama.cpp for Java, through the Foreign Function &amp; Memory API.
 *
 * <h2>Load, generate, chat</h2>
 * {@snippet :
 * try (LlamaModel model = LlamaModel.load(Path.of("mistral-7b-instruct-v0.1.Q4_K_M.gguf"));
 *      LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(8192).build())) {
 *     GenerateOptions options = GenerateOptions.builder()
 *             .maxTokens(128)
 *             .sampler(Sampler.builder().temperature(0.7f).seed(42).build())
 *             .stopStrings("\n\n")
 *             .build();
 *     try (Generation g = ctx.generate("The Mistral 7B paper shows", options)) {
 *         g.forEach(token -> System.out.print(token.text()));   // streamed, UTF-8 safe
 *         System.out.println(g.result().tokensPerSecond() + " tok/s");
 *     }
 *     ChatSession chat = ctx.chat();                           // the model's own chat template
 *     System.out.println(chat.send("Summarise sliding window attention in one line.").text());
 * }
 * }
 *
 * <h2>Chat templates, structured output and tools</h2>
 * A {@link io.github.llamaffm.ChatSession} renders the model's own Jinja template ({@code tokenizer.chat_template})
 * with llama.cpp's Jinja engine and parses replies with llama.cpp's parser for the model's family
 * ({@link io.github.llamaffm.ChatFormat} does both for callers that drive generation themselves, such as a server).
 * JSON output is constrained by a grammar that llama.cpp's {@code json_schema_to_grammar} derives from a JSON Schema
 * ({@link io.github.llamaffm.Grammar#fromJsonSchema}, {@link io.github.llamaffm.GenerateOptions.Builder#jsonSchema}),
 * or from a record ({@link io.github.llamaffm.JsonSchema#of}). Tools are {@link io.github.llamaffm.Tool}s (name,
 * description, JSON Schema of the arguments, or a record), chosen by {@link io.github.llamaffm.ToolChoice}; a
 * {@link io.github.llamaffm.ChatReply} holds content, reasoning and {@link io.github.llamaffm.ToolCall}s.
 * {@snippet :
 * record Capital(String country, String city) {}
 * Capital c = ctx.chat().replyAs("What is the capital of France?", Capital.class);
 *
 * record Weather(String city) {}
 * ChatSession agent = ctx.chat(ChatSession.Options.defaults()
 *         .withTools(List.of(Tool.of("get_weather", "Current weather in a city", Weather.class))));
 * ChatReply r = agent.reply("Weather in Paris?");
 * for (ToolCall call : r.toolCalls()) {
 *     agent.addToolResult(call, lookUp(call.arguments(Weather.class)));   // a "tool" message
 * }
 * String answer = agent.reply().content();
 * }
 * Mistral 7B's guardrails: {@link io.github.llamaffm.ChatSession.Options#withGuardrails} (the paper's system
 * prompt) and {@link io.github.llamaffm.Moderation} (self-reflection classification into the paper's categories).
 *
 * <h2>Embeddings and reranking (retrieval)</h2>
 * An embeddings context ({@link io.github.llamaffm.ContextOptions.Builder#embeddings(boolean) embeddings(true)})
 * pools the way the model's file says ({@link io.github.llamaffm.Pooling}: mean, CLS, last; mean for models that name
 * none) or as {@link io.github.llamaffm.ContextOptions.Builder#pooling(Pooling)} sets, several texts per decode.
 * Pooling {@code NONE} gives one vector per token; a reranker GGUF (pooling {@code RANK}) scores query/document pairs
 * laid out with the model's own rerank prompt, as llama-server does.
 * {@snippet :
 * try (LlamaContext ctx = embedder.newContext(ContextOptions.builder().embeddings(true).sequences(8).kvUnified(true).build())) {
 *     List<float[]> vectors = ctx.embed(List.of("first passage", "second passage"), true);   // unit length
 * }
 * try (LlamaContext ctx = embedder.newContext(ContextOptions.builder().embeddings(true).pooling(Pooling.NONE).build())) {
 *     List<float[]> perToken = ctx.tokenEmbeddings("late interaction", false);
 * }
 * try (LlamaContext ctx = reranker.newContext(ContextOptions.builder().embeddings(true).sequences(4).kvUnified(true).build())) {
 *     List<RerankScore> scores = ctx.rerank("What is a panda?", List.of("hi", "The giant panda is a bear."));
 * }
 * }
 *
 * <h2>The object graph</h2>
 * {@link io.github.llamaffm.LlamaRuntime} (library, devices) &rarr; {@link io.github.llamaffm.LlamaModel} (weights,
 * {@link io.github.llamaffm.Vocabulary}, {@link io.github.llamaffm.ModelInfo}) &rarr;
 * {@link io.github.llamaffm.LlamaContext} (KV cache, threads; {@link io.github.llamaffm.ContextMemory}, state) &rarr;
 * {@link io.github.llamaffm.Generation} / {@link io.github.llamaffm.ChatSession} (one sequence) or
 * {@link io.github.llamaffm.SequenceScheduler} (many sequences in one batch). Children are created by their parent and
 * keep it alive. Both generation front ends run the same per-sequence engine, so sampling, stop strings, UTF-8
 * hold-back and {@link io.github.llamaffm.FinishReason}s behave identically.
 *
 * <h2>Options</h2>
 * {@link io.github.llamaffm.ModelOptions}, {@link io.github.llamaffm.ContextOptions},
 * {@link io.github.llamaffm.GenerateOptions} and {@link io.github.llamaffm.Sampler} are immutable values made by
 * builders; each setter's Javadoc states its default and validates its value. Options whose default depends on the
 * model or machine (context size, threads) stay <em>unset</em> unless given; a context reports what it really runs
 * with in {@link io.github.llamaffm.LlamaContext#settings()}. Related sampler settings are small records with
 * withers: {@code Sampler.builder().penalties(p -> p.withRepeat(1.1f))}.
 *
 * <h2>Speculative decoding</h2>
 * A small draft model with the same vocabulary (or n-gram lookup in the prompt and output) guesses tokens that the
 * model checks in one batch; the output is what the model alone gives ({@link io.github.llamaffm.Speculation}).
 * {@snippet :
 * try (LlamaModel small = LlamaModel.load(Path.of("draft.gguf"));
 *      LlamaContext draft = small.newContext(ContextOptions.builder().contextSize(8192).build())) {
 *     GenerationResult r = ctx.generate("Explain RoPE", GenerateOptions.builder()
 *             .speculation(Speculation.draft(draft).withDraftMax(8)).build()).result();
 *     System.out.printf("%d of %d guesses accepted%n", r.acceptedDraftTokens(), r.draftTokens());
 * }
 * GenerateOptions lookup = GenerateOptions.builder().speculation(Speculation.ngram()).build();
 * }
 *
 * <h2>Sliding-window attention (Mistral 7B v0.1)</h2>
 * {@snippet :
 * ModelOptions withWindow = ModelOptions.builder().slidingWindow(4096).build();   // v0.1 GGUFs lack the key
 * ContextOptions rolling = ContextOptions.builder().contextSize(32768).swaFull(false).build();
 * }
 *
 * <h2>Adapters and steering</h2>
 * {@snippet :
 * ctx.setLoras(Map.of(model.loadLora(Path.of("style.gguf")), 0.7f));           // LoRA, per context
 * ctx.setControlVectors(Map.of(ControlVector.load(Path.of("happy.gguf")), 0.8f)); // control vectors
 * }
 *
 * <h2>On a GPU</h2>
 * {@code ModelOptions.builder().gpuLayers(-1)} offloads every layer to the best backend the natives found
 * ({@link io.github.llamaffm.LlamaRuntime#backend()}); a context then samples inside the decode graph
 * ({@link io.github.llamaffm.ContextOptions.Builder#backendSampling}), so the device returns a token rather than the
 * vocabulary's logits. Remote devices join through {@link io.github.llamaffm.ModelOptions.Builder#rpcServers}.
 *
 * <h2>No slow start</h2>
 * A new context runs one warm-up generation (as llama.cpp's tools warm up at load), so the first real generation
 * runs at steady speed; {@link io.github.llamaffm.ContextOptions.Builder#warmup ContextOptions.Builder.warmup(false)}
 * skips it.
 *
 * <h2>Threading and lifetime</h2>
 * A model may be shared by any number of threads. A context is used by one thread at a time: a call from a second
 * thread while the first is inside throws {@link java.lang.IllegalStateException}; only
 * {@link io.github.llamaffm.LlamaContext#cancel()} may be called from anywhere. The library starts no threads for
 * its work; the one exception is the JDK {@link java.lang.ref.Cleaner} thread ({@code llama-ffm-cleaner}) that frees
 * native memory of owners a caller forgot to close, logging a warning ({@code -Dllamaffm.debugLeaks=true} adds where
 * each was created). {@code close()} is idempotent everywhere; any use after close throws
 * {@link java.lang.IllegalStateException}.
 *
 * <h2>Errors</h2>
 * Failures from llama.cpp are {@link io.github.llamaffm.LlamaException}s
 * ({@link io.github.llamaffm.ModelLoadException} with the path, {@link io.github.llamaffm.DecodeException} with the
 * status, ...). Invalid arguments (sizes, token ids, sequence ids, prompts longer than the context) are rejected with
 * {@link java.lang.IllegalArgumentException} before any native call.
 */
package io.github.llamaffm;
