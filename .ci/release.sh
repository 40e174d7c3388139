#!/usr/bin/env bash
# The release job (on a v* tag): sets the version, then builds and publishes every artifact with the release profile
# (sources, javadoc, GPG signatures, Maven Central upload). Needs all native/build/<platform>/natives/ present and,
# in the environment, CENTRAL_USERNAME/CENTRAL_PASSWORD (server "central") and MAVEN_GPG_KEY/MAVEN_GPG_PASSPHRASE.
#
# Usage: .ci/release.sh VERSION
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${1:?usage: .ci/release.sh VERSION}
mvn -B -q org.codehaus.mojo:versions-maven-plugin:2.18.0:set -DnewVersion="$version" -DgenerateBackupPoms=false -DprocessAllModules=true
mvn -B -q -f bom/pom.xml org.codehaus.mojo:versions-maven-plugin:2.18.0:set -DnewVersion="$version" -DgenerateBackupPoms=false
mvn -B -Prelease deploy -DskipTests
