package io.github.llamaffm.benchmarks;

import io.github.llamaffm.gguf.GgmlType;
import io.github.llamaffm.internal.TinyModel;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes the generated models of {@code benchmarks/suite.sh} (random weights: only the shapes matter for speed).
 * {@code SuiteModels tiny} prints the path of the cached 8x512 F16 model of the JMH benchmarks;
 * {@code SuiteModels mistral LAYERS OUT} writes a Mistral-7B-shaped F16 model with LAYERS layers to OUT (the
 * suite quantizes it to Q4_0 with upstream llama-quantize).
 */
public final class SuiteModels {
    private SuiteModels() {}

    /** Mistral 7B's layer shapes: 4096 wide, feed-forward 14336, 32 query / 8 key-value heads, its 32k vocabulary. */
    static TinyModel.Spec mistralShaped(int layers) {
        return TinyModel.Spec.builder().layers(layers).embeddingSize(4096).heads(32).kvHeads(8)
                .feedForwardSize(14336).contextLength(32768).ropeFreqBase(1_000_000f).rmsEps(1e-5f)
                .tensorType(GgmlType.F16).seed(7).name("mistral-7b-shaped-" + layers + "l").build();
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 1 && args[0].equals("tiny")) {
            System.out.println(BenchModels.model());
        } else if (args.length == 3 && args[0].equals("mistral")) {
            Path vocab = BenchModels.vocabulary();
            TinyModel.write(mistralShaped(Integer.parseInt(args[1])), vocab, Path.of(args[2]));
            System.out.println(args[2]);
        } else {
            System.err.println("usage: SuiteModels tiny | SuiteModels mistral LAYERS OUT.gguf");
            System.exit(2);
        }
    }
}
