// Small native helpers for llama-ffm that must not be Java upcalls.
//
// llama.cpp's CPU backend calls the context's abort callback once per graph node. A Java upcall there would
// cost a JVM transition per node; instead the Java side sets a byte in native memory and this function, used
// as the ggml_abort_callback, only reads it.
#include <stdbool.h>

#if defined(_WIN32)
#define LLAMAFFM_API __declspec(dllexport)
#else
#define LLAMAFFM_API __attribute__((visibility("default")))
#endif

#if defined(_MSC_VER) && !defined(__clang__)
// MSVC has no __atomic builtins; on x86-64 its volatile reads have acquire semantics (/volatile:ms, the default).
LLAMAFFM_API bool llamaffm_abort_requested(void * flag) {
    return flag != 0 && *(const volatile unsigned char *) flag != 0;
}
#else
LLAMAFFM_API bool llamaffm_abort_requested(void * flag) {
    return flag != 0 && __atomic_load_n((const volatile unsigned char *) flag, __ATOMIC_ACQUIRE) != 0;
}
#endif
