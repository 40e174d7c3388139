/* Entry header for jextract (bindings/jextract.sh): llama.h pulls in ggml, ggml-backend and gguf; llamaffm_chat.h is
   our chat glue (native/glue). */
#include "llama.h"
#include "gguf.h"
#include "llamaffm_chat.h"
