#!/usr/bin/env bash
# Regenerates bindings/src/main/java/io/github/llamaffm/bindings from the pinned llama.cpp headers.
# Generated files are never edited by hand: change symbols.txt or this script and run it again.
#
# Needs jextract (https://github.com/openjdk/jextract, a build for JDK 23+): on PATH, or its launcher in $JEXTRACT.
# Header source: $LLAMA_CPP_SRC, else the source recorded by ./build-native.sh in native/build/<platform>/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
. "$ROOT/native/llama-cpp.lock"

JEXTRACT=${JEXTRACT:-$(command -v jextract || true)}
[ -n "$JEXTRACT" ] && [ -x "$JEXTRACT" ] || { echo "jextract.sh: jextract not found: put it on PATH or set JEXTRACT=/path/to/bin/jextract" >&2; exit 1; }

SRC=${LLAMA_CPP_SRC:-}
if [ -z "$SRC" ]; then
  info="$("$ROOT/build-native.sh" --print-dir)/build-info.properties"
  [ -f "$info" ] || { echo "jextract.sh: run ./build-native.sh first (or set LLAMA_CPP_SRC)" >&2; exit 1; }
  SRC=$(sed -n 's/^llama.cpp.source=//p' "$info")
fi
[ -f "$SRC/include/llama.h" ] || { echo "jextract.sh: $SRC/include/llama.h not found" >&2; exit 1; }

OUT="$HERE/src/main/java"
PKG_DIR="$OUT/io/github/llamaffm/bindings"
rm -rf "$PKG_DIR"
"$JEXTRACT" \
  --target-package io.github.llamaffm.bindings \
  --header-class-name Llama \
  --output "$OUT" \
  -I "$SRC/include" -I "$SRC/ggml/include" -I "$ROOT/native/glue" \
  @"$HERE/symbols.txt" \
  "$HERE/llama-ffm.h"

# Which llama.cpp the bindings were generated from: checked against llama_version() at load time.
RES="$HERE/src/main/resources/io/github/llamaffm/bindings"
mkdir -p "$RES"
cat > "$RES/bindings.properties" <<PROPS
# Written by bindings/jextract.sh. The native library must report this llama.cpp version.
llama.cpp.version=$LLAMA_CPP_VERSION
llama.cpp.tag=$LLAMA_CPP_TAG
llama.cpp.commit=$LLAMA_CPP_COMMIT
jextract=$("$JEXTRACT" --version 2>&1 | head -1)
PROPS
echo "jextract.sh: generated $(find "$PKG_DIR" -name '*.java' | wc -l) files in $PKG_DIR"
