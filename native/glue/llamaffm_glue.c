// Small native helpers for llama-ffm that must not be Java upcalls, or must work when Java cannot run.
//
// llama.cpp's CPU backend calls the context's abort callback once per graph node. A Java upcall there would
// cost a JVM transition per node; instead the Java side sets a byte in native memory and this function, used
// as the ggml_abort_callback, only reads it.
//
// ggml's fatal-error path (GGML_ASSERT / GGML_ABORT) calls the function set with ggml_set_abort_callback and then
// abort()s the process. llamaffm_on_fatal_error is installed there: it writes the message to stderr first (that
// works whatever state the JVM is in), then calls the Java listener, which logs it with the file being loaded.
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#if defined(_WIN32)
#define LLAMAFFM_API __declspec(dllexport)
#else
#define LLAMAFFM_API __attribute__((visibility("default")))
#endif

typedef void (*llamaffm_fatal_listener)(const char * message);

static void * volatile fatal_listener;

#if defined(_MSC_VER) && !defined(__clang__)
#include <windows.h>
// MSVC has no __atomic builtins; on x86-64 its volatile reads have acquire semantics (/volatile:ms, the default).
LLAMAFFM_API bool llamaffm_abort_requested(void * flag) {
    return flag != 0 && *(const volatile unsigned char *) flag != 0;
}
static void * exchange_listener(void * value) {
    return InterlockedExchangePointer((PVOID volatile *) &fatal_listener, value);
}
#else
LLAMAFFM_API bool llamaffm_abort_requested(void * flag) {
    return flag != 0 && __atomic_load_n((const volatile unsigned char *) flag, __ATOMIC_ACQUIRE) != 0;
}
static void * exchange_listener(void * value) {
    return __atomic_exchange_n(&fatal_listener, value, __ATOMIC_ACQ_REL);
}
#endif

LLAMAFFM_API void llamaffm_set_fatal_listener(llamaffm_fatal_listener listener) {
    exchange_listener((void *) listener);
}

// Signature of ggml_abort_callback_t. Runs just before ggml calls abort(); the listener runs at most once.
LLAMAFFM_API void llamaffm_on_fatal_error(const char * message) {
    fprintf(stderr, "llama-ffm: fatal error in llama.cpp, the process will abort: %s\n", message != NULL ? message : "");
    fflush(stderr);
    llamaffm_fatal_listener listener = (llamaffm_fatal_listener) exchange_listener(NULL);
    if (listener != NULL) {
        listener(message);
    }
}
