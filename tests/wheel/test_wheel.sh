#!/usr/bin/env bash
# The self-contained wheel (DESIGN §10): builds it with `make wheel`,
# installs it with pinned pyarrow into a fresh virtual environment, and
#   1. checks with ldd that every library the bundled libkalam.so needs
#      resolves, and every one beyond the manylinux baseline resolves inside
#      the wheel (kalam.libs/);
#   2. runs tests/wheel/check_wheel.py (create a table, append, flush, scan,
#      check the values; check /proc/self/maps) in a clean environment (no
#      LD_LIBRARY_PATH, no KALAM_LIBRARY, outside the repository) and, where
#      `unshare -m` is allowed, in a mount namespace in which the system's
#      librocksdb, libsnappy and libgflags are hidden behind empty files, so
#      that a wheel relying on them fails to load.
# Set KALAM_WHEEL to test an already built wheel instead of building one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
PYARROW_PIN=pyarrow==26.0.1
log() { printf 'test_wheel: %s\n' "$*" >&2; }

if [[ -z ${KALAM_WHEEL:-} ]]; then
  start=$(date +%s.%N)
  make -s wheel >&2
  log "make wheel took $(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)") s"
  whl="$(ls -t dist/kalam-*-manylinux*_x86_64.whl | head -1)"
else
  whl="$KALAM_WHEEL"
fi
log "wheel: $whl ($(du -h "$whl" | cut -f1))"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q "$whl" "$PYARROW_PIN"
site="$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
lib="$site/kalam/libkalam.so"
[[ -f $lib ]] || { log "the wheel installed no kalam/libkalam.so"; exit 1; }

# ---- 1. ldd -------------------------------------------------------------------
# The manylinux baseline: libraries every manylinux system provides.
baseline='^(linux-vdso\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libgcc_s\.so|libstdc\+\+\.so|ld-linux-x86-64\.so|libz\.so)'
env -i PATH=/usr/bin:/bin ldd "$lib" >"$tmp/ldd.txt"
fail=0
while read -r name arrow path _; do
  [[ $name == /* ]] && continue # the dynamic loader itself
  if [[ $arrow == "=>" && $path == not ]]; then
    log "ldd: $name is not found"
    fail=1
  elif [[ $name =~ $baseline ]]; then
    continue
  elif [[ $arrow != "=>" ]]; then
    log "ldd: $name does not resolve to a file"
    fail=1
  elif [[ $(realpath "$path") != "$(realpath "$site")"/kalam.libs/* ]]; then
    log "ldd: $name resolves outside the wheel: $path"
    fail=1
  fi
done <"$tmp/ldd.txt"
if ((fail)); then cat "$tmp/ldd.txt" >&2; exit 1; fi
log "ldd: every dependency of the bundled libkalam.so resolves, the non-baseline ones in kalam.libs/"

# ---- 2. use it ----------------------------------------------------------------
check=("$tmp/venv/bin/python" "$root/tests/wheel/check_wheel.py" "$site")
run_clean() { (cd "$tmp" && env -i PATH=/usr/bin:/bin HOME="$tmp" "$@"); }
run_clean "${check[@]}"

hide=()
for f in /usr/lib/x86_64-linux-gnu/librocksdb.so* /usr/lib/x86_64-linux-gnu/libsnappy.so* \
  /usr/lib/x86_64-linux-gnu/libgflags.so*; do
  [[ -f $f && ! -L $f ]] && hide+=("$f")
done
if ((${#hide[@]} == 0)); then
  log "no system RocksDB to hide: the run above already had none"
elif unshare -m true 2>/dev/null; then
  : >"$tmp/empty"
  mounts=""
  for f in "${hide[@]}"; do mounts+="mount --bind '$tmp/empty' '$f' && "; done
  log "again with ${hide[*]} hidden"
  run_clean unshare -m sh -c "${mounts}exec \"\$@\"" sh "${check[@]}"
  # The control: there, the repository's build (linked against the system
  # RocksDB) must fail to load, or the hiding proved nothing.
  if [[ -f build/libkalam.so ]]; then
    if run_clean unshare -m sh -c "${mounts}exec \"\$@\"" sh "$tmp/venv/bin/python" -c \
      "import ctypes, sys; ctypes.CDLL(sys.argv[1])" "$root/build/libkalam.so" 2>/dev/null; then
      log "build/libkalam.so loaded with the system RocksDB hidden: the hiding does not work"
      exit 1
    fi
    log "control: build/libkalam.so (system RocksDB) does not load there"
  fi
else
  log "unshare -m is not permitted here: the system RocksDB could not be hidden (the ldd and /proc/self/maps checks stand)"
fi
echo "wheel: 1 passed, 0 failed"
