package io.github.llamaffm.examples.cli;

import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.Sampler;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Sampling and stopping options of {@code generate} and {@code chat}. Unset options keep llama.cpp's defaults. */
public final class SamplingArgs {
    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", order = 20,
            description = "Most tokens to generate. Default: ${DEFAULT-VALUE}.")
    int maxTokens = 512;

    @Option(names = {"--temperature", "--temp"}, paramLabel = "T", order = 21,
            description = "Sampling temperature; 0 = greedy. Default: 0.8.")
    Float temperature;

    @Option(names = "--top-k", paramLabel = "K", order = 22, description = "Top-k; 0 = off. Default: 40.")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", order = 23, description = "Top-p (nucleus); 1 = off. Default: 0.95.")
    Float topP;

    @Option(names = "--min-p", paramLabel = "P", order = 24, description = "Min-p; 0 = off. Default: 0.05.")
    Float minP;

    @Option(names = {"-s", "--seed"}, paramLabel = "SEED", order = 25,
            description = "Sampling seed, 0..4294967295; -1 = random (default).")
    long seed = -1;

    @Option(names = "--repeat-penalty", paramLabel = "X", order = 26,
            description = "Penalty for repeating recent tokens; 1 = off (default).")
    Float repeatPenalty;

    @Option(names = "--repeat-last-n", paramLabel = "N", order = 27,
            description = "How many recent tokens --repeat-penalty looks at. Default: 64.")
    Integer repeatLastN;

    @Option(names = "--stop", paramLabel = "TEXT", order = 28,
            description = "Stop before this text (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--grammar-file", paramLabel = "FILE", order = 29,
            description = "Constrain the output to a GBNF grammar (llama.cpp's grammars/README.md).")
    Path grammarFile;

    void validate(CommandSpec spec) {
        if (maxTokens <= 0) {
            throw usage(spec, "--max-tokens must be > 0, was " + maxTokens);
        }
        if (temperature != null && !(temperature >= 0 && Float.isFinite(temperature))) {
            throw usage(spec, "--temperature must be >= 0, was " + temperature);
        }
        if (topK != null && topK < 0) {
            throw usage(spec, "--top-k must be >= 0 (0 = off), was " + topK);
        }
        if (topP != null && !(topP >= 0 && topP <= 1)) {
            throw usage(spec, "--top-p must be in [0, 1], was " + topP);
        }
        if (minP != null && !(minP >= 0 && minP <= 1)) {
            throw usage(spec, "--min-p must be in [0, 1], was " + minP);
        }
        if (seed != -1 && (seed < 0 || seed > 0xFFFFFFFFL)) {
            throw usage(spec, "--seed must be -1 (random) or in 0..4294967295, was " + seed);
        }
        if (repeatPenalty != null && !(repeatPenalty > 0 && Float.isFinite(repeatPenalty))) {
            throw usage(spec, "--repeat-penalty must be > 0 (1 = off), was " + repeatPenalty);
        }
        if (repeatLastN != null && repeatLastN < 0) {
            throw usage(spec, "--repeat-last-n must be >= 0, was " + repeatLastN);
        }
        for (String s : stop) {
            if (s.isEmpty()) {
                throw usage(spec, "--stop must not be empty");
            }
        }
    }

    private static ParameterException usage(CommandSpec spec, String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    Sampler sampler() {
        Sampler.Builder b = Sampler.builder();
        if (temperature != null) {
            b.temperature(temperature);
        }
        if (topK != null) {
            b.topK(topK);
        }
        if (topP != null) {
            b.topP(topP);
        }
        if (minP != null) {
            b.minP(minP);
        }
        b.seed(seed == -1 ? Sampler.RANDOM_SEED : seed);
        if (repeatPenalty != null) {
            b.penalties(p -> p.withRepeat(repeatPenalty));
        }
        if (repeatLastN != null) {
            b.penalties(p -> p.withLastN(repeatLastN));
        }
        if (grammarFile != null) {
            b.grammar(readGrammar());
        }
        return b.build();
    }

    private String readGrammar() {
        if (!Files.isRegularFile(grammarFile)) {
            throw new CliException("grammar file not found: " + grammarFile.toAbsolutePath().normalize());
        }
        try {
            String g = Files.readString(grammarFile, StandardCharsets.UTF_8);
            if (g.isBlank()) {
                throw new CliException("grammar file is empty: " + grammarFile.toAbsolutePath().normalize());
            }
            return g;
        } catch (IOException e) {
            throw new CliException("cannot read grammar file " + grammarFile + ": " + e.getMessage(), e);
        }
    }

    GenerateOptions options() {
        return GenerateOptions.builder()
                .maxTokens(maxTokens)
                .sampler(sampler())
                .stopStrings(stop)
                .build();
    }
}
