package io.github.llamaffm.examples;

import org.junit.jupiter.api.Tag;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.examples.cli.DemoModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs the CLI in-process on the demo model, generated into a temporary cache directory. */
@Tag("tiny-model")
class CliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path demoCache;

    record Run(int code, String out, String err) {
        JsonNode json() throws Exception {
            return JSON.readTree(out);
        }
    }

    /** Runs {@code llama-ffm args... --demo-cache <tmp>} with empty standard input. */
    static Run run(String... args) {
        return runWithInput("", args);
    }

    static Run runWithInput(String stdin, String... args) {
        return runIn(demoCache, stdin, args);
    }

    /** Runs {@code llama-ffm args... --demo-cache <cache>} with {@code stdin} as standard input. */
    static Run runIn(Path cache, String stdin, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        if (!all.isEmpty() && !all.getFirst().startsWith("-") && !all.getFirst().equals("help")) {
            all.add("--demo-cache");
            all.add(cache.toString());
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        Cli cli = new Cli(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        int code = Cli.commandLine(cli, new PrintWriter(out, true), new PrintWriter(err, true))
                .execute(all.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void infoJsonDescribesTheDemoModel() throws Exception {
        Run r = run("info", "--json");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains(DemoModel.LABEL);
        JsonNode model = r.json().get("model");
        assertThat(model.get("layers").asInt()).isEqualTo(DemoModel.SPEC.layers());
        assertThat(model.get("heads").asInt()).isEqualTo(DemoModel.SPEC.heads());
        assertThat(model.get("kvHeads").asInt()).isEqualTo(DemoModel.SPEC.kvHeads());
        assertThat(model.get("embeddingSize").asInt()).isEqualTo(DemoModel.SPEC.embeddingSize());
        assertThat(model.get("trainingContext").asInt()).isEqualTo(DemoModel.SPEC.contextLength());
        assertThat(model.get("vocabularySize").asInt()).isEqualTo(32000);
        assertThat(model.get("hasChatTemplate").asBoolean()).isTrue();
        assertThat(model.get("demoModel").asBoolean()).isTrue();
        assertThat(Path.of(model.get("path").asText())).startsWith(demoCache);
        JsonNode runtime = r.json().get("runtime");
        assertThat(runtime.get("systemInfo").asText()).isNotBlank();
        assertThat(runtime.get("devices").size()).isPositive();
    }

    @Test
    void infoTextListsShapeAndRuntime() {
        Run r = run("info");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("layers:", "kv heads:", "sliding window:", "chat template:     yes",
                "system info:", "devices:");
    }

    @Test
    void generateJsonStopsAtMaxTokens() throws Exception {
        Run r = run("generate", "--max-tokens", "5", "--seed", "1", "--json", "Hi");

        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = r.json();
        assertThat(json.get("generatedTokens").asInt()).isEqualTo(5);
        assertThat(json.get("finishReason").asText()).isEqualTo("MAX_TOKENS");
        assertThat(json.get("promptTokens").asInt()).isEqualTo(2); // <s> Hi
        assertThat(json.get("text").asText()).isNotEmpty();
        assertThat(json.get("tokensPerSecond").asDouble()).isPositive();
        assertThat(r.err()).contains(DemoModel.LABEL);
    }

    @Test
    void rpcEndpointsAreCheckedBeforeLoading() throws Exception {
        Run bad = run("generate", "-n", "4", "--rpc", "10.0.0.2", "Hello");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--rpc: RPC endpoint must be host:port, was '10.0.0.2'");

        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Run dead = run("generate", "-n", "4", "--rpc", "127.0.0.1:" + port, "Hello");
        assertThat(dead.code()).isEqualTo(1);
        assertThat(dead.err()).contains("RPC server 127.0.0.1:" + port).contains("connection refused");
    }

    @Test
    void rpcServerRefusesANonNumericHostAndWarnsOffLoopback() {
        StringWriter err = new StringWriter();
        int code = Cli.commandLine(new Cli(new ByteArrayInputStream(new byte[0])), new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true)).execute("rpc-server", "--host", "example.com");
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("--host must be an IPv4 address");
        assertThat(io.github.llamaffm.examples.cli.RpcServerCommand.isLoopback("127.0.0.1")).isTrue();
        assertThat(io.github.llamaffm.examples.cli.RpcServerCommand.isLoopback("10.0.0.2")).isFalse();
    }

    @Test
    void contextShiftGoesPastTheContextAndLoraErrorsAreClear() throws Exception {
        Run full = run("generate", "-n", "300", "--temperature", "0", "--ctx-size", "256", "--json", "Hi");
        assertThat(full.code()).as(full.err()).isZero();
        assertThat(full.json().get("finishReason").asText()).isEqualTo("CONTEXT_FULL");
        Run shifted = run("generate", "-n", "300", "--temperature", "0", "--ctx-size", "256", "--context-shift",
                "--keep", "2", "--json", "Hi");
        assertThat(shifted.code()).as(shifted.err()).isZero();
        assertThat(shifted.json().get("finishReason").asText()).isEqualTo("MAX_TOKENS");
        assertThat(shifted.json().get("generatedTokens").asInt()).isEqualTo(300);

        Run missing = run("generate", "-n", "2", "--lora", "no-such-adapter.gguf", "Hi");
        assertThat(missing.code()).isNotZero();
        assertThat(missing.err()).contains("no-such-adapter.gguf").doesNotContain("\tat ");
        Run badScale = run("generate", "-n", "2", "--lora-scaled", "x.gguf", "big", "Hi");
        assertThat(badScale.code()).isNotZero();
        assertThat(badScale.err()).contains("SCALE must be a number");
    }

    @Test
    void speculativeDecodingKeepsTheOutput() throws Exception {
        Run plain = run("generate", "-n", "24", "--temperature", "0", "--json", "Once upon a time");
        assertThat(plain.code()).as(plain.err()).isZero();
        String model = plain.json().get("model").asText(); // the demo model, drafting for itself
        Run drafted = run("generate", "-n", "24", "--temperature", "0", "--draft-model", model, "--draft-max", "4",
                "--json", "Once upon a time");
        assertThat(drafted.code()).as(drafted.err()).isZero();
        assertThat(drafted.json().get("text").asText()).isEqualTo(plain.json().get("text").asText());
        assertThat(drafted.json().get("draftTokens").asInt()).isPositive();
        assertThat(drafted.json().get("acceptedDraftTokens").asInt()).isPositive();
        Run lookup = run("generate", "-n", "24", "--temperature", "0", "--lookup-ngram", "1", "--json",
                "Once upon a time");
        assertThat(lookup.code()).as(lookup.err()).isZero();
        assertThat(lookup.json().get("text").asText()).isEqualTo(plain.json().get("text").asText());
        Run streamed = run("generate", "-n", "8", "--temperature", "0", "--draft-model", model, "Once upon a time");
        assertThat(streamed.err()).contains("draft: ");

        Run both = run("generate", "--draft-model", model, "--lookup-ngram", "2", "Hi");
        assertThat(both.code()).isEqualTo(2);
        assertThat(both.err()).contains("exclude each other");
        Run alone = run("generate", "--draft-max", "3", "Hi");
        assertThat(alone.code()).isEqualTo(2);
        assertThat(alone.err()).contains("need --draft-model or --lookup-ngram");
        Run tooMany = run("generate", "--lookup-ngram", "2", "--draft-max", "1000", "Hi");
        assertThat(tooMany.code()).isEqualTo(2);
        assertThat(tooMany.err()).contains("--draft-max: draftMax must be in 1..256");
    }

    @Test
    void sameSeedGivesSameText() throws Exception {
        Run a = run("generate", "-n", "12", "--seed", "42", "--json", "Once upon a time");
        Run b = run("generate", "-n", "12", "--seed", "42", "--json", "Once upon a time");

        assertThat(a.json().get("text").asText()).isEqualTo(b.json().get("text").asText());
    }

    @Test
    void generateStreamsTextAndPrintsSpeed() {
        Run r = run("generate", "-n", "8", "--temperature", "0", "--top-k", "10", "--top-p", "0.9", "--min-p", "0.1",
                "--repeat-penalty", "1.1", "--threads", "2", "--ctx-size", "256", "--stop", "zzzz", "Hello");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isNotBlank().endsWith("\n");
        assertThat(r.err()).containsPattern("(?m)^8 tokens, [0-9.]+ tok/s");
    }

    @Test
    void grammarConstrainsTheOutput(@TempDir Path dir) throws Exception {
        Path grammar = dir.resolve("yesno.gbnf");
        Files.writeString(grammar, "root ::= (\"yes\" | \"no\")\n");

        Run r = run("generate", "-n", "8", "--seed", "3", "--grammar-file", grammar.toString(), "--json", "Answer:");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.json().get("text").asText()).isIn("yes", "no");
    }

    @Test
    void embedPrintsUnitVectorsAndSimilarities() throws Exception {
        Run r = run("embed", "--json", "sliding window", "rolling buffer", "sliding window");

        assertThat(r.code()).as(r.err()).isZero();
        JsonNode data = r.json().get("data");
        assertThat(r.json().get("dimensions").asInt()).isEqualTo(DemoModel.SPEC.embeddingSize());
        assertThat(data).hasSize(3);
        double norm = 0;
        for (JsonNode v : data.get(0).get("embedding")) {
            norm += v.asDouble() * v.asDouble();
        }
        assertThat(Math.sqrt(norm)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-4));
        assertThat(data.get(0).get("embedding")).isEqualTo(data.get(2).get("embedding"));
        assertThat(data.get(0).get("embedding")).isNotEqualTo(data.get(1).get("embedding"));

        Run plain = run("embed", "one", "two");
        assertThat(plain.code()).as(plain.err()).isZero();
        assertThat(plain.out().lines().count()).isEqualTo(2);
        assertThat(plain.err()).contains("cosine similarity:", " 1.0000");
    }

    @Test
    void tokenizePrintsIdsAndPieces() {
        Run r = run("tokenize", "Hello world");

        assertThat(r.code()).as(r.err()).isZero();
        List<String> lines = r.out().lines().map(String::strip).toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.getFirst()).startsWith("1 ->").isEqualTo("1 -> '<s>'");
        assertThat(lines.get(1)).isEqualTo("15043 -> ' Hello'");
        assertThat(lines.get(2)).isEqualTo("3186 -> ' world'");
    }

    @Test
    void tokenizeIdsAndJson() throws Exception {
        assertThat(run("tokenize", "--ids", "Hello world").out().strip()).isEqualTo("[1, 15043, 3186]");
        assertThat(run("tokenize", "--ids", "--no-bos", "Hello world").out().strip()).isEqualTo("[15043, 3186]");
        JsonNode json = run("tokenize", "--json", "Hello world").json();
        assertThat(json.get("count").asInt()).isEqualTo(3);
        assertThat(json.get("tokens").get(1).get("piece").asText()).isEqualTo(" Hello");
    }

    @Test
    void missingModelFileIsARuntimeErrorNamingThePath(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-model.gguf");

        Run r = run("generate", "--model", missing.toString(), "Hi");

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains(missing.toString()).contains("not found").doesNotContain("\tat ");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void unsupportedUrlSchemesAreARuntimeError() { // http(s):// and hf: downloads: see ModelDownloadTest
        Run r = run("info", "--model", "ftp://example.com/model.gguf");

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("unsupported URL").doesNotContain("\tat ");
    }

    @Test
    void badFlagValueIsAUsageError() {
        Run r = run("generate", "--max-tokens", "-3", "Hi");

        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--max-tokens must be > 0, was -3").contains("--help");
    }

    @Test
    void otherUsageErrors() {
        assertThat(run("generate", "--top-p", "1.5", "Hi").err()).contains("--top-p must be in [0, 1]");
        assertThat(run("generate", "--seed", "-2", "Hi").code()).isEqualTo(2);
        Run notANumber = run("generate", "--threads", "many", "Hi");
        assertThat(notANumber.code()).isEqualTo(2);
        assertThat(notANumber.err()).contains("--threads").contains("many");
        Run unknown = run("generate", "--temprature", "0.5", "Hi");
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("--temprature");
        assertThat(run("generate").code()).isEqualTo(2); // no prompt
        assertThat(run().code()).isEqualTo(2); // no command
    }

    @Test
    void helpAndVersion() {
        Run help = run("--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("generate", "chat", "info", "tokenize", "bench");
        Run sub = run("generate", "--help");
        assertThat(sub.code()).isZero();
        assertThat(sub.out()).contains("--max-tokens", "--grammar-file", "--sliding-window", "--swa-full", "--json")
                .doesNotContain("--demo-cache");
        Run version = run("--version");
        assertThat(version.code()).isZero();
        assertThat(version.out()).contains("llama.cpp " + LlamaRuntime.llamaCppVersion());
    }

    @Test
    void chatRepliesUntilExit() {
        Run r = runWithInput("Hello there\n\n/reset\nAnd again\n/exit\nnot read\n",
                "chat", "--system", "Be brief.", "-n", "6", "--seed", "5", "--stats");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("> ");
        assertThat(r.err()).contains(DemoModel.LABEL).contains("(conversation reset)");
        assertThat(r.err().lines().filter(l -> l.startsWith("6 tokens, "))).hasSize(2);
    }

    @Test
    void chatEndsAtEndOfInput() {
        Run r = runWithInput("Hi\n", "chat", "-n", "3");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().split("> ", -1)).hasSize(3); // prompt, reply, prompt, EOF
    }

    @Test
    void benchPrintsPpAndTg() {
        Run r = run("bench", "-p", "16", "-n", "4", "-r", "2", "-t", "2");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("\\| pp16 +\\| +[0-9.]+ ± [0-9.]+ \\|")
                .containsPattern("\\| tg4 +\\| +[0-9.]+ ± [0-9.]+ \\|");
    }

    @Test
    void benchComparesWithLlamaBench() throws Exception {
        assumeTrue(Files.isExecutable(LlamaRuntime.libraryDirectory().resolve("llama-bench")),
                "llama-bench was not built");

        Run r = run("bench", "-p", "16", "-n", "4", "-r", "1", "-t", "2", "--compare", "--json");

        assertThat(r.code()).as(r.err()).isZero();
        JsonNode results = r.json().get("results");
        assertThat(results).hasSize(2);
        for (JsonNode row : results) {
            assertThat(row.get("avgTs").asDouble()).isPositive();
            assertThat(row.get("llamaBenchAvgTs").asDouble()).isPositive();
            assertThat(row.get("ratio").asDouble()).isPositive();
        }
    }
}
