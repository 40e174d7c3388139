package io.github.llamaffm;

import org.junit.jupiter.api.Tag;
import io.github.llamaffm.internal.TinyModel;
import io.github.llamaffm.internal.NativeRuntime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The library loads, reports itself, and a generated model's metadata reads back exactly as generated. */
@Tag("tiny-model")
class RuntimeAndModelTest {

    @Test
    void libraryLoadsAndMatchesTheBindingsVersion() {
        String bindingsVersion = NativeRuntime.bindingsInfo().getProperty("llama.cpp.version");
        assertThat(LlamaRuntime.llamaCppVersion()).startsWith(bindingsVersion);
        assertThat(bindingsVersion).isEqualTo(TestModels.buildInfo().getProperty("llama.cpp.version"));
        assertThat(LlamaRuntime.libraryDirectory()).isEqualTo(TestModels.nativeDir().toAbsolutePath().normalize());
    }

    @Test
    void reportsSystemInfoAndDevices() {
        assertThat(LlamaRuntime.systemInfo()).contains("CPU");
        assertThat(LlamaRuntime.devices())
                .anySatisfy(d -> {
                    assertThat(d.type()).isEqualTo(BackendDevice.Type.CPU);
                    assertThat(d.name()).isNotBlank();
                });
        assertThat(LlamaRuntime.supportsMmap()).isTrue();
    }

    @Test
    void generatedModelMetadataReadsBackExactly() {
        TinyModel.Spec spec = TinyModel.Spec.builder().layers(3).embeddingSize(96).heads(6).kvHeads(2)
                .feedForwardSize(160).contextLength(1536).seed(7).name("tiny-metadata").build();
        try (LlamaModel model = LlamaModel.load(TestModels.tiny(spec))) {
            ModelInfo info = model.info();
            assertThat(info.architecture()).isEqualTo("llama");
            assertThat(info.layers()).isEqualTo(3);
            assertThat(info.embeddingSize()).isEqualTo(96);
            assertThat(info.heads()).isEqualTo(6);
            assertThat(info.kvHeads()).isEqualTo(2);
            assertThat(info.trainingContext()).isEqualTo(1536);
            assertThat(info.slidingWindow()).isZero();
            assertThat(info.vocabularySize()).isEqualTo(32000);
            assertThat(info.metadata()).containsEntry("general.name", "tiny-metadata")
                    .containsEntry("llama.block_count", "3")
                    .containsEntry("llama.attention.head_count_kv", "2");
            long expectedParams = 2L * 32000 * 96 + 96
                    + 3L * (96 + 96 * 96 + 2L * 96 * 32 + 96 * 96 + 96 + 3L * 96 * 160);
            assertThat(info.parameterCount()).isEqualTo(expectedParams);
        }
    }

    @Test
    void typedMetadataOverridesApplyAtLoad() {
        try (LlamaModel m = LlamaModel.load(TestModels.tiny(), ModelOptions.builder()
                .overrideMetadata("llama.context_length", 1000L)
                .overrideMetadata("general.name", "overridden")
                .build())) {
            assertThat(m.info().trainingContext()).isEqualTo(1000);
        }
        assertThatThrownBy(() -> ModelOptions.builder().overrideMetadata("k".repeat(200), 1L))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("127");
    }

    @Test
    void missingFileIsAClearErrorBeforeAnyNativeCall(@TempDir Path dir) {
        Path missing = dir.resolve("nope.gguf");
        assertThatThrownBy(() -> LlamaModel.load(missing))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("does not exist")
                .hasMessageContaining(missing.toString());
        assertThatThrownBy(() -> LlamaModel.load(dir))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not a regular file");
    }

    @Test
    void garbageFileIsAModelLoadException(@TempDir Path dir) throws IOException {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "this is not a gguf file at all");
        assertThatThrownBy(() -> LlamaModel.load(junk))
                .isInstanceOf(ModelLoadException.class)
                .satisfies(e -> assertThat(((ModelLoadException) e).path()).isEqualTo(junk.toAbsolutePath()));
    }

    @Test
    void progressListenerSeesProgressAndCanCancel() {
        Path file = TestModels.tiny();
        float[] last = {-1};
        try (LlamaModel m = LlamaModel.load(file, ModelOptions.builder().progressListener(p -> {
            last[0] = p;
            return true;
        }).build())) {
            assertThat(last[0]).isEqualTo(1.0f);
        }
        assertThatThrownBy(() -> LlamaModel.load(file, ModelOptions.builder().progressListener(p -> false).build()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("cancelled");
        assertThatThrownBy(() -> LlamaModel.load(file, ModelOptions.builder().progressListener(p -> {
            throw new IllegalStateException("listener bug");
        }).build())).isInstanceOf(ModelLoadException.class).hasMessageContaining("cancelled");
    }

    @Test
    void unknownDeviceIsRejectedWithTheAvailableOnes() {
        assertThatThrownBy(() -> LlamaModel.load(TestModels.tiny(),
                ModelOptions.builder().devices(java.util.List.of("NoSuchGPU")).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("NoSuchGPU").hasMessageContaining("CPU");
    }

    @Test
    void vocabOnlyModelCannotCreateContexts() {
        try (LlamaModel m = LlamaModel.load(TestModels.spmVocab(), ModelOptions.builder().vocabOnly(true).build())) {
            assertThatThrownBy(m::newContext).isInstanceOf(IllegalStateException.class).hasMessageContaining("vocab-only");
        }
    }
}
