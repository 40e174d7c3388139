#!/usr/bin/env bash
# One side-by-side speed run on the same GGUF, library build and threads, interleaved (issue 14):
#   upstream llama-bench (pp/tg) | llama-ffm `bench` | facade end-to-end greedy and a typical sampling chain |
#   kherud's de.kherud:llama 4.2.0 end-to-end (its own bundled llama.cpp build) |
#   `serve` vs upstream llama-server under 1, 4 and 16 concurrent streaming clients (via `bench-serve --url`).
# Generated models only: the 8x512 F16 model of the JMH benchmarks ("tiny") and a Mistral-7B-shaped Q4_0 model
# (4096 dim, 14336 ffn, 32/8 heads, 32k vocab, --layers layers; quantized by upstream llama-quantize).
# Every round runs every tool once per model, in alternating order, so that load drifts hit all tools alike; the
# report gives medians, min-max and ratios. Writes DIR/results.tsv and DIR/report.md. Not part of CI.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: benchmarks/suite.sh [options]
  --rounds N          interleaved rounds (default 3)
  --threads N         threads of every tool (default: physical cores, as llama-ffm's default)
  --layers N          layers of the Mistral-7B-shaped model (default 4)
  --models LIST       comma-separated subset of tiny,mistral (default tiny,mistral)
  -p N / -n N         prompt / generated tokens of the pp/tg and end-to-end tests (default 64 / 32)
  --clients LIST      concurrent streaming clients for the server test (default 1,4,16; "" skips it)
  --serve-seconds N   duration of each server load run (default 8)
  --llama-server PATH upstream llama-server (default: \$LLAMA_SERVER, else the one next to the native libraries,
                      built from the pinned source by ./build-native.sh --server when it is missing)
  --no-llama-server   measure only llama-ffm serve in the server test
  --e2e-runs N        generations per end-to-end process: the fresh JVM's first one, then warm ones (default 4)
  --no-kherud         skip de.kherud:llama
  --out DIR           results directory (default benchmarks/target/suite-<date>)
Needs: ./build-native.sh done, JDK 25 (JAVA_HOME), Maven, jq, curl.
USAGE
}

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
rounds=3; threads=""; layers=4; models="tiny,mistral"; np=64; ng=32; clients="1,4,16"; serve_s=8
llama_server="${LLAMA_SERVER:-}"; kherud=1; out=""; e2e_runs=4
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --layers) layers="$2"; shift ;;
    --models) models="$2"; shift ;;
    -p) np="$2"; shift ;;
    -n) ng="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --serve-seconds) serve_s="$2"; shift ;;
    --llama-server) llama_server="$2"; shift ;;
    --e2e-runs) e2e_runs="$2"; shift ;;
    --no-kherud) kherud=0 ;;
    --no-llama-server) llama_server=none ;;
    --out) out="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "suite.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

die() { echo "suite.sh: $*" >&2; exit 1; }
log() { echo "suite.sh: $*" >&2; }
for c in jq curl mvn; do command -v "$c" >/dev/null || die "needs $c on PATH"; done
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
JAVA=(java --enable-native-access=ALL-UNNAMED)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;; Linux-aarch64) platform=linux-aarch64 ;;
  Darwin-arm64) platform=macos-aarch64 ;; Darwin-x86_64) platform=macos-x86_64 ;;
  *) die "unsupported platform $(uname -s)-$(uname -m)" ;;
esac
LIB="$ROOT/native/build/$platform"
[ -x "$LIB/llama-bench" ] && [ -x "$LIB/llama-quantize" ] || die "run ./build-native.sh first ($LIB has no llama-bench)"
if [ -z "$llama_server" ] && [ -n "$clients" ]; then
  if [ ! -x "$LIB/llama-server" ]; then
    log "building upstream llama-server from the pinned source (./build-native.sh --server)"
    "$ROOT/build-native.sh" --server >&2 || die "./build-native.sh --server failed"
  fi
  llama_server="$LIB/llama-server"
fi
[ "$llama_server" != none ] || llama_server=""
CACHE="${LLAMAFFM_CACHE:-$HOME/.cache/llama-ffm}"
out="${out:-$ROOT/benchmarks/target/suite-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
TSV="$out/results.tsv"
: > "$TSV"

# --- jars and models ------------------------------------------------------------------------------------------
BJAR="$ROOT/benchmarks/target/llama-ffm-benchmarks.jar"
if [ ! -f "$BJAR" ] || [ ! -f "$ROOT/examples/target/llama-ffm-cli.jar" ]; then
  log "building the benchmarks and CLI jars"
  (cd "$ROOT" && mvn -B -q -pl benchmarks,examples -am install -DskipTests) >&2
fi
CLI="$ROOT/llama-ffm"
if [ -z "$threads" ]; then   # physical cores, as llama-ffm's and llama-bench's defaults
  threads=$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)
  [ "$threads" -gt 0 ] 2>/dev/null || threads=$(getconf _NPROCESSORS_ONLN)
