package io.github.llamaffm;

import java.nio.file.Path;

/**
 * Child-JVM entry point for {@link BackendChoiceTest}: prints the backend chosen and why, then (given a model path)
 * generates a few tokens greedily and prints them.
 */
public final class BackendProbe {
    private BackendProbe() {}

    public static void main(String[] args) {
        LlamaRuntime.Backend backend = LlamaRuntime.backend();
        System.out.println("backend=" + backend.name());
        System.out.println("reason=" + backend.reason());
        System.out.println("skipped=" + backend.skipped());
        if (args.length > 0) {
            try (LlamaModel model = LlamaModel.load(Path.of(args[0]), ModelOptions.builder().build());
                 LlamaContext ctx = model.newContext(ContextOptions.builder().contextSize(128).build())) {
                String text = ctx.generate("Once upon a time", GenerateOptions.builder().maxTokens(8)
                        .sampler(Sampler.greedy()).build()).text();
                System.out.println("generated=" + text.length() + " chars: " + text.replace('\n', ' '));
            }
        }
    }
}
