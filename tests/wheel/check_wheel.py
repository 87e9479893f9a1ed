"""Run by tests/wheel/test_wheel.sh inside a fresh virtual environment
where only the wheel (and pyarrow) is installed: the kalam package must load
the libkalam.so it ships, with the libraries the wheel bundles, and work.

argv[1] is the environment's site-packages directory.
"""

import os
import sys
import tempfile

import pyarrow as pa

site = os.path.realpath(sys.argv[1])

import kalam  # noqa: E402
from kalam import _ffi  # noqa: E402

if os.environ.get("KALAM_LIBRARY") or os.environ.get("LD_LIBRARY_PATH"):
    sys.exit("KALAM_LIBRARY / LD_LIBRARY_PATH must not be set for this check")
if not os.path.realpath(kalam.__file__).startswith(site + os.sep):
    sys.exit(f"kalam imported from {kalam.__file__}, not from the wheel in {site}")

with tempfile.TemporaryDirectory() as d:
    with kalam.open(os.path.join(d, "store")) as db:
        db.create_namespace("app")
        t = db.create_table(
            "app.readings",
            pa.schema([("id", pa.int64()), ("sensor", pa.string()), ("value", pa.float64())]),
            primary_key="id",
        )
        rows = 10_000
        t.append(
            pa.table(
                {
                    "id": pa.array(range(rows), pa.int64()),
                    "sensor": [f"s{i % 7}" for i in range(rows)],
                    "value": [i * 0.5 for i in range(rows)],
                }
            )
        )
        seg = t.flush()
        if not seg:
            sys.exit("flush wrote no segment")
        t.append(pa.table({"id": pa.array([3], pa.int64()), "sensor": ["new"], "value": [-1.0]}))
        got = t.scan(filter="id < 5").to_table().sort_by("id")
        want = {
            "id": [0, 1, 2, 3, 4],
            "sensor": ["s0", "s1", "s2", "new", "s4"],
            "value": [0.0, 0.5, 1.0, -1.0, 2.0],
        }
        if got.to_pydict() != want:
            sys.exit(f"scan returned {got.to_pydict()}, want {want}")
        total = t.scan(columns=["value"]).to_table()
        if total.num_rows != rows or abs(pa.compute.sum(total["value"]).as_py() - (sum(i * 0.5 for i in range(rows)) - 1.5 - 1.0)) > 1e-6:
            sys.exit(f"full scan: {total.num_rows} rows, sum {pa.compute.sum(total['value'])}")
        segs = t.segments()
        if segs.num_rows != 1:
            sys.exit(f"{segs.num_rows} segments after one flush")

# Every shared library of the process that the wheel was meant to bring must
# come from the wheel, and RocksDB must not come from anywhere else.
libpath = os.path.realpath(_ffi.library_path())
mapped = set()
with open("/proc/self/maps") as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 6 and ".so" in parts[5]:
            mapped.add(os.path.realpath(parts[5]))
bundled = ("librocksdb", "libsnappy", "libgflags", "liblz4", "libzstd", "libbz2")
wheel_libs = os.path.join(site, "kalam.libs") + os.sep
problems = []
if not libpath.startswith(os.path.join(site, "kalam") + os.sep):
    problems.append(f"libkalam loaded from {libpath}")
for m in sorted(mapped):
    base = os.path.basename(m)
    if base.startswith("librocksdb") and not m.startswith(wheel_libs):
        problems.append(f"RocksDB mapped from outside the wheel: {m}")
if not any(os.path.basename(m).startswith("librocksdb") and m.startswith(wheel_libs) for m in mapped):
    problems.append("no RocksDB from the wheel is mapped")
if problems:
    sys.exit("; ".join(problems))
from_wheel = sorted(os.path.basename(m) for m in mapped if m.startswith(wheel_libs))
print(f"wheel check: OK (libkalam {libpath}; from kalam.libs: {', '.join(from_wheel)})")
