package io.github.llamaffm.examples.cli;

import io.github.llamaffm.BackendDevice;
import io.github.llamaffm.LlamaModel;
import io.github.llamaffm.LlamaRuntime;
import io.github.llamaffm.ModelInfo;
import io.github.llamaffm.examples.Cli;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code llama-ffm info}: what a model is, and what the loaded llama.cpp can do. */
@Command(name = "info", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = "Print the model's shape and metadata, llama.cpp's build features and the compute devices.")
public final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Cli cli;

    @Mixin
    ModelArgs modelArgs;

    @Option(names = "--metadata", order = 40, description = "Also print all GGUF metadata.")
    boolean metadata;

    @Option(names = "--json", order = 41, description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        modelArgs.validate(spec);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LlamaModel model = modelArgs.load(err, cli.showProgress(), false)) {
            ModelInfo info = model.info();
            List<BackendDevice> devices = LlamaRuntime.devices();
            if (json) {
                Json.print(out, toJson(model, info, devices));
            } else {
                printText(out, model, info, devices);
            }
        }
        return 0;
    }

    private Map<String, Object> toJson(LlamaModel model, ModelInfo info, List<BackendDevice> devices) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", model.path().toString());
        m.put("demoModel", modelArgs.isDemo());
        m.put("architecture", info.architecture());
        m.put("name", info.metadata().getOrDefault("general.name", ""));
        m.put("description", info.description());
        m.put("sizeBytes", info.sizeBytes());
        m.put("parameterCount", info.parameterCount());
        m.put("trainingContext", info.trainingContext());
        m.put("embeddingSize", info.embeddingSize());
        m.put("layers", info.layers());
        m.put("heads", info.heads());
        m.put("kvHeads", info.kvHeads());
        m.put("slidingWindow", info.slidingWindow());
        m.put("vocabularySize", info.vocabularySize());
        m.put("hasChatTemplate", info.chatTemplate().isPresent());
        m.put("chatTemplate", info.chatTemplate().orElse(null));
        if (metadata) {
            m.put("metadata", info.metadata());
        }
        Map<String, Object> runtime = new LinkedHashMap<>();
        runtime.put("llamaCppVersion", LlamaRuntime.llamaCppVersion());
        runtime.put("libraryDirectory", LlamaRuntime.libraryDirectory().toString());
        runtime.put("backend", LlamaRuntime.backend().name());
        runtime.put("backendReason", LlamaRuntime.backend().reason());
        runtime.put("systemInfo", LlamaRuntime.systemInfo().strip());
        runtime.put("gpuOffload", LlamaRuntime.supportsGpuOffload());
        runtime.put("mmap", LlamaRuntime.supportsMmap());
        runtime.put("mlock", LlamaRuntime.supportsMlock());
        List<Map<String, Object>> devs = new ArrayList<>();
        for (BackendDevice d : devices) {
            Map<String, Object> dm = new LinkedHashMap<>();
            dm.put("name", d.name());
            dm.put("description", d.description());
            dm.put("type", d.type().name());
            dm.put("freeBytes", d.freeBytes());
            dm.put("totalBytes", d.totalBytes());
            devs.add(dm);
        }
        runtime.put("devices", devs);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", m);
        root.put("runtime", runtime);
        return root;
    }

    private void printText(PrintWriter out, LlamaModel model, ModelInfo info, List<BackendDevice> devices) {
        row(out, "model", model.path() + (modelArgs.isDemo() ? "  (built-in demo, random weights)" : ""));
        row(out, "name", info.metadata().getOrDefault("general.name", "-"));
        row(out, "architecture", info.architecture());
        row(out, "description", info.description());
        row(out, "size", bytes(info.sizeBytes()));
        row(out, "parameters", count(info.parameterCount()));
        row(out, "training context", info.trainingContext() + " tokens");
        row(out, "embedding size", String.valueOf(info.embeddingSize()));
        row(out, "layers", String.valueOf(info.layers()));
        row(out, "attention heads", String.valueOf(info.heads()));
        String gqa = info.kvHeads() > 0 && info.kvHeads() < info.heads()
                ? "  (grouped-query attention: " + info.heads() / info.kvHeads() + " query heads per KV head)" : "";
        row(out, "kv heads", info.kvHeads() + gqa);
        row(out, "sliding window", info.slidingWindow() > 0 ? info.slidingWindow() + " tokens" : "none (full attention)");
        row(out, "vocabulary", info.vocabularySize() + " tokens");
        row(out, "chat template", info.chatTemplate().isPresent()
                ? "yes (" + info.chatTemplate().get().length() + " characters)" : "no (chat falls back to a built-in one)");
        out.println();
        row(out, "llama.cpp", LlamaRuntime.llamaCppVersion() + " from " + LlamaRuntime.libraryDirectory());
        row(out, "backend", LlamaRuntime.backend().name() + " — " + LlamaRuntime.backend().reason());
        row(out, "system info", LlamaRuntime.systemInfo().strip());
        row(out, "gpu offload", LlamaRuntime.supportsGpuOffload() ? "supported" : "not supported (CPU-only build)");
        for (int i = 0; i < devices.size(); i++) {
            BackendDevice d = devices.get(i);
            String mem = d.totalBytes() > 0 ? ", " + bytes(d.freeBytes()) + " free of " + bytes(d.totalBytes()) : "";
            row(out, i == 0 ? "devices" : "", d.name() + " (" + d.type().name().toLowerCase(Locale.ROOT) + "): "
                    + d.description() + mem);
        }
        if (metadata) {
            out.println();
            out.println("metadata:");
            info.metadata().forEach((k, v) -> out.println("  " + k + " = " + oneLine(v)));
        }
        out.flush();
    }

    private static String oneLine(String v) {
        String s = v.replace("\n", "\\n");
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    private static void row(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "%-18s %s%n", key.isEmpty() ? "" : key + ":", value);
    }

    static String bytes(long n) {
        if (n >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        }
        if (n >= 1L << 20) {
            return String.format(Locale.ROOT, "%.2f MiB", n / (double) (1L << 20));
        }
        if (n >= 1L << 10) {
            return String.format(Locale.ROOT, "%.2f KiB", n / 1024.0);
        }
        return n + " B";
    }

    static String count(long n) {
        if (n >= 1_000_000_000L) {
            return String.format(Locale.ROOT, "%.2f B", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format(Locale.ROOT, "%.2f M", n / 1e6);
        }
        if (n >= 1_000L) {
            return String.format(Locale.ROOT, "%.2f K", n / 1e3);
        }
        return String.valueOf(n);
    }
}
