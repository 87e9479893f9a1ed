"""Times pyarrow on segment files for bench/segread: a full read_table
(threads on) and a 1% key-range read with a filter, median of --runs runs
after one warm-up. Prints JSON on stdout."""

import argparse
import json
import statistics
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lo", type=int, required=True)
    ap.add_argument("--hi", type=int, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    def full() -> int:
        return pq.read_table(a.files, use_threads=True).num_rows

    def sel() -> int:
        return pq.read_table(a.files, filters=[("id", ">=", a.lo), ("id", "<", a.hi)], use_threads=True).num_rows

    out = {"cpu_count": pa.cpu_count()}
    for name, fn, want in (("seconds", full, a.rows), ("selective_seconds", sel, a.hi - a.lo)):
        times = []
        for run in range(a.runs + 1):
            t0 = time.perf_counter()
            n = fn()
            dt = time.perf_counter() - t0
            if n != want:
                raise SystemExit(f"{name}: {n} rows, expected {want}")
            if run:
                times.append(dt)
        out[name] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
