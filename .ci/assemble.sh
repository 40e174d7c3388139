#!/usr/bin/env bash
# The assemble job (runs locally too): with every native/build/<platform>/natives/ present (downloaded from the
# natives jobs), packages all llama-ffm-natives classifier jars, the BOM, the facade and the runnable CLI jar, installs
# them, and copies the io.github.llamaffm artifacts into a Maven repository folder for the consumer jobs.
#
# Usage: .ci/assemble.sh OUT_REPOSITORY
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: .ci/assemble.sh OUT_REPOSITORY}
mvn -B install -DskipTests
local_repo=$(mvn -B -q help:evaluate -Dexpression=settings.localRepository -DforceStdout 2>/dev/null || echo "$HOME/.m2/repository")
mkdir -p "$out/io/github"
rm -rf "$out/io/github/llamaffm"
cp -R "$local_repo/io/github/llamaffm" "$out/io/github/"
echo "assemble.sh: artifacts in $out:"
find "$out" -name '*.jar' -exec ls -l {} \; | awk '{print $5, $9}'
