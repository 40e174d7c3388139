package io.github.llamaffm.examples.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.llamaffm.ChatFormat;
import io.github.llamaffm.ChatReply;
import io.github.llamaffm.ToolCall;
import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.ChatMessage;
import io.github.llamaffm.Moderation;
import io.github.llamaffm.FinishReason;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Token;
import io.github.llamaffm.GenerationResult;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LoraAdapter;
import io.github.llamaffm.RerankScore;
import io.github.llamaffm.examples.server.SchedulerLoop.Finished;
import io.github.llamaffm.examples.server.SchedulerLoop.Job;
import io.github.llamaffm.examples.server.SchedulerLoop.TokenEvent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * An OpenAI-compatible HTTP server over one model, on the JDK's {@code com.sun.net.httpserver}:
 * {@code POST /v1/chat/completions}, {@code POST /v1/completions} (both also streaming, as server-sent events),
 * {@code POST /v1/embeddings}, {@code POST /v1/rerank} (also {@code /rerank}), {@code GET /v1/models},
 * {@code GET /health}.
 *
 * <p><b>Threads:</b> {@link #start} creates the generation context (one KV sequence per parallel request) and starts
 * <em>one</em> scheduler thread, the only user of that context: it runs
 * {@link io.github.llamaffm.SequenceScheduler#step()} while requests are active, so concurrent requests share each
 * decode. HTTP handlers run on virtual threads; they parse and check a request, tokenize its prompt, hand it to the
 * scheduler thread and wait on (or stream from) its own queue. A streaming client that disconnects cancels its
 * sequence at the next step.
 *
 * <p><b>Limits:</b> request bodies over {@link Options#maxBodyBytes()} get 413; when every sequence is busy and
 * {@link Options#maxQueue()} requests already wait, 429; with an {@link Options#apiKey()}, requests to {@code /v1/}
 * without {@code Authorization: Bearer <key>} get 401. Errors are OpenAI-style JSON and never contain stack traces.
 *
 * <p><b>Embeddings and reranking</b> use a second small context with {@code embeddings(true)}, created on the first
 * {@code /v1/embeddings} or {@code /v1/rerank} request (or refused with 400 when {@link Options#embeddings()} is
 * off). {@code /v1/embeddings} takes a string, an array of strings, an array of token ids or an array of such
 * arrays, as OpenAI's; {@code /v1/rerank} takes the common (Jina, Cohere, llama-server) shape {@code query},
 * {@code documents}, {@code top_n}, {@code return_documents} and answers {@code results} sorted by
 * {@code relevance_score}, each with the document's {@code index}, for a reranker GGUF (pooling rank).
 */
public final class OpenAiServer implements AutoCloseable {
    /**
     * Server settings.
     *
     * @param host         address to bind; {@code 127.0.0.1} (loopback only) unless exposing the server on purpose
     * @param port         TCP port; 0 picks a free one ({@link #port()})
     * @param apiKey       bearer key required on {@code /v1/} requests, or null for none
     * @param maxBodyBytes largest accepted request body
     * @param maxQueue     requests that may wait for a free sequence before 429
     * @param modelId      the model name {@code /v1/models} lists and responses carry
     * @param embeddings   whether {@code /v1/embeddings} may create its embeddings context
     * @param moderation   whether each chat request's last user message is first classified by the model
     *                     ({@link Moderation}, the Mistral 7B paper's self-reflection) and answered with 400
     *                     {@code content_filter} when it is not acceptable
     */
    public record Options(String host, int port, String apiKey, long maxBodyBytes, int maxQueue, String modelId,
                          boolean embeddings, boolean moderation) {
        public Options {
            Objects.requireNonNull(host, "host");
            Objects.requireNonNull(modelId, "modelId");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port must be in 0..65535, was " + port);
            }
            if (maxBodyBytes <= 0) {
                throw new IllegalArgumentException("maxBodyBytes must be > 0, was " + maxBodyBytes);
            }
            if (maxQueue < 0) {
                throw new IllegalArgumentException("maxQueue must be >= 0, was " + maxQueue);
            }
            if (apiKey != null && apiKey.isBlank()) {
                throw new IllegalArgumentException("apiKey must not be blank");
            }
        }

        /**
         * Requests that may wait for a free sequence by default: waiting costs no KV memory, so a burst of concurrent
         * clients is queued rather than refused (Ollama's default queue is 512; llama-server's is unbounded).
         */
        public static final int DEFAULT_MAX_QUEUE = 512;

        /**
         * 127.0.0.1:8080, no key, 4 MiB bodies, {@value #DEFAULT_MAX_QUEUE} waiting requests, embeddings on,
         * moderation off.
         */
        public static Options defaults(String modelId) {
            return new Options("127.0.0.1", 8080, null, 4L << 20, DEFAULT_MAX_QUEUE, modelId, true, false);
        }

        public Options withPort(int port) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withHost(String host) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withApiKey(String apiKey) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withMaxBodyBytes(long maxBodyBytes) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withMaxQueue(int maxQueue) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withEmbeddings(boolean embeddings) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }

        public Options withModeration(boolean moderation) {
            return new Options(host, port, apiKey, maxBodyBytes, maxQueue, modelId, embeddings, moderation);
        }
    }

    private static final byte[] SSE_DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    static {
        // Streamed tokens are small writes: without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold
        // each one back ~40 ms. The JDK server reads this once, when its first server is created; -D overrides it.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private final LlamaModel model;
    private final Options options;
    private final Consumer<String> log;
    private final LlamaContext context;
    private final SchedulerLoop loop;
    private final Thread schedulerThread;
    private final EmbeddingService embeddings;
    private final ChatFormat chatFormat;
    private final byte[] apiKeyDigest;
    private final long created = System.currentTimeMillis() / 1000;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final AtomicLong disconnects = new AtomicLong();
    private volatile boolean closed;
    /** The context's own LoRA adapters with their scales; a request's {@code lora} entries pick among them by index. */
    private final List<Map.Entry<LoraAdapter, Float>> adapters;

    private OpenAiServer(LlamaModel model, ContextOptions contextOptions, Options options, Consumer<String> log,
                         Consumer<LlamaContext> setup) throws IOException {
        this.model = model;
        this.options = options;
        this.log = log;
        this.apiKeyDigest = options.apiKey() == null ? null : sha256(options.apiKey());
        this.context = model.newContext(contextOptions);
        boolean started = false;
        try {
            setup.accept(context);
            this.adapters = List.copyOf(context.loras().entrySet());
            this.chatFormat = ChatFormat.of(model);
            this.embeddings = new EmbeddingService(model, context.settings().threads());
            this.loop = new SchedulerLoop(context, options.maxQueue(), log);
            // The one thread that uses the generation context, started here explicitly (the library starts none).
            this.schedulerThread = Thread.ofPlatform().name("llama-ffm-scheduler").start(loop);
            try {
                loop.awaitReady();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while starting the scheduler", e);
            }
            this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(options.host()), options.port()),
                    128);
            this.handlers = Executors.newVirtualThreadPerTaskExecutor();
            http.setExecutor(handlers);
            http.createContext("/", this::handle);
            http.start();
            started = true;
        } finally {
            if (!started) {
                shutdownScheduler();
                context.close();
            }
        }
    }

    /**
     * Creates the generation context on {@code model} with {@code contextOptions} (its {@code sequences} is the number
     * of requests served at once), starts the scheduler thread and the HTTP server. The caller keeps the model open
     * until {@link #close()}.
     *
     * @param log receives one line per server-side problem (failed decodes and the like) and nothing per request
     */
    public static OpenAiServer start(LlamaModel model, ContextOptions contextOptions, Options options,
                                     Consumer<String> log) throws IOException {
        return start(model, contextOptions, options, log, ctx -> { });
    }

    /**
     * {@link #start(LlamaModel, ContextOptions, Options, Consumer)}, with {@code setup} run on the generation context
     * before the scheduler starts: LoRA adapters ({@link LlamaContext#setLoras}: requests pick among them with
     * {@code "lora": [{"id": i, "scale": s}]}, as llama-server's; {@code GET /lora-adapters} lists them) and control
     * vectors.
     */
    public static OpenAiServer start(LlamaModel model, ContextOptions contextOptions, Options options,
                                     Consumer<String> log, Consumer<LlamaContext> setup) throws IOException {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(contextOptions, "contextOptions");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(log, "log");
        Objects.requireNonNull(setup, "setup");
        return new OpenAiServer(model, contextOptions, options, log, setup);
    }

    /** The bound port. */
    public int port() {
        return http.getAddress().getPort();
    }

    /** {@code http://host:port/v1}, the base URL for OpenAI clients. */
    public URI baseUri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + host + ":" + port() + "/v1");
    }

    /** Requests served at once (KV sequences). */
    public int sequences() {
        return loop.sequences();
    }

    /** KV cells per sequence: the longest prompt plus reply one request can have. */
    public int sequenceContextSize() {
        return loop.sequenceContextSize();
    }

    /** {@code llama_decode} calls the scheduler has made (for benchmarks: fewer than tokens means shared steps). */
    public long decodeCalls() {
        return loop.decodeCalls();
    }

    /** Streaming requests cancelled because their client disconnected. */
    public long disconnectedStreams() {
        return disconnects.get();
    }

    /** Requests admitted and not yet finished (generating or waiting for a sequence). */
    public int requestsInFlight() {
        return loop.admitted();
    }

    /** Stops accepting connections, ends running requests (503), stops the scheduler thread, frees the contexts. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        shutdownScheduler();
        http.stop(0);
        handlers.shutdownNow();
        embeddings.close();
        context.close();
        chatFormat.close();
    }

    private void shutdownScheduler() {
        if (loop == null || schedulerThread == null) {
            return;
        }
        // Uninterruptibly: the contexts must not be closed while the scheduler thread may still use them.
        boolean interrupted = false;
        loop.requestStop();
        while (true) {
            try {
                schedulerThread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // --- routing ----------------------------------------------------------------------------------------------

    private void handle(HttpExchange ex) {
        try (ex) {
            try {
                route(ex);
            } catch (ApiException e) {
                sendError(ex, e);
            } catch (IOException e) {
                // The client went away; nothing to answer.
            } catch (RuntimeException | Error e) {
                log.accept("internal error on " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath() + ": " + e);
                sendError(ex, new ApiException(500, "server_error", "internal server error", null, null));
            } finally {
                bodyRead.remove(ex);
            }
        }
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        if (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        if (path.equals("/health")) {
            requireMethod(method, "GET");
            health(ex);
            return;
        }
        if (path.equals("/lora-adapters") || path.equals("/v1/lora-adapters")) {
            authorize(ex);
            requireMethod(method, "GET");
            ArrayNode list = Requests.MAPPER.createArrayNode();
            for (int i = 0; i < adapters.size(); i++) {
                list.addObject().put("id", i).put("path", adapters.get(i).getKey().path().toString())
                        .put("scale", adapters.get(i).getValue());
            }
            sendJson(ex, 200, list);
            return;
        }
        if (path.equals("/rerank") || path.equals("/reranking") || path.equals("/v1/reranking")) {
            path = "/v1/rerank"; // the aliases llama-server answers
        }
        if (!path.startsWith("/v1/")) {
            throw new ApiException(404, "invalid_request_error", "unknown path " + path + " (the API is under /v1/)",
                    null, "not_found");
        }
        authorize(ex);
        switch (path) {
            case "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                completion(ex, true);
            }
            case "/v1/completions" -> {
                requireMethod(method, "POST");
                completion(ex, false);
            }
            case "/v1/embeddings" -> {
                requireMethod(method, "POST");
                embeddings(ex);
            }
            case "/v1/rerank" -> {
                requireMethod(method, "POST");
                rerank(ex);
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                ObjectNode list = Requests.MAPPER.createObjectNode().put("object", "list");
                list.putArray("data").add(modelJson());
                sendJson(ex, 200, list);
            }
            default -> {
                if (path.startsWith("/v1/models/") && method.equals("GET")) {
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(options.modelId())) {
                        throw new ApiException(404, "invalid_request_error", "model '" + id + "' does not exist",
                                "model", "model_not_found");
                    }
                    sendJson(ex, 200, modelJson());
                    return;
                }
                throw new ApiException(404, "invalid_request_error", "unknown path " + path, null, "not_found");
            }
        }
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new ApiException(405, "invalid_request_error", "method " + method + " not allowed; use " + allowed,
                    null, "method_not_allowed");
        }
    }

    /** Constant-time comparison of the bearer key (through digests, so lengths leak nothing either). */
    private void authorize(HttpExchange ex) {
        if (apiKeyDigest == null) {
            return;
        }
        String header = ex.getRequestHeaders().getFirst("Authorization");
        String prefix = "Bearer ";
        if (header == null || !header.regionMatches(true, 0, prefix, 0, prefix.length())) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            throw new ApiException(401, "authentication_error",
                    "missing API key: send the header 'Authorization: Bearer <key>'", null, "invalid_api_key");
        }
        if (!MessageDigest.isEqual(apiKeyDigest, sha256(header.substring(prefix.length()).strip()))) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            throw new ApiException(401, "authentication_error", "incorrect API key", null, "invalid_api_key");
        }
    }

    private void health(HttpExchange ex) throws IOException {
        ObjectNode h = Requests.MAPPER.createObjectNode();
        h.put("status", closed ? "shutting_down" : "ok");
        h.put("model", options.modelId());
        h.put("sequences", loop.sequences());
        h.put("sequence_context_size", loop.sequenceContextSize());
        h.put("requests_in_flight", loop.admitted());
        sendJson(ex, closed ? 503 : 200, h);
    }

    private ObjectNode modelJson() {
        return Requests.MAPPER.createObjectNode()
                .put("id", options.modelId())
                .put("object", "model")
                .put("created", created)
                .put("owned_by", "llama-ffm");
    }

    // --- completions --------------------------------------------------------------------------------------

    private void completion(HttpExchange ex, boolean chat) throws IOException {
        JsonNode body = Requests.parse(readBody(ex));
        Requests.Generate g = chat ? Requests.chat(body) : Requests.completion(body);
        int[] tokens;
        ChatFormat.Prompt chatPrompt = null;
        GenerateOptions genOptions = requestAdapters(body, g.options());
        if (chat && options.moderation()) {
            moderate(g.messages());
        }
        if (chat) {
            boolean tools = !g.tools().isEmpty();
            try {
                // One place renders messages, tools and a response schema for every caller (ChatSession too).
                chatPrompt = chatFormat.render(g.messages(), g.tools(), g.toolChoice(), g.parallelToolCalls(),
                        tools && g.toolChoice().mode() != io.github.llamaffm.ToolChoice.Mode.NONE ? null
                                : g.responseSchema());
                genOptions = chatPrompt.applyTo(g.options());
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("the model's chat template cannot format these messages: "
                        + e.getMessage(), "messages");
            }
            // As ChatSession does: BOS as the model asks, special-token text parsed.
            tokens = tokenize(chatPrompt.text(), genOptions, "messages");
        } else if (g.promptTokens() != null) {
            tokens = g.promptTokens();
            int vocab = model.vocabulary().size();
            for (int t : tokens) {
                if (t < 0 || t >= vocab) {
                    throw ApiException.badRequest("token id " + t + " is out of range [0, " + vocab + ")", "prompt");
                }
            }
        } else {
            tokens = tokenize(g.prompt(), g.options(), "prompt");
        }
        if (tokens.length == 0) {
            throw ApiException.badRequest("the prompt has no tokens", chat ? "messages" : "prompt");
        }
        int room = loop.sequenceContextSize();
        if (tokens.length >= room) {
            throw ApiException.badRequest("the prompt has " + tokens.length + " tokens; this server's per-request "
                    + "context holds " + room + " tokens, with room for at least one generated token",
                    chat ? "messages" : "prompt", "context_length_exceeded");
        }
        Job job = new Job(tokens, genOptions, g.stream() || g.logprobs());
        if (!loop.offer(job)) {
            if (closed) {
                throw SchedulerLoop.shuttingDown();
            }
            ex.getResponseHeaders().set("Retry-After", "1");
            throw new ApiException(429, "rate_limit_exceeded", "the server is busy: all " + loop.sequences()
                    + " sequences are generating and " + options.maxQueue() + " requests are waiting; retry later",
                    null, "server_busy");
        }
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        long createdAt = System.currentTimeMillis() / 1000;
        try {
            if (g.stream()) {
                stream(ex, job, chat, id, createdAt, g.includeUsage(), chatPrompt, g);
            } else {
                List<Token> generated = new ArrayList<>();
                Finished f = awaitFinish(job, generated);
                sendJson(ex, 200, completionJson(chat, id, createdAt, f.result(), tokens.length, chatPrompt,
                        g.logprobs() ? generated : null));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SchedulerLoop.shuttingDown();
        } finally {
            job.cancel(); // no-op once finished; ends the sequence if the handler left early
        }
    }

    /**
     * llama-server's per-request {@code "lora": [{"id": i, "scale": s}]}: exactly these of the server's adapters
     * ({@code /lora-adapters}) at these scales for this request (an empty list: none); absent, the server's own set.
     */
    private GenerateOptions requestAdapters(JsonNode body, GenerateOptions options) {
        List<Requests.LoraChoice> choices = Requests.lora(body);
        if (choices == null) {
            return options;
        }
        Map<LoraAdapter, Float> set = new java.util.LinkedHashMap<>();
        for (Requests.LoraChoice c : choices) {
            if (c.id() >= adapters.size()) {
                throw ApiException.badRequest("lora id " + c.id() + " is not one of this server's " + adapters.size()
                        + " adapters (GET /lora-adapters)", "lora");
            }
            set.put(adapters.get(c.id()).getKey(), c.scale());
        }
        return options.toBuilder().loras(set).build();
    }

    /**
     * The opt-in moderation filter: the last user message, classified by the model through the scheduler like any
     * request (one short greedy generation under {@link Moderation}'s label grammar); anything but acceptable is a
     * 400 {@code content_filter} naming the category.
     */
    private void moderate(List<ChatMessage> messages) throws IOException {
        ChatMessage last = null;
        for (ChatMessage m : messages) {
            if (m.role().equals("user")) {
                last = m;
            }
        }
        if (last == null || last.content() == null || last.content().isEmpty()) {
            return;
        }
        GenerateOptions judge = Moderation.generateOptions();
        String prompt;
        try {
            prompt = chatFormat.render(List.of(ChatMessage.user(Moderation.instruction(last.content()))), List.of(),
                    io.github.llamaffm.ToolChoice.AUTO, false, null).text();
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("the model's chat template cannot format these messages: " + e.getMessage(),
                    "messages");
        }
        int[] tokens = tokenize(prompt, judge, "messages");
        if (tokens.length >= loop.sequenceContextSize()) {
            throw ApiException.badRequest("the last user message is too long to moderate in this server's "
                    + loop.sequenceContextSize() + "-token context", "messages", "context_length_exceeded");
        }
        Job job = new Job(tokens, judge, false);
        if (!loop.offer(job)) {
            throw closed ? SchedulerLoop.shuttingDown() : new ApiException(429, "rate_limit_exceeded",
                    "the server is busy; retry later", null, "server_busy");
        }
        Moderation.Category category;
        try {
            category = Moderation.categoryOf(awaitFinish(job, new ArrayList<>()).result().text());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SchedulerLoop.shuttingDown();
        } catch (io.github.llamaffm.LlamaException e) {
            throw new ApiException(500, "server_error", "moderation failed: " + e.getMessage(), null, null);
        } finally {
            job.cancel();
        }
        if (category != Moderation.Category.ACCEPTABLE) {
            throw new ApiException(400, "invalid_request_error", "the last user message was classified as '"
                    + category.label() + "' by the model's self-reflection moderation", "messages", "content_filter");
        }
    }

    /** Tokenizes request text; text the tokenizer refuses (e.g. a lone surrogate from a JSON escape) is a 400. */
    private int[] tokenize(String text, GenerateOptions options, String param) {
        try {
            return model.vocabulary().tokenize(text, options.addSpecial(), options.parseSpecial());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), param);
        }
    }

    /** Waits for the job's end; maps abnormal ends to API errors. */
    private static Finished awaitFinish(Job job, List<Token> tokens) throws InterruptedException {
        while (true) {
            SchedulerLoop.Event e = job.events.take();
            if (e instanceof Finished f) {
                return checked(job, f);
            }
            if (e instanceof TokenEvent t) {
                tokens.add(t.token());
            }
        }
    }

    /** OpenAI's {@code logprobs} of tokens: each chosen token and its {@code top_logprobs} alternatives. */
    private ObjectNode logprobs(List<Token> tokens) {
        ObjectNode lp = Requests.MAPPER.createObjectNode();
        ArrayNode content = lp.putArray("content");
        for (Token t : tokens) {
            if (Float.isNaN(t.probability())) {
                continue; // held-back text released at the end: no new token
            }
            ObjectNode e = logprobEntry(content.addObject(), t.id(), t.logprob());
            ArrayNode top = e.putArray("top_logprobs");
            for (Token.Candidate c : t.top()) {
                logprobEntry(top.addObject(), c.id(), c.logprob());
            }
        }
        return lp;
    }

    /**
     * The legacy {@code /v1/completions} form of logprobs: parallel arrays of token texts, their log-probabilities,
     * a map of the most likely alternatives per token and each token's character offset in the completion text
     * (from {@code offset}, the length of the text already sent).
     */
    private ObjectNode legacyLogprobs(List<Token> tokens, int offset) {
        ObjectNode lp = Requests.MAPPER.createObjectNode();
        ArrayNode texts = lp.putArray("tokens");
        ArrayNode logprobs = lp.putArray("token_logprobs");
        ArrayNode top = lp.putArray("top_logprobs");
        ArrayNode offsets = lp.putArray("text_offset");
        int at = offset;
        for (Token t : tokens) {
            if (Float.isNaN(t.probability())) {
                continue; // held-back text released at the end: no new token
            }
            texts.add(t.text());
            logprobs.add(t.logprob());
            ObjectNode alternatives = top.addObject();
            for (Token.Candidate c : t.top()) {
                alternatives.put(model.vocabulary().piece(c.id()), c.logprob());
            }
            offsets.add(at);
            at += t.text().length();
        }
        return lp;
    }

    private ObjectNode logprobEntry(ObjectNode e, int token, double logprob) {
        String piece = model.vocabulary().piece(token);
        e.put("token", piece).put("logprob", logprob);
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return e;
    }

    private static Finished checked(Job job, Finished f) {
        if (f.error() != null) {
            throw f.error();
        }
        if (f.result().finishReason() == FinishReason.ERROR) {
            Throwable why = f.failure();
            throw new ApiException(500, "server_error", "generation failed: "
                    + (why != null ? why.getMessage() : "unknown error"), null, null);
        }
        if (f.result().finishReason() == FinishReason.CANCELLED && !job.isCancelled()) {
            throw SchedulerLoop.shuttingDown();
        }
        return f;
    }

    private void stream(HttpExchange ex, Job job, boolean chat, String id, long createdAt, boolean includeUsage,
                        ChatFormat.Prompt chatPrompt, Requests.Generate g)
            throws IOException, InterruptedException {
        // With tools the text is parsed as it grows, so tool calls go out as tool_calls deltas, not as content.
        DeltaStream deltas = chat && !g.tools().isEmpty() && g.toolChoice().mode() != io.github.llamaffm.ToolChoice.Mode.NONE
                ? new DeltaStream() : null;
        StringBuilder text = new StringBuilder();
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.getResponseHeaders().set("X-Accel-Buffering", "no");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        try {
            if (chat) {
                ObjectNode first = chunk(true, id, createdAt);
                ObjectNode choice = ((ArrayNode) first.get("choices")).addObject().put("index", 0);
                choice.putObject("delta").put("role", "assistant").put("content", "");
                choice.putNull("logprobs");
                choice.putNull("finish_reason");
                sendEvent(out, first);
            }
            while (true) {
                SchedulerLoop.Event event = job.events.take();
                if (event instanceof TokenEvent t) {
                    if (t.token().text().isEmpty()) {
                        continue;
                    }
                    if (deltas != null) {
                        text.append(t.token().text());
                        for (ObjectNode delta : deltas.next(chatPrompt.parsePartial(text.toString()))) {
                            ObjectNode c = chunk(true, id, createdAt);
                            ObjectNode choice = ((ArrayNode) c.get("choices")).addObject().put("index", 0);
                            choice.set("delta", delta);
                            choice.putNull("logprobs");
                            choice.putNull("finish_reason");
                            sendEvent(out, c);
                        }
                        continue;
                    }
                    ObjectNode c = chunk(chat, id, createdAt);
                    ObjectNode choice = ((ArrayNode) c.get("choices")).addObject().put("index", 0);
                    if (chat) {
                        choice.putObject("delta").put("content", t.token().text());
                    } else {
                        choice.put("text", t.token().text());
                    }
                    if (g.logprobs()) {
                        choice.set("logprobs", chat ? logprobs(List.of(t.token()))
                                : legacyLogprobs(List.of(t.token()), text.length()));
                    } else {
                        choice.putNull("logprobs");
                    }
                    choice.putNull("finish_reason");
                    sendEvent(out, c);
                    text.append(t.token().text());
                    continue;
                }
                Finished f;
                try {
                    f = checked(job, (Finished) event);
                } catch (ApiException e) {
                    // Headers are sent: report in the stream, as OpenAI does, then end it.
                    sendEvent(out, errorJson(e));
                    return;
                }
                boolean calledTools = false;
                if (deltas != null) {
                    ChatReply reply = chatPrompt.parse(f.result());
                    calledTools = reply.hasToolCalls();
                    for (ObjectNode delta : deltas.finish(reply)) {
                        ObjectNode c = chunk(true, id, createdAt);
                        ObjectNode choice = ((ArrayNode) c.get("choices")).addObject().put("index", 0);
                        choice.set("delta", delta);
                        choice.putNull("logprobs");
                        choice.putNull("finish_reason");
                        sendEvent(out, c);
                    }
                }
                ObjectNode last = chunk(chat, id, createdAt);
                ObjectNode choice = ((ArrayNode) last.get("choices")).addObject().put("index", 0);
                if (chat) {
                    choice.putObject("delta");
                } else {
                    choice.put("text", "");
                }
                choice.putNull("logprobs");
                choice.put("finish_reason", calledTools ? "tool_calls" : finishReason(f.result()));
                sendEvent(out, last);
                if (includeUsage) {
                    ObjectNode u = chunk(chat, id, createdAt);
                    u.set("usage", usage(job.prompt.length, f.result()));
                    sendEvent(out, u);
                }
                out.write(SSE_DONE);
                out.flush();
                return;
            }
        } catch (IOException e) {
            job.cancel(); // the client disconnected: free its sequence at the next step
            disconnects.incrementAndGet();
            throw e;
        }
    }

    private ObjectNode chunk(boolean chat, String id, long createdAt) {
        ObjectNode c = Requests.MAPPER.createObjectNode()
                .put("id", id)
                .put("object", chat ? "chat.completion.chunk" : "text_completion")
                .put("created", createdAt)
                .put("model", options.modelId());
        c.putArray("choices");
        return c;
    }

    private static void sendEvent(OutputStream out, JsonNode json) throws IOException {
        out.write(("data: " + Requests.MAPPER.writeValueAsString(json) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private ObjectNode completionJson(boolean chat, String id, long createdAt, GenerationResult r, int promptTokens,
                                      ChatFormat.Prompt chatPrompt, List<Token> logprobTokens) {
        ObjectNode root = Requests.MAPPER.createObjectNode()
                .put("id", id)
                .put("object", chat ? "chat.completion" : "text_completion")
                .put("created", createdAt)
                .put("model", options.modelId());
        ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
        boolean calledTools = false;
        if (chat) {
            ChatReply reply = chatPrompt.parse(r);
            ObjectNode message = choice.putObject("message").put("role", "assistant");
            if (reply.hasToolCalls() && reply.content().isEmpty()) {
                message.putNull("content");
            } else {
                message.put("content", reply.content());
            }
            if (!reply.reasoning().isEmpty()) {
                message.put("reasoning_content", reply.reasoning());
            }
            if (reply.hasToolCalls()) {
                calledTools = true;
                ArrayNode calls = message.putArray("tool_calls");
                for (ToolCall c : reply.toolCalls()) {
                    calls.addObject().put("id", c.id()).put("type", "function").putObject("function")
                            .put("name", c.name()).put("arguments", c.arguments());
                }
            }
        } else {
            choice.put("text", r.text());
        }
        if (logprobTokens != null) {
            choice.set("logprobs", chat ? logprobs(logprobTokens) : legacyLogprobs(logprobTokens, 0));
        } else {
            choice.putNull("logprobs");
        }
        choice.put("finish_reason", calledTools ? "tool_calls" : finishReason(r));
        root.set("usage", usage(promptTokens, r));
        return root;
    }

    private static String finishReason(GenerationResult r) {
        return switch (r.finishReason()) {
            case MAX_TOKENS, CONTEXT_FULL -> "length";
            default -> "stop";
        };
    }

    /** OpenAI's usage object; prompt tokens taken from a sequence's cells (the prompt cache) in its details. */
    private static ObjectNode usage(int promptTokens, GenerationResult r) {
        ObjectNode u = Requests.MAPPER.createObjectNode()
                .put("prompt_tokens", promptTokens)
                .put("completion_tokens", r.generatedTokens())
                .put("total_tokens", promptTokens + r.generatedTokens());
        u.putObject("prompt_tokens_details").put("cached_tokens", r.cachedPromptTokens());
        return u;
    }

    // --- embeddings ---------------------------------------------------------------------------------------------

    /** Most inputs of one {@code /v1/embeddings} request, documents of one {@code /v1/rerank} request. */
    private static final int MAX_INPUTS = 256;
    private static final int MAX_DOCUMENTS = 1024;

    private void embeddings(HttpExchange ex) throws IOException {
        JsonNode body = Requests.parse(readBody(ex));
        requireEmbeddings();
        List<EmbeddingService.Input> inputs = embeddingInputs(body.get("input"));
        String format = body.path("encoding_format").asText("float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiException.badRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format");
        }
        List<EmbeddingService.Embedding> vectors = embeddings.embed(inputs);
        ObjectNode root = Requests.MAPPER.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        int tokens = 0;
        for (int i = 0; i < vectors.size(); i++) {
            EmbeddingService.Embedding e = vectors.get(i);
            tokens += e.tokens();
            ObjectNode item = data.addObject().put("object", "embedding").put("index", i);
            if (format.equals("base64")) {
                ByteBuffer buf = ByteBuffer.allocate(e.vector().length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : e.vector()) {
                    buf.putFloat(v);
                }
                item.put("embedding", Base64.getEncoder().encodeToString(buf.array()));
            } else {
                ArrayNode vec = item.putArray("embedding");
                for (float v : e.vector()) {
                    vec.add(v);
                }
            }
        }
        root.put("model", options.modelId());
        root.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        sendJson(ex, 200, root);
    }

    private void requireEmbeddings() {
        if (!options.embeddings()) {
            throw ApiException.badRequest("embeddings are not enabled on this server (it was started with "
                    + "--no-embeddings)", null, "embeddings_disabled");
        }
    }

    /** OpenAI's {@code input}: a string, strings, token ids (one input) or arrays of token ids (one per input). */
    private static List<EmbeddingService.Input> embeddingInputs(JsonNode input) {
        String shape = "'input' must be a non-empty string, array of strings, array of token ids or array of arrays "
                + "of token ids";
        List<EmbeddingService.Input> inputs = new ArrayList<>();
        if (input != null && input.isTextual()) {
            inputs.add(new EmbeddingService.Input.Text(input.asText()));
        } else if (input != null && input.isArray() && !input.isEmpty() && input.get(0).isIntegralNumber()) {
            inputs.add(new EmbeddingService.Input.Tokens(tokenIds(input, shape)));
        } else if (input != null && input.isArray() && !input.isEmpty()) {
            boolean texts = input.get(0).isTextual();
            for (JsonNode t : input) {
                if (texts && t.isTextual()) {
                    inputs.add(new EmbeddingService.Input.Text(t.asText()));
                } else if (!texts && t.isArray()) {
                    inputs.add(new EmbeddingService.Input.Tokens(tokenIds(t, shape)));
                } else {
                    throw ApiException.badRequest(shape + " (not mixed)", "input");
                }
            }
        } else {
            throw ApiException.badRequest(shape, "input");
        }
        if (inputs.size() > MAX_INPUTS) {
            throw ApiException.badRequest("at most " + MAX_INPUTS + " inputs per request", "input");
        }
        for (EmbeddingService.Input i : inputs) {
            if (i instanceof EmbeddingService.Input.Text t ? t.text().isEmpty()
                    : ((EmbeddingService.Input.Tokens) i).tokens().length == 0) {
                throw ApiException.badRequest("inputs must not be empty", "input");
            }
        }
        return inputs;
    }

    private static int[] tokenIds(JsonNode array, String shape) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = array.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt()) {
                throw ApiException.badRequest(shape + "; found " + t, "input");
            }
            ids[i] = t.intValue();
        }
        return ids;
    }

    /** {@code /v1/rerank}: the shape of Jina's, Cohere's and llama-server's rerank APIs. */
    private void rerank(HttpExchange ex) throws IOException {
        JsonNode body = Requests.parse(readBody(ex));
        requireEmbeddings();
        JsonNode query = body.get("query");
        if (query == null || !query.isTextual() || query.asText().isEmpty()) {
            throw ApiException.badRequest("'query' must be a non-empty string", "query");
        }
        JsonNode docs = body.get("documents");
        if (docs == null || !docs.isArray() || docs.isEmpty()) {
            throw ApiException.badRequest("'documents' must be a non-empty array of strings", "documents");
        }
        if (docs.size() > MAX_DOCUMENTS) {
            throw ApiException.badRequest("at most " + MAX_DOCUMENTS + " documents per request", "documents");
        }
        List<String> documents = new ArrayList<>();
        for (JsonNode d : docs) {
            JsonNode text = d.isObject() ? d.get("text") : d; // Cohere v1 / Jina also take {"text": ...}
            if (text == null || !text.isTextual()) {
                throw ApiException.badRequest("'documents' must be strings (or objects with a string 'text')",
                        "documents");
            }
            documents.add(text.asText());
        }
        int topN = documents.size();
        JsonNode top = body.get("top_n");
        if (top != null && !top.isNull()) {
            if (!top.isIntegralNumber() || !top.canConvertToInt() || top.intValue() < 1) {
                throw ApiException.badRequest("'top_n' must be a positive integer", "top_n");
            }
            topN = Math.min(topN, top.intValue());
        }
        JsonNode returnDocs = body.get("return_documents");
        if (returnDocs != null && !returnDocs.isNull() && !returnDocs.isBoolean()) {
            throw ApiException.badRequest("'return_documents' must be a boolean", "return_documents");
        }
        boolean withDocuments = returnDocs != null && returnDocs.asBoolean();
        List<RerankScore> scores = new ArrayList<>(embeddings.rerank(query.asText(), documents));
        int tokens = scores.stream().mapToInt(RerankScore::tokens).sum();
        scores.sort(Comparator.comparingDouble((RerankScore s) -> s.score()).reversed());
        ObjectNode root = Requests.MAPPER.createObjectNode().put("object", "list").put("model", options.modelId());
        ArrayNode results = root.putArray("results");
        for (RerankScore s : scores.subList(0, topN)) {
            ObjectNode r = results.addObject().put("index", s.index()).put("relevance_score", s.score());
            if (withDocuments) {
                r.putObject("document").put("text", documents.get(s.index()));
            }
        }
        root.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        sendJson(ex, 200, root);
    }

    // --- plumbing -------------------------------------------------------------------------------------------

    /** The body, at most {@link Options#maxBodyBytes()} bytes (413 beyond, before reading it when the length is declared). */
    private byte[] readBody(HttpExchange ex) throws IOException {
        long max = options.maxBodyBytes();
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            long length;
            try {
                length = Long.parseLong(declared.strip());
            } catch (NumberFormatException e) {
                throw ApiException.badRequest("invalid Content-Length", null);
            }
            if (length > max) {
                throw tooLarge(max);
            }
        }
        try (InputStream in = ex.getRequestBody()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
            if (body.length > max) {
                throw tooLarge(max);
            }
            bodyRead.add(ex);
            return body;
        }
    }

    /**
     * Exchanges whose whole request body {@link #readBody} has read, until {@link #handle} ends (not an exchange
     * attribute: the JDK keeps those per context, shared by all exchanges).
     */
    private final Set<HttpExchange> bodyRead = ConcurrentHashMap.newKeySet();
    /** Largest unread request body drained before an error answer so that the connection stays reusable. */
    private static final long DRAIN_LIMIT = 64 * 1024;

    /**
     * Before an error answer to a request whose body was not read (404, 405, 401, 413, ...): the JDK server closes a
     * connection with unread request bytes right after the response, without saying so, and a client that pooled
     * the connection then fails its next request on it ("received no bytes"; found by SoakTest). A small declared
     * body is read and dropped; otherwise the answer says {@code Connection: close}.
     */
    private void settleUnreadBody(HttpExchange ex) {
        if (bodyRead.contains(ex)) {
            return;
        }
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        boolean chunked = ex.getRequestHeaders().getFirst("Transfer-Encoding") != null;
        long declared;
        try {
            declared = length == null ? (chunked ? -1 : 0) : Long.parseLong(length.strip());
        } catch (NumberFormatException e) {
            declared = -1;
        }
        if (declared >= 0 && declared <= DRAIN_LIMIT) {
            try {
                InputStream in = ex.getRequestBody();
                in.skipNBytes(declared);
                if (in.read() < 0) {
                    return;
                }
            } catch (IOException | RuntimeException e) {
                // fall through: close
            }
        }
        ex.getResponseHeaders().set("Connection", "close");
    }

    private static ApiException tooLarge(long max) {
        return new ApiException(413, "invalid_request_error", "the request body is larger than this server's limit of "
                + max + " bytes", null, "request_too_large");
    }

    private static ObjectNode errorJson(ApiException e) {
        ObjectNode root = Requests.MAPPER.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        if (e.param() != null) {
            err.put("param", e.param());
        } else {
            err.putNull("param");
        }
        if (e.code() != null) {
            err.put("code", e.code());
        } else {
            err.putNull("code");
        }
        return root;
    }

    private void sendError(HttpExchange ex, ApiException e) {
        settleUnreadBody(ex);
        try {
            sendJson(ex, e.status(), errorJson(e));
        } catch (IOException | RuntimeException ignored) {
            // Headers already sent or the client is gone: nothing more to say.
        }
    }

    private static void sendJson(HttpExchange ex, int status, JsonNode json) throws IOException {
        byte[] bytes = Requests.MAPPER.writeValueAsBytes(json);
        ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
