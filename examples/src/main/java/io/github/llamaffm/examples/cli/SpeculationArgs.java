package io.github.llamaffm.examples.cli;

import io.github.llamaffm.ContextOptions;
import io.github.llamaffm.GenerateOptions;
import io.github.llamaffm.LlamaContext;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.ModelOptions;
import io.github.llamaffm.Speculation;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Speculative decoding options of the generating commands: a draft model, or n-gram lookup. */
public final class SpeculationArgs {
    @Option(names = "--draft-model", paramLabel = "FILE", order = 50,
            description = "Speculative decoding with this smaller GGUF model of the same vocabulary: it guesses "
                    + "tokens that the model checks in one batch (same output, fewer decode steps).")
    Path draftModel;

    @Option(names = "--draft-max", paramLabel = "N", order = 51,
            description = "Most tokens guessed per step. Default: " + Speculation.DEFAULT_DRAFT_MAX
                    + " with --draft-model, " + Speculation.DEFAULT_NGRAM_DRAFT_MAX + " with --lookup-ngram.")
    Integer draftMax;

    @Option(names = "--draft-p-min", paramLabel = "P", order = 52,
            description = "Stop guessing at a draft token below this probability (default 0: never).")
    Float draftMinProbability;

    @Option(names = "--lookup-ngram", paramLabel = "N", order = 53,
            description = "Speculative decoding without a second model: guess what followed the last N tokens "
                    + "earlier in the prompt or output (prompt lookup; llama.cpp uses N = "
                    + Speculation.DEFAULT_NGRAM_SIZE + ").")
    Integer lookupNgram;

    /** Checks the values; throws picocli's usage error (exit code 2) naming the option. */
    void validate(CommandSpec spec) {
        if (draftModel != null && lookupNgram != null) {
            throw new ParameterException(spec.commandLine(), "--draft-model and --lookup-ngram exclude each other");
        }
        if (draftModel == null && lookupNgram == null && (draftMax != null || draftMinProbability != null)) {
            throw new ParameterException(spec.commandLine(), "--draft-max and --draft-p-min need --draft-model or "
                    + "--lookup-ngram");
        }
        if (draftModel != null && !Files.isRegularFile(draftModel)) {
            throw new ParameterException(spec.commandLine(), "--draft-model: no such file: " + draftModel);
        }
        if (lookupNgram != null && draftMinProbability != null) {
            throw new ParameterException(spec.commandLine(), "--draft-p-min applies to --draft-model");
        }
        if (draftMinProbability != null && !(draftMinProbability >= 0 && draftMinProbability <= 1)) {
            throw new ParameterException(spec.commandLine(), "--draft-p-min must be in [0, 1], was "
                    + draftMinProbability);
        }
        try { // the library's own checks of the n-gram size and --draft-max
            Speculation.ngram(lookupNgram != null ? lookupNgram : 1,
                    draftMax != null ? draftMax : Speculation.DEFAULT_NGRAM_DRAFT_MAX);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), (e.getMessage().startsWith("ngramSize")
                    ? "--lookup-ngram: " : "--draft-max: ") + e.getMessage());
        }
    }

    /**
     * Loads the draft model (if any) with a context as large as {@code target}'s and returns what to add to the
     * generate options; close it after the generation.
     */
    Drafting open(LlamaContext target, ModelOptions.Builder modelOptions) {
        if (lookupNgram != null) {
            return new Drafting(null, null, Speculation.ngram(lookupNgram,
                    draftMax != null ? draftMax : Speculation.DEFAULT_NGRAM_DRAFT_MAX));
        }
        if (draftModel == null) {
            return new Drafting(null, null, null);
        }
        LlamaModel model = LlamaModel.load(draftModel, modelOptions.build());
        try {
            LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(target.contextSize())
                    .threads(target.settings().threads()).build());
            Speculation s = Speculation.draft(ctx);
            if (draftMax != null) {
                s = s.withDraftMax(draftMax);
            }
            if (draftMinProbability != null) {
                s = s.withMinProbability(draftMinProbability);
            }
            return new Drafting(model, ctx, s);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The draft model and context (null without one) and the speculation (null without any). */
    record Drafting(LlamaModel model, LlamaContext context, Speculation speculation) implements AutoCloseable {
        GenerateOptions apply(GenerateOptions options) {
            return speculation == null ? options : options.toBuilder().speculation(speculation).build();
        }

        @Override
        public void close() {
            if (context != null) {
                context.close();
            }
            if (model != null) {
                model.close();
            }
        }
    }
}
