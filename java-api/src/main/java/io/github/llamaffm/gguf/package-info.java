/**
 * Pure-Java GGUF support, independent of the native library: {@link io.github.llamaffm.gguf.GgufFile} reads and
 * validates a file's metadata and tensor infos, {@link io.github.llamaffm.gguf.GgufWriter} writes GGUF v3 files
 * with F32/F16 tensors, and {@link io.github.llamaffm.internal.TinyModel} generates tiny random Mistral-style models
 * that llama.cpp loads, for tests and demos.
 */
package io.github.llamaffm.gguf;
