#!/usr/bin/env bash
# Builds the pinned llama.cpp (native/llama-cpp.lock) with our patches (native/patches/*.patch) into
# native/build/<os>-<arch>[-<backend>]/. Cached under ${LLAMAFFM_CACHE:-~/.cache/llama-ffm}; idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LLAMAFFM_CACHE:-$HOME/.cache/llama-ffm}
# shellcheck source=native/llama-cpp.lock
. "$ROOT/native/llama-cpp.lock"

usage() {
  cat <<EOF
Usage: ./build-native.sh [options]

Builds llama.cpp ${LLAMA_CPP_TAG} (pinned in native/llama-cpp.lock) as shared libraries, with the patches in
native/patches/ applied in name order, plus the upstream reference tools llama-bench, llama-simple, llama-completion, llama-embedding and
llama-quantize, and upstream's RPC server ggml-rpc-server (every build has the RPC backend, GGML_RPC). Output: native/build/<os>-<arch>[-<backend>]/ (libraries, tools, build-info.properties, and
llama-ffm-natives-<platform>.jar: the runtime libraries as a natives jar for the class path).

Backends (default: a fast CPU build for this machine, -march=native):
  --portable          CPU build for distribution: GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS (runtime dispatch
                      across SSE4.2/AVX/AVX2/AVX-512 variants, loaded from the output directory)
  --cuda              NVIDIA CUDA (needs nvcc); output suffix -cuda
  --cuda-archs=LIST   CMAKE_CUDA_ARCHITECTURES for --cuda (default: "native" if a GPU is visible, else
                      "75-virtual;80-real;86-real;89-real;90-real;120-real")
  --metal             Apple Metal (macOS only); output suffix -metal
  --vulkan            Vulkan (needs the Vulkan SDK / glslc); output suffix -vulkan

Other options:
  --server            also build upstream llama-server (the reference server of benchmarks/suite.sh) into the
                      output directory; it is not packaged in the natives jar
  --jobs=N            parallel build jobs (default: number of CPUs)
  --clean             delete this configuration's cached build directory first
  --print-dir         print the output directory for the chosen options and exit
  -h, --help          this help

Environment:
  LLAMA_CPP_SRC=/path  build this llama.cpp checkout instead of the pinned source (copied, then patched;
                       your checkout is never modified)
  LLAMAFFM_CACHE=/path cache directory (default ~/.cache/llama-ffm): downloads, patched sources, build trees
  CMAKE_ARGS="..."     extra arguments passed to CMake

Source of the pinned llama.cpp: the npm package ${NPM_PACKAGE} carries upstream llama.cpp as a git bundle
(llama/gitRelease.bundle). The tarball and the bundle are checked against the sha256 sums in the lock file
before anything from them is used, and the bundle's commit must be ${LLAMA_CPP_COMMIT}.
EOF
}

die() { echo "build-native.sh: error: $*" >&2; exit 1; }
log() { echo "build-native.sh: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found. $2"; }

backend=cpu cuda_archs="" jobs="" clean=0 print_dir=0 server=0
for arg in "$@"; do
  case "$arg" in
    --portable) backend=portable ;;
    --cuda) backend=cuda ;;
    --cuda-archs=*) cuda_archs=${arg#*=} ;;
    --metal) backend=metal ;;
    --vulkan) backend=vulkan ;;
    --jobs=*) jobs=${arg#*=} ;;
    --clean) clean=1 ;;
    --server) server=1 ;;
    --print-dir) print_dir=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$arg'" ;;
  esac
done

case "$(uname -s)" in
  Linux) os=linux ;; Darwin) os=macos ;; MINGW*|MSYS*|CYGWIN*) os=windows ;;
  *) die "unsupported OS $(uname -s)" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;; aarch64|arm64) arch=aarch64 ;; *) die "unsupported CPU $(uname -m)" ;;
