#!/usr/bin/env bash
# GPU fallback proof, for a machine WITHOUT the GPU's driver (CI runners; a build machine with nvcc but no GPU):
# the CPU natives jar and a GPU natives jar (llama-ffm-natives:<os>-<arch>-cuda|-vulkan) on one class path must
# generate on the CPU, with one INFO line saying why the GPU backend was skipped; forcing the GPU backend must fail
# with a NativeLibraryException naming the reason. Also runs BackendChoiceTest, which checks the same.
#
# Usage: .ci/gpu-fallback-proof.sh cuda|vulkan     after ./build-native.sh --cuda (or --vulkan)
#        CPU natives: native/build/<os>-<arch>-portable, else native/build/<os>-<arch>, else built with --portable.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
backend=${1:?usage: .ci/gpu-fallback-proof.sh cuda|vulkan}
gpu_dir=$(./build-native.sh "--$backend" --print-dir)
platform=$(basename "$(./build-native.sh --print-dir)")
[ -d "$gpu_dir/natives" ] || { echo "gpu-fallback-proof: $gpu_dir/natives missing: run ./build-native.sh --$backend" >&2; exit 1; }
if [ ! -d "native/build/$platform-portable/natives" ] && [ ! -d "native/build/$platform/natives" ]; then
  ./build-native.sh --portable
fi
version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' bom/pom.xml | head -1)
mvn -B -q install -DskipTests
cli_jar="cli/target/llama-ffm-cli-$version.jar"
gpu_jar="natives/target/llama-ffm-natives-$version-$platform-$backend.jar"
ls -l "$cli_jar" "$gpu_jar" natives/target/llama-ffm-natives-"$version"-*.jar
sep=":"; case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) sep=";" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/llamaffm-gpu-proof.XXXXXX")
trap 'rm -rf "$work"' EXIT
run() { # the CLI with the CPU natives (inside the CLI jar) and the GPU natives jar, a fresh home, outside the checkout
  (cd "$work" && env -u LLAMAFFM_LIBRARY_PATH java --enable-native-access=ALL-UNNAMED -Duser.home="$work/home" "$@")
}
echo "== generate: CPU natives (in the CLI jar) + $(basename "$gpu_jar") on the class path"
out=$(run -cp "$ROOT/$cli_jar$sep$ROOT/$gpu_jar" io.github.llamaffm.examples.Cli generate -n 24 --demo-cache "$work/model" \
        "Once upon a time" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
info_lines=$(echo "$out" | grep -c "^INFO: llama-ffm: .* backend (natives jar $platform-$backend) skipped: ") || true
[ "$info_lines" = 1 ] || { echo "gpu-fallback-proof: FAILED: expected one INFO line, got $info_lines" >&2; exit 1; }
echo "== info: the backend chosen and why"
out=$(run -cp "$ROOT/$cli_jar$sep$ROOT/$gpu_jar" io.github.llamaffm.examples.Cli info --demo-cache "$work/model" 2>&1) \
  || { echo "$out"; exit 1; }
echo "$out" | grep -E "^(INFO|backend|llama.cpp|devices)"
echo "$out" | grep -q "^backend: *cpu" || { echo "gpu-fallback-proof: FAILED: backend is not cpu" >&2; exit 1; }
echo "== forced: -Dllamaffm.backend=$backend"
if out=$(run "-Dllamaffm.backend=$backend" -cp "$ROOT/$cli_jar$sep$ROOT/$gpu_jar" io.github.llamaffm.examples.Cli info \
           --demo-cache "$work/model" 2>&1); then
  echo "$out"; echo "gpu-fallback-proof: FAILED: forcing $backend succeeded on a machine without its driver" >&2; exit 1
fi
echo "$out" | grep -m1 "NativeLibraryException\|llamaffm.backend=$backend"
echo "$out" | grep -q "llamaffm.backend=$backend" || { echo "gpu-fallback-proof: FAILED: no clear error" >&2; exit 1; }
echo "== BackendChoiceTest"
mvn -B -q -o -pl java-api surefire:test -Dtest=BackendChoiceTest 2>&1 | grep -v "^WARNING" | tail -5 || true
grep -h "Tests run" java-api/target/surefire-reports/*BackendChoiceTest.txt
echo "gpu-fallback-proof: passed"
