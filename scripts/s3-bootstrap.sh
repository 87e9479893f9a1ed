#!/usr/bin/env bash
# Installs the S3-compatible test server (s3proxy, Apache-2.0, storage/S3.md
# says why this one) when it is missing:
#   - a Java runtime >= 17 (Debian's openjdk-17-jre-headless, when `java` is
#     missing or older);
#   - the s3proxy jar (org.gaul:s3proxy, pinned below) from Maven Central
#     through mvn (Debian's maven is installed when mvn is missing), checked
#     against the pinned SHA-256, into $KALAM_TOOLS/s3proxy (default
#     ~/.cache/kalam: outside the repository, so `make clean` and new
#     worktrees keep it).
# Idempotent: with everything in place it only checks, and prints the jar's
# path.
set -euo pipefail

S3PROXY_VERSION=4.1.0
S3PROXY_SHA256=a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d
tools="${KALAM_TOOLS:-$HOME/.cache/kalam}"
dir="$tools/s3proxy"
jar="$dir/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"

log() { printf 's3-bootstrap: %s\n' "$*" >&2; }

apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      log "missing Debian packages: $* (run as root to install them)"; exit 1
    fi
  fi
  log "installing Debian packages: $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

java_major() {
  # `java -version` prints e.g. openjdk version "17.0.15" 2025-04-15
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

if ! command -v java >/dev/null || [[ $(java_major) -lt 17 ]]; then
  apt_install openjdk-17-jre-headless
fi

if [[ -f $jar ]] && echo "$S3PROXY_SHA256  $jar" | sha256sum -c --quiet - 2>/dev/null; then
  echo "$jar"
  exit 0
fi

if ! command -v mvn >/dev/null; then
  apt_install maven
fi
mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.download.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "downloading org.gaul:s3proxy:$S3PROXY_VERSION (jar-with-dependencies, ~55 MB)"
mvn -q -B dependency:copy \
  -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" \
  -DoutputDirectory="$tmp" >&2
got="$tmp/$(basename "$jar")"
if ! echo "$S3PROXY_SHA256  $got" | sha256sum -c --quiet -; then
  log "SHA-256 of the downloaded s3proxy jar is $(sha256sum "$got" | cut -d' ' -f1), expected $S3PROXY_SHA256"
  exit 1
fi
mv -f "$got" "$jar"
log "installed $jar"
echo "$jar"