esac
platform="$os-$arch"
[ "$backend" = cpu ] || platform="$platform-$backend"
OUT="$ROOT/native/build/$platform"
if [ "$print_dir" = 1 ]; then echo "$OUT"; exit 0; fi

# --- tools -------------------------------------------------------------------------------------------
need cmake "Install CMake >= 3.21 (Debian/Ubuntu: apt-get install cmake)."
need git "Install git (Debian/Ubuntu: apt-get install git)."
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 \
  || die "no C++ compiler found. Install one (Debian/Ubuntu: apt-get install build-essential; macOS: xcode-select --install)."
sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi; }
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -n "$jobs" ] || jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

# --- source ------------------------------------------------------------------------------------------
patches=()
for p in "$ROOT"/native/patches/*.patch; do [ -e "$p" ] && patches+=("$p"); done
patch_hash=$( { echo "$LLAMA_CPP_COMMIT"; for p in ${patches[@]+"${patches[@]}"}; do basename "$p"; cat "$p"; done; } \
  | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-16)

apply_patches() { # $1 = source dir (a git work tree)
  for p in ${patches[@]+"${patches[@]}"}; do
    log "applying $(basename "$p")"
    git -C "$1" apply --whitespace=nowarn "$p" || die "patch $(basename "$p") does not apply to $1"
  done
}

mkdir -p "$CACHE/downloads" "$CACHE/build"
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  [ -f "$LLAMA_CPP_SRC/include/llama.h" ] || die "LLAMA_CPP_SRC=$LLAMA_CPP_SRC is not a llama.cpp checkout (no include/llama.h)"
  LLAMA_CPP_SRC=$(cd "$LLAMA_CPP_SRC" && pwd)
  src_key="custom-$(echo "$LLAMA_CPP_SRC" | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-12)"
  SRC="$CACHE/src-$src_key"
  # The identity of a user checkout: its HEAD plus its uncommitted changes.
  identity=$( { git -C "$LLAMA_CPP_SRC" rev-parse HEAD 2>/dev/null || echo no-git; git -C "$LLAMA_CPP_SRC" diff HEAD 2>/dev/null || true; } \
    | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-16)
  stamp="$identity-$patch_hash"
  if [ "$(cat "$SRC/.llamaffm-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "copying $LLAMA_CPP_SRC to $SRC"
    rm -rf "$SRC"
    # cp -p keeps modification times, so unchanged files are not recompiled after a re-copy.
    cp -Rp "$LLAMA_CPP_SRC" "$SRC"
    rm -rf "$SRC"/build*
    if [ ! -d "$SRC/.git" ]; then git -C "$SRC" init -q && git -C "$SRC" add -A >/dev/null && git -C "$SRC" -c user.name=x -c user.email=x commit -qm base; fi
    git -C "$SRC" checkout -q -f HEAD -- . 2>/dev/null || true
    apply_patches "$SRC"
    echo "$stamp" > "$SRC/.llamaffm-stamp"
  fi
else
  src_key="$LLAMA_CPP_TAG"
  SRC="$CACHE/src-$src_key"
  if [ ! -d "$SRC/.git" ]; then
    tgz="$CACHE/downloads/${NPM_PACKAGE/@/-}.tgz"
    if [ ! -f "$tgz" ] || [ "$(sha256 "$tgz")" != "$NPM_TARBALL_SHA256" ]; then
      need npm "Install Node.js/npm (Debian/Ubuntu: apt-get install npm), or set LLAMA_CPP_SRC to a llama.cpp ${LLAMA_CPP_TAG} checkout."
      log "fetching $NPM_PACKAGE from the npm registry"
      tmp=$(mktemp -d "$CACHE/downloads/npm.XXXXXX")
      (cd "$tmp" && npm pack "$NPM_PACKAGE" --silent >/dev/null) || die "npm pack $NPM_PACKAGE failed (offline?). Set LLAMA_CPP_SRC instead."
      mv "$tmp"/*.tgz "$tgz" && rm -rf "$tmp"
    fi
    got=$(sha256 "$tgz")
    if [ "$got" != "$NPM_TARBALL_SHA256" ]; then
      rm -f "$tgz"; die "checksum mismatch for the $NPM_PACKAGE tarball: expected $NPM_TARBALL_SHA256, got $got (deleted)"
    fi
    tmp=$(mktemp -d "$CACHE/downloads/bundle.XXXXXX")
    tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle || die "$tgz has no llama/gitRelease.bundle"
    bundle="$tmp/package/llama/gitRelease.bundle"
    got=$(sha256 "$bundle")
    [ "$got" = "$BUNDLE_SHA256" ] || die "checksum mismatch for gitRelease.bundle: expected $BUNDLE_SHA256, got $got"
    rm -rf "$SRC.tmp"
    git clone -q "$bundle" "$SRC.tmp" 2>/dev/null || die "cannot clone $bundle"
    got=$(git -C "$SRC.tmp" rev-parse HEAD)
    [ "$got" = "$LLAMA_CPP_COMMIT" ] || die "bundle commit is $got, expected $LLAMA_CPP_COMMIT"
    mv "$SRC.tmp" "$SRC"
    rm -rf "$tmp"
  fi
  if [ "$(cat "$SRC/.git/llamaffm-stamp" 2>/dev/null)" != "$patch_hash" ]; then
    # git rewrites only files that differ, so only patched files get new mtimes and are recompiled.
    git -C "$SRC" checkout -q -f "$LLAMA_CPP_COMMIT" -- .
    git -C "$SRC" clean -qfd
    apply_patches "$SRC"
    echo "$patch_hash" > "$SRC/.git/llamaffm-stamp"
  fi
fi

# --- configure ---------------------------------------------------------------------------------------
cmake_args=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF
  # llama-server's targets exist in every build tree (built only with --server): the same configuration, so
  # switching --server on and off never reconfigures or recompiles the libraries. No web UI: nothing downloaded.
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON
  # The RPC backend (ggml-rpc) in every build: a model can be split across upstream's ggml-rpc-server processes on
  # other hosts (ModelOptions.rpcServers, llama-ffm rpc-server). It is a client library plus a small server tool.
  -DGGML_RPC=ON
)
# Our libraries are loaded from their own directory: make the tools find their libraries beside them.
if [ "$os" = linux ]; then cmake_args+=("-DCMAKE_INSTALL_RPATH=\$ORIGIN" -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON); fi
if [ "$os" = macos ]; then cmake_args+=("-DCMAKE_INSTALL_RPATH=@loader_path" -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON); fi
case "$backend" in
  cpu) cmake_args+=(-DGGML_NATIVE=ON) ;;
  portable)
    cmake_args+=(-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON)
    # Intel Macs: CPU only (Metal is for the Apple Silicon build, --metal).
    if [ "$os" = macos ]; then cmake_args+=(-DGGML_METAL=OFF); fi ;;
  cuda)
    need nvcc "Install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put nvcc on PATH."
    if [ -z "$cuda_archs" ]; then
      if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then cuda_archs=native
      # Published set: machine code for A100, RTX 30, RTX 40/L4/L40, H100/H200, RTX 50 (sm 80, 86, 89, 90, 120),
      # plus sm 75 PTX that the driver JIT-compiles for any other GPU CUDA 13 supports (Turing T4, B200, ...).
      else cuda_archs="75-virtual;80-real;86-real;89-real;90-real;120-real"; fi
    fi
    # A dynamically loaded backend module (libggml-cuda), added to the portable CPU natives at run time: the loader
    # skips it (and uses the CPU) when the NVIDIA driver or the CUDA runtime is missing.
    cmake_args+=(-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$cuda_archs") ;;
  metal)
    [ "$os" = macos ] || die "--metal needs macOS"
    cmake_args+=(-DGGML_NATIVE=OFF -DGGML_METAL=ON -DGGML_METAL_EMBED_LIBRARY=ON) ;;
  vulkan)
    need glslc "Install the Vulkan SDK (Debian/Ubuntu: apt-get install libvulkan-dev glslc)."
    cmake_args+=(-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_VULKAN=ON) ;;
esac
# shellcheck disable=SC2206
[ -n "${CMAKE_ARGS:-}" ] && cmake_args+=(${CMAKE_ARGS})

BUILD="$CACHE/build/$src_key-$os-$arch-$backend"
[ "$clean" = 1 ] && rm -rf "$BUILD"
config_stamp=$(printf '%s\n' "${generator[@]+"${generator[@]}"}" "${cmake_args[@]}" | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-16)
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ "$(cat "$BUILD/.llamaffm-config" 2>/dev/null)" != "$config_stamp" ]; then
  log "configuring $BUILD"
  cmake -S "$SRC" -B "$BUILD" "${generator[@]+"${generator[@]}"}" "${cmake_args[@]}" > "$BUILD.configure.log" 2>&1 \
    || { tail -30 "$BUILD.configure.log" >&2; die "CMake configure failed (full log: $BUILD.configure.log)"; }
  echo "$config_stamp" > "$BUILD/.llamaffm-config"
fi

# --- build -------------------------------------------------------------------------------------------
log "building $platform (jobs=$jobs)"
targets=(llama llama-common llama-bench llama-simple llama-quantize llama-completion llama-embedding ggml-rpc-server)
# GPU backend modules are separate targets that "llama" does not depend on (GGML_BACKEND_DL).
case "$backend" in cuda) targets+=(ggml-cuda) ;; vulkan) targets+=(ggml-vulkan) ;; esac
[ "$server" = 1 ] && targets+=(llama-server)
cmake --build "$BUILD" -j "$jobs" --target "${targets[@]}" > "$BUILD.build.log" 2>&1 \
  || { tail -40 "$BUILD.build.log" >&2; die "build failed (full log: $BUILD.build.log)"; }
if [ "$backend" = portable ]; then
  # The dynamically loaded CPU variants are separate targets that "llama" does not depend on.
  variants=$(cmake --build "$BUILD" --target help 2>/dev/null | grep -o 'ggml-cpu-[A-Za-z0-9_]*' | sort -u | tr '\n' ' ')
  [ -n "$variants" ] || die "no ggml-cpu-* variant targets found in $BUILD"
  # shellcheck disable=SC2086
  cmake --build "$BUILD" -j "$jobs" --target $variants >> "$BUILD.build.log" 2>&1 \
    || { tail -40 "$BUILD.build.log" >&2; die "build failed (full log: $BUILD.build.log)"; }
fi

# --- our glue library (native/glue): helpers that must be native, not Java upcalls ----------------------
mkdir -p "$OUT"
case "$os" in macos) glue=libllamaffm_glue.dylib ;; windows) glue=llamaffm_glue.dll ;; *) glue=libllamaffm_glue.so ;; esac
if [ ! -f "$OUT/$glue" ] || [ "$ROOT/native/glue/llamaffm_glue.c" -nt "$OUT/$glue" ]; then
  if [ "$os" = windows ] && command -v cl >/dev/null 2>&1; then
    # MSVC (Git Bash on a Windows runner, inside the Visual Studio environment); '-' options are not rewritten
    # as paths by MSYS.
    (cd "$OUT" && cl -nologo -O2 -LD "$(cygpath -w "$ROOT/native/glue/llamaffm_glue.c")" "-Fe$glue" >/dev/null \
      && rm -f llamaffm_glue.obj llamaffm_glue.lib llamaffm_glue.exp) || die "compiling native/glue/llamaffm_glue.c failed"
  else
    cc=${CC:-$(command -v cc || command -v gcc || command -v clang)}
    "$cc" -O2 -shared -fPIC -fvisibility=hidden -o "$OUT/$glue" "$ROOT/native/glue/llamaffm_glue.c" \
      || die "compiling native/glue/llamaffm_glue.c failed"
  fi
fi

# --- chat glue (native/glue/llamaffm_chat.cpp): C ABI over common's chat templates, tool calls, JSON Schema --------
case "$os" in macos) chat=libllamaffm_chat.dylib; common=libllama-common.dylib ;; windows) chat=llamaffm_chat.dll; common=llama-common.dll ;;
  *) chat=libllamaffm_chat.so; common=libllama-common.so ;; esac
if [ "$os" = windows ]; then
  log "warning: the chat glue (Jinja templates, tools, JSON Schema) is not built on Windows yet"
elif [ ! -f "$OUT/$chat" ] || [ "$ROOT/native/glue/llamaffm_chat.cpp" -nt "$OUT/$chat" ] \
   || [ "$ROOT/native/glue/llamaffm_chat.h" -nt "$OUT/$chat" ] || [ "$BUILD/bin/$common" -nt "$OUT/$chat" ]; then
  cxx=${CXX:-$(command -v c++ || command -v g++ || command -v clang++)}
  rpath=()
  [ "$os" = linux ] && rpath=("-Wl,-rpath,\$ORIGIN")
  [ "$os" = macos ] && rpath=("-Wl,-rpath,@loader_path")
  "$cxx" -std=c++17 -O2 -shared -fPIC -fvisibility=hidden -o "$OUT/$chat" "$ROOT/native/glue/llamaffm_chat.cpp" \
    -I"$ROOT/native/glue" -I"$SRC/common" -I"$SRC/include" -I"$SRC/ggml/include" -I"$SRC/src" \
    -L"$BUILD/bin" -lllama-common -lllama "${rpath[@]+"${rpath[@]}"}" \
    || die "compiling native/glue/llamaffm_chat.cpp failed"
fi

# --- install into native/build/<platform> ------------------------------------------------------------
shopt -s nullglob
for f in "$BUILD"/bin/*.so* "$BUILD"/bin/*.dylib "$BUILD"/bin/*.dll \
         "$BUILD"/bin/llama-bench "$BUILD"/bin/llama-simple "$BUILD"/bin/llama-quantize "$BUILD"/bin/ggml-rpc-server \
         "$BUILD"/bin/llama-completion "$BUILD"/bin/llama-completion.exe \
         "$BUILD"/bin/llama-embedding "$BUILD"/bin/llama-embedding.exe \
         "$BUILD"/bin/llama-bench.exe "$BUILD"/bin/llama-simple.exe "$BUILD"/bin/llama-quantize.exe \
         "$BUILD"/bin/ggml-rpc-server.exe "$BUILD"/bin/llama-server "$BUILD"/bin/llama-server.exe; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  cp -P -p "$f" "$OUT/"   # -P keeps the libfoo.so -> libfoo.so.0 symlinks
done
if [ "$os" = macos ]; then
  # Every library must find its neighbours through @rpath (= @loader_path), i.e. in whatever folder the natives
  # are extracted to, never through a path on this build machine.
  for f in "$OUT"/*.dylib; do
    [ -L "$f" ] && continue
    if otool -L "$f" | tail -n +2 | grep -q "$CACHE"; then die "$f refers to the build tree: $(otool -L "$f")"; fi
  done
fi

# The natives classifier (Maven) and class path resource folder: CPU builds (native, portable; with Metal on macOS)
# are the base <os>-<arch>; CUDA and Vulkan are backend modules added to a base at run time: <os>-<arch>-<backend>.
case "$backend" in
  cuda|vulkan) classifier="$os-$arch-$backend" module="ggml-$backend" ;;
  *) classifier="$os-$arch" module="" ;;
esac
{ echo "# Written by build-native.sh; read by llama-ffm's tests, native loader and natives packaging."
  echo "llama.cpp.tag=$( [ -n "${LLAMA_CPP_SRC:-}" ] && echo custom || echo "$LLAMA_CPP_TAG" )"
  echo "llama.cpp.commit=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "llama.cpp.version=$LLAMA_CPP_VERSION"
  echo "llama.cpp.source=$SRC"
  echo "patches.hash=$patch_hash"
  echo "backend=$backend"
  echo "platform=$platform"
  echo "classifier=$classifier"
  if [ "$backend" = cuda ]; then
    echo "cuda.architectures=$cuda_archs"
    echo "cuda.version=$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  fi
  true; } > "$OUT/build-info.properties.tmp"
# Rewritten only when it changes, so its time stamp says when the natives below must be repackaged.
if cmp -s "$OUT/build-info.properties.tmp" "$OUT/build-info.properties"; then rm "$OUT/build-info.properties.tmp"
else mv "$OUT/build-info.properties.tmp" "$OUT/build-info.properties"; fi

# --- natives: the runtime libraries as class path resources (found and extracted by llama-ffm's loader) -------
# native/build/<platform>/natives/ is what the Maven module natives/ packages as llama-ffm-natives-<classifier>.jar;
# llama-ffm-natives-<platform>.jar beside it is the same content, for a class path without Maven.
jarfile="$OUT/llama-ffm-natives-$platform.jar"
stage="$OUT/natives"
if [ ! -f "$jarfile" ] || [ ! -f "$stage/io/github/llamaffm/natives/$classifier/natives.list" ] \
   || [ "$ROOT/build-native.sh" -nt "$jarfile" ] \
   || [ -n "$(find "$OUT" -maxdepth 1 \( -name '*.so*' -o -name '*.dylib' -o -name '*.dll' -o -name 'ggml-rpc-server*' -o -name build-info.properties \) \
              -newer "$jarfile" | head -1)" ]; then
  rm -rf "$stage"
  res="$stage/io/github/llamaffm/natives/$classifier"
  mkdir -p "$res"
  cp "$OUT/build-info.properties" "$res/"
  { echo "# Written by build-native.sh: files, and symbolic links as 'name -> target'."
    for f in "$OUT"/*.so* "$OUT"/*.dylib "$OUT"/*.dll; do
      name=$(basename "$f")
      case "$name" in *mtmd*|*-impl.*) continue ;; esac
      # A backend module's natives hold only the module: the base natives provide ggml and llama.
      if [ -n "$module" ]; then case "$name" in "lib$module".*|"$module".*) ;; *) continue ;; esac; fi
      if [ -L "$f" ]; then echo "$name -> $(readlink "$f")"
      else cp -p "$f" "$res/"; echo "$name"; fi
    done
    # upstream's RPC server in the base natives, so a worker host needs only them (llama-ffm rpc-server)
    if [ -z "$module" ]; then
      for f in "$OUT"/ggml-rpc-server "$OUT"/ggml-rpc-server.exe; do
        [ -f "$f" ] && { cp -p "$f" "$res/"; basename "$f"; }
      done
    fi; } > "$res/natives.list"
  grep -q '^[^#]' "$res/natives.list" || die "no libraries to package in $OUT"
  # Tells two builds of the same llama.cpp and patches apart (the loader's extraction folder is keyed by it).
  echo "content.hash=$(cd "$res" && grep -v -e '^#' -e ' -> ' natives.list | while read -r f; do cat "$f"; done     | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-16)" >> "$res/build-info.properties"
  rm -f "$jarfile"
  if command -v jar >/dev/null 2>&1; then jar --create --file "$jarfile" -C "$stage" io
  elif command -v zip >/dev/null 2>&1; then (cd "$stage" && zip -qr "$jarfile" io)
  elif command -v python3 >/dev/null 2>&1; then (cd "$stage" && python3 -m zipfile -c "$jarfile" io)
  else log "warning: no jar, zip or python3: natives jar not built"; fi
  [ -f "$jarfile" ] && log "natives jar: $jarfile"
fi
log "done: $OUT"
