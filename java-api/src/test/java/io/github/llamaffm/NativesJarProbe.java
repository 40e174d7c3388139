package io.github.llamaffm;

/** Child-JVM entry point for {@link NativesJarTest}: prints where llama.cpp was loaded from and its version. */
public final class NativesJarProbe {
    private NativesJarProbe() {}

    public static void main(String[] args) {
        System.out.println(LlamaRuntime.libraryDirectory());
        System.out.println(LlamaRuntime.llamaCppVersion());
    }
}
