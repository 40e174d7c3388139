package io.github.llamaffm;

import io.github.llamaffm.bindings.Llama;

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
        /** CPU (and its accelerators such as AMX). */
        CPU(Llama.GGML_BACKEND_DEVICE_TYPE_CPU()),
        /** A discrete GPU. */
        GPU(Llama.GGML_BACKEND_DEVICE_TYPE_GPU()),
        /** A GPU sharing host memory. */
        INTEGRATED_GPU(Llama.GGML_BACKEND_DEVICE_TYPE_IGPU()),
        /** An accelerator used together with the CPU (e.g. BLAS). */
        ACCELERATOR(Llama.GGML_BACKEND_DEVICE_TYPE_ACCEL()),
        /** A device grouping others. */
        META(Llama.GGML_BACKEND_DEVICE_TYPE_META()),
        /** A type this version does not know. */
        UNKNOWN(Integer.MIN_VALUE);

        private final int nativeValue;

        Type(int nativeValue) {
            this.nativeValue = nativeValue;
        }

        static Type of(int nativeValue) {
            for (Type t : values()) {
                if (t.nativeValue == nativeValue) {
                    return t;
                }
            }
            return UNKNOWN;
        }

        /** The generated {@code ggml_backend_dev_type} constant ({@link Integer#MIN_VALUE} for UNKNOWN). */
        int nativeValue() {
            return nativeValue;
        }
    }
}
