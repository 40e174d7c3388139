/* Entry header for jextract (bindings/jextract.sh): llama.h pulls in ggml, ggml-backend and gguf. */
#include "llama.h"
#include "gguf.h"
