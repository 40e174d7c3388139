#!/usr/bin/env bash
# Speculative decoding on a generated target/draft pair (issue 11): greedy tokens/s without speculation, with a draft
# model (the target's first layer(s), same weights) and with n-gram lookup, interleaved rounds in one JVM after a
# warm-up, plus the draft acceptance rate. Every mode must generate the same text (checked). Not part of CI.
#   benchmarks/speculative.sh [--layers 12] [--width 1024] [--draft-layers 1] [--residual-scale 0.3] [-n 128]
#                             [--rounds 3] [--draft-max 4] [--ngram 3] [--threads N]
# Needs ./build-native.sh done and JDK 25 (JAVA_HOME); the models are cached in ~/.cache/llama-ffm/bench-models.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
BJAR="$ROOT/benchmarks/target/llama-ffm-benchmarks.jar"
if [ ! -f "$BJAR" ] || [ -n "$(find "$ROOT/benchmarks/src" "$ROOT/java-api/src/main" -newer "$BJAR" -name '*.java' | head -1)" ]; then
  echo "speculative.sh: building the benchmarks jar" >&2
  (cd "$ROOT" && mvn -B -q -pl benchmarks -am install -DskipTests) >&2
fi
exec java --enable-native-access=ALL-UNNAMED -Dllamaffm.project.root="$ROOT" \
  -cp "$BJAR" io.github.llamaffm.benchmarks.SpeculativeBench "$@"
