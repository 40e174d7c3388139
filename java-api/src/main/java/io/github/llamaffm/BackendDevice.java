package io.github.llamaffm;

/**
 * A compute device llama.cpp can use (from ggml's backend registry).
 *
 * @param name        device name, as accepted by {@link ModelOptions.Builder#devices}
 * @param description human-readable description (e.g. the CPU or GPU model)
 * @param type        kind of device
 * @param freeBytes   free memory reported by the device (0 if unknown)
 * @param totalBytes  total memory reported by the device (0 if unknown)
 */
public record BackendDevice(String name, String description, Type type, long freeBytes, long totalBytes) {
    /** {@code enum ggml_backend_dev_type}. */
    public enum Type {
        CPU, GPU, INTEGRATED_GPU, ACCELERATOR, META, UNKNOWN;

        static Type of(int nativeValue) {
            return switch (nativeValue) {
                case 0 -> CPU;
                case 1 -> GPU;
                case 2 -> INTEGRATED_GPU;
                case 3 -> ACCELERATOR;
                case 4 -> META;
                default -> UNKNOWN;
            };
        }
    }
}