fi
KJAR="$CACHE/bench/kherud/llama-4.2.0.jar"
if [ "$kherud" = 1 ] && [ ! -f "$KJAR" ]; then
  log "fetching de.kherud:llama:4.2.0 from Maven Central"
  mvn -B -q dependency:copy -Dartifact=de.kherud:llama:4.2.0 -DoutputDirectory="$(dirname "$KJAR")" >&2
fi

declare -A MODEL
IFS=, read -r -a model_list <<< "$models"
for m in "${model_list[@]}"; do
  case "$m" in
    tiny) MODEL[tiny]=$("${JAVA[@]}" -cp "$BJAR" io.github.llamaffm.benchmarks.SuiteModels tiny) ;;
    mistral)
      q="$CACHE/bench-models/mistral-7b-shaped-${layers}l-q4_0.gguf"
      if [ ! -f "$q" ]; then
        mkdir -p "$CACHE/bench-models"
        f16="$CACHE/bench-models/mistral-7b-shaped-${layers}l-f16.gguf.tmp"
        log "generating the Mistral-7B-shaped F16 model ($layers layers)"
        "${JAVA[@]}" -Xmx12g -cp "$BJAR" io.github.llamaffm.benchmarks.SuiteModels mistral "$layers" "$f16" >/dev/null
        log "quantizing it to Q4_0 with llama-quantize"
        "$LIB/llama-quantize" "$f16" "$q.tmp" Q4_0 "$threads" > "$out/quantize.log" 2>&1 || die "llama-quantize failed: $out/quantize.log"
        mv "$q.tmp" "$q"; rm -f "$f16"
      fi
      MODEL[mistral]="$q" ;;
    *) die "unknown model $m (tiny, mistral)" ;;
  esac
done

# record MODEL METRIC TOOL ROUND VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$TSV"; }

{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //') ($(nproc) logical)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "llama.cpp: $(grep -E 'llama.cpp.(tag|commit)' "$LIB/build-info.properties" | tr '\n' ' ')"
  echo "threads: $threads, rounds: $rounds, pp: $np, tg/end-to-end tokens: $ng"
  for m in "${model_list[@]}"; do echo "model $m: ${MODEL[$m]} ($(du -h "${MODEL[$m]}" | cut -f1))"; done
  echo "llama-server: ${llama_server:-none}"
} > "$out/machine.txt"
cat "$out/machine.txt" >&2

# --- one tool, one round ----------------------------------------------------------------------------------------
run_llama_bench() { # model round
  "$LIB/llama-bench" -m "${MODEL[$1]}" -t "$threads" -p "$np" -n "$ng" -r 1 -o json 2>/dev/null \
    | jq -r '.[] | if .n_prompt > 0 then "pp" else "tg" end + "\t" + (.avg_ts|tostring)' \
    | while IFS=$'\t' read -r test v; do record "$1" "$test" llama-bench "$2" "$v"; done
}
run_ffm_bench() {
  "$CLI" bench -m "${MODEL[$1]}" -t "$threads" -p "$np" -n "$ng" -r 1 --json 2>/dev/null \
    | jq -r '.results[] | (if .nPrompt > 0 then "pp" else "tg" end) + "\t" + (.avgTs|tostring)' \
    | while IFS=$'\t' read -r test v; do record "$1" "$test" llama-ffm-bench "$2" "$v"; done
}
# End-to-end runs: the first generation of the fresh JVM is recorded as "cold", the median of the rest as "warm".
e2e_record() { # model round tool  (reads JSON lines)
  local lines; lines=$(cat)
  [ -n "$lines" ] || { log "$3 produced no result on $1"; return; }
  echo "$lines" | jq -r --arg t "$3" 'select(.run == 1) | "cold-tg\t\(.tokensPerSecond)\ncold-ttft-ms\t\(.ttftMs)"' \
    | while IFS=$'\t' read -r k v; do record "$1" "$k" "$3" "$2" "$v"; done
  echo "$lines" | jq -s -r '[.[] | select(.run > 1)] | if length == 0 then empty else
      "e2e-tg\t" + ((map(.tokensPerSecond) | sort | .[length/2|floor]) | tostring),
      "ttft-ms\t" + ((map(.ttftMs) | sort | .[length/2|floor]) | tostring) end' \
    | while IFS=$'\t' read -r k v; do record "$1" "$k" "$3" "$2" "$v"; done
}
run_facade() { # model round mode
  "${JAVA[@]}" -cp "$BJAR" io.github.llamaffm.benchmarks.EndToEnd "${MODEL[$1]}" "$threads" "$3" "$ng" "$e2e_runs" 2>/dev/null \
    | grep '^{' | e2e_record "$1" "$2" "facade-$3"
}
PROMPT=$("${JAVA[@]}" -cp "$BJAR" io.github.llamaffm.benchmarks.EndToEnd --print-prompt)
run_kherud() { # model round mode
  [ "$kherud" = 1 ] || return 0
  # Its loader deletes every file named llama* in its temporary folder (in /tmp: other programs' files too, e.g.
  # /tmp/llamaffm-native.lock): give it a private one.
  local tmp="$out/kherud-tmp"; mkdir -p "$tmp"
  timeout 600 java -Djava.io.tmpdir="$tmp" -Dde.kherud.llama.tmpdir="$tmp" -cp "$KJAR" "$ROOT/benchmarks/suite/KherudBench.java" "${MODEL[$1]}" "$threads" "$3" "$ng" "$e2e_runs" "$PROMPT" \
    2>/dev/null | grep '^{' | e2e_record "$1" "$2" "kherud-$3" || log "kherud $3 failed on $1"
}

