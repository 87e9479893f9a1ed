#!/usr/bin/env bash
# Installs what building and testing libkalam needs, only when missing:
#   - Debian packages: librocksdb-dev (RocksDB 7.8 headers and library for
#     grocksdb), pkg-config, valgrind, a C compiler;
#   - the S3-compatible server the storage tests start (s3proxy, a
#     checksummed jar from Maven Central; Java 17 from Debian when missing:
#     scripts/s3-bootstrap.sh);
#   - a virtual environment .venv at the repository root: when
#     bindings/python/pyproject.toml exists, the pinned packages of
#     requirements-dev.txt and bindings/python installed editable with every
#     extra; otherwise just pytest and pyarrow (pinned).
# Idempotent: a second run with nothing to do only checks and returns.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# ---- Debian packages ---------------------------------------------------------
debs=(librocksdb-dev pkg-config valgrind gcc g++ make)
missing=()
for p in "${debs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
python=${PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      log "missing Debian packages: ${missing[*]} (run as root to install them)"
      exit 1
    fi
  else
    sudo=()
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" python3-venv "* ]]; then python=/usr/bin/python3; fi
fi

# ---- Rust (bindings/datafusion) ------------------------------------------------
if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  log "cargo is missing: install Rust >= 1.94 (https://rustup.rs) for bindings/datafusion"
  exit 1
fi

# ---- S3-compatible test server (s3proxy, storage/S3.md) ----------------------
bash "$root/scripts/s3-bootstrap.sh" >/dev/null

# ---- Python virtual environment ----------------------------------------------
venv="$root/.venv"
reqs="$root/requirements-dev.txt"
pyproject="$root/bindings/python/pyproject.toml"
stamp="$venv/.kalam-bootstrap"

want_stamp() {
  for f in "$reqs" "$pyproject"; do
    if [[ -f $f ]]; then cat "$f"; fi
  done | sha256sum | cut -d' ' -f1
}

if [[ ! -x $venv/bin/python ]]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi

current="$(want_stamp)"
if [[ -f $stamp && $(cat "$stamp") == "$current" ]]; then
  exit 0
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# The pin of a package in requirements-dev.txt, or the given default.
pin() {
  local p
  p="$(grep -E "^$1==" "$reqs" 2>/dev/null | head -1 || true)"
  echo "${p:-$1==$2}"
}

if [[ -f $pyproject ]]; then
  if [[ -f $reqs ]]; then
    log "installing $(basename "$reqs")"
    "${pip[@]}" install -r "$reqs"
  fi
  if ! grep -qE '^-e +\./bindings/python' "$reqs" 2>/dev/null; then
    # Every extra the package declares (pandas, polars, duckdb, notebook, ...).
    extras="$("$venv/bin/python" - "$pyproject" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    meta = tomllib.load(f).get("project", {})
print(",".join(sorted(meta.get("optional-dependencies", {}))))
PY
)"
    target="./bindings/python"
    if [[ -n $extras ]]; then target="./bindings/python[$extras]"; fi
    log "installing $target (editable)"
    "${pip[@]}" install -e "$target"
  fi
else
  "${pip[@]}" install "$(pin pytest 9.0.3)" "$(pin pyarrow 26.0.1)"
fi
echo "$current" >"$stamp"
log "ready"
