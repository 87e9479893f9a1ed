"""pyarrow contestant of bench/segread, run as a coprocess so that its runs
interleave with the Go contestants' (load from other processes then hits
all alike). Reads commands from stdin, one per line:

    full            pq.read_table(files), threads on
    sel LO HI       pq.read_table(files, filters=id in [LO, HI))

and answers each with one JSON line: rows, wall seconds, and the CPU
seconds (user + system, all threads) the read took."""

import json
import resource
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    files = sys.argv[1:]
    print(json.dumps({"cpu_count": pa.cpu_count(), "pyarrow": pa.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        c0, t0 = cpu(), time.perf_counter()
        if cmd[0] == "full":
            n = pq.read_table(files, use_threads=True).num_rows
        else:
            lo, hi = int(cmd[1]), int(cmd[2])
            n = pq.read_table(files, filters=[("id", ">=", lo), ("id", "<", hi)], use_threads=True).num_rows
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(json.dumps({"rows": n, "seconds": wall, "cpu_seconds": used}), flush=True)


if __name__ == "__main__":
    main()