steps=(llama_bench ffm_bench "facade greedy" "facade sampling" "kherud greedy" "kherud sampling")
for ((r = 1; r <= rounds; r++)); do
  for m in "${model_list[@]}"; do
    order=("${steps[@]}")
    if ((r % 2 == 0)); then order=(); for ((i = ${#steps[@]} - 1; i >= 0; i--)); do order+=("${steps[$i]}"); done; fi
    for s in "${order[@]}"; do
      log "round $r/$rounds, $m: $s"
      read -r fn mode <<< "$s"
      "run_$fn" "$m" "$r" ${mode:+"$mode"}
    done
  done
done

# --- servers -----------------------------------------------------------------------------------------------------
if [ -n "$clients" ]; then
  IFS=, read -r -a client_list <<< "$clients"
  maxc=16; for c in "${client_list[@]}"; do ((c > maxc)) && maxc=$c; done
  ctx=$((maxc * 256))
  wait_up() { for _ in $(seq 1 600); do curl -fs "$1/models" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
  for m in "${model_list[@]}"; do
    pids=()
    "$CLI" serve -m "${MODEL[$m]}" -t "$threads" -np "$maxc" -c "$ctx" --port 18080 > "$out/serve-$m.log" 2>&1 &
    pids+=($!)
    targets=("llama-ffm-serve=http://127.0.0.1:18080/v1")
    if [ -n "$llama_server" ]; then
      LD_LIBRARY_PATH="$LIB" "$llama_server" -m "${MODEL[$m]}" -t "$threads" -np "$maxc" -c "$ctx" --port 18081 \
        --no-webui > "$out/llama-server-$m.log" 2>&1 &
      pids+=($!)
      targets+=("llama-server=http://127.0.0.1:18081/v1")
    fi
    for t in "${targets[@]}"; do wait_up "${t#*=}" || die "${t%%=*} did not start (see $out)"; done
    # Steady state, as a server runs: each server first takes an unrecorded load at the most clients (this is what
    # warms up llama-ffm's just-in-time compiler; llama-server gets the same), then the rounds alternate the order.
    for t in "${targets[@]}"; do
      log "$m: warming up ${t%%=*} ($maxc clients, $serve_s s, not recorded)"
      "$CLI" bench-serve --url "${t#*=}" -N "$maxc" -d "$serve_s" -n "$ng" --warmup 1 --json > /dev/null 2>&1 || true
    done
    for ((r = 1; r <= rounds; r++)); do
      order=("${targets[@]}")
      if ((r % 2 == 0)); then order=(); for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done; fi
      for c in "${client_list[@]}"; do
        for t in "${order[@]}"; do
          log "round $r/$rounds, $m: ${t%%=*} with $c client(s)"
          json="$out/bench-serve-$m-${t%%=*}-c$c-r$r.json"
          # Exit status 1 = some requests failed; the figures are still those of the requests that succeeded, and
          # the failures are recorded (serve-errors-cN) with samples in the JSON.
          "$CLI" bench-serve --url "${t#*=}" -N "$c" -d "$serve_s" -n "$ng" --warmup 1 --json > "$json" \
            2>> "$out/bench-serve.log" || log "bench-serve against ${t%%=*}: $(jq -r '.errors' "$json" 2>/dev/null || echo ?) failed request(s), see $json"
          jq -r '"serve-tps-c'"$c"'\t\(.tokensPerSecond)\nserve-ttft-p50-c'"$c"'\t\(.ttftMillis.p50)\nserve-ttft-p95-c'"$c"'\t\(.ttftMillis.p95)\nserve-errors-c'"$c"'\t\(.errors)"' "$json" 2>/dev/null \
            | while IFS=$'\t' read -r k v; do record "$m" "$k" "${t%%=*}" "$r" "$v"; done || true
        done
      done
    done
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  done
fi

java "$ROOT/benchmarks/suite/Summary.java" "$out/machine.txt" "$TSV" > "$out/report.md"
cat "$out/report.md"
log "results: $TSV, report: $out/report.md"
