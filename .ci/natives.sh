#!/usr/bin/env bash
# One job of .github/workflows/natives.yml (runs locally too): builds one natives variant with build-native.sh, then
# tests what this machine can run: CPU variants run `mvn -B verify` on their own natives; GPU modules (no GPU on the
# hosted runners) run the fallback proof: next to the CPU natives they must be skipped cleanly, with one INFO line.
#
# Usage: .ci/natives.sh portable|cpu|metal|cuda|vulkan
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
variant=${1:?usage: .ci/natives.sh portable|cpu|metal|cuda|vulkan}
case "$variant" in
  cpu) opts=() ;;
  portable|metal|cuda|vulkan) opts=("--$variant") ;;
  *) echo "natives.sh: unknown variant $variant" >&2; exit 2 ;;
esac
if [ "$variant" = vulkan ] && ! command -v glslc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan-dev glslc
fi
start=$(date +%s)
./build-native.sh "${opts[@]}"
echo "natives.sh: ${variant} natives built in $(( $(date +%s) - start ))s: $(./build-native.sh "${opts[@]}" --print-dir)"
case "$variant" in
  cuda|vulkan) bash .ci/gpu-fallback-proof.sh "$variant" ;;
  *) mvn -B verify ;;
esac
