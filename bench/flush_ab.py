"""Flush against pyarrow.parquet.write_table, interleaved, for one or more
builds of libkalam (issue 10 item 6).

Each build runs in its own process (KALAM_LIBRARY), several rounds in turn,
so builds see the same machine load. A round: append ``--rows`` rows of
bench.py's 5-column layout (a fresh key range), flush them into one
segment (timed), then pyarrow.parquet.write_table of that segment's rows
with its layout (bench.py's ``_flush_peer`` without the fsync variant,
timed). Prints one JSON line per build and round, then a summary.

    .venv/bin/python bench/flush_ab.py --lib before=/tmp/a.so --lib after=build/libkalam.so
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(rows: int, flushes: int, threads: int) -> None:
    sys.argv = [sys.argv[0], "--threads", str(threads)]
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pyarrow.parquet as pq

    import bench as B  # sets GOMAXPROCS from --threads before loading libkalam

    rng = np.random.default_rng(B.DATA_SEED)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        db = B.kalam.open(os.path.join(d, "store"))
        db.create_namespace("bench")
        t = db.create_table("bench.flush", B.SCHEMA, primary_key="id")
        out = Path(d) / "peer.parquet"
        kw = None
        for i in range(flushes + 1):  # the first round is a warm-up
            t.append(B.rows_batch(rng, np.arange(i * rows, (i + 1) * rows)))
            t0 = time.perf_counter()
            sid = t.flush()
            flush_s = time.perf_counter() - t0
            path = B.segment_file(t, sid)
            stored = pq.read_table(path)
            if kw is None:
                kw = B.pyarrow_write_options(B.segment_layout(path))
            t0 = time.perf_counter()
            pq.write_table(stored, out, **kw)
            peer_s = time.perf_counter() - t0
            out.unlink()
            if i > 0:
                print(json.dumps({"flush_s": flush_s, "peer_s": peer_s, "rows": rows}), flush=True)
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", action="append", default=[], help="NAME=path of a libkalam.so (repeat)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per flush (bench.py: 1,000,000)")
    ap.add_argument("--flushes", type=int, default=3, help="timed flushes per process")
    ap.add_argument("--rounds", type=int, default=3, help="processes per build, interleaved")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.rows, a.flushes, a.threads)
        return
    if not a.lib:
        ap.error("name at least one build with --lib NAME=path")
    libs = [x.split("=", 1) for x in a.lib]
    res = {name: [] for name, _ in libs}
    for r in range(a.rounds):
        for name, path in libs:
            env = dict(os.environ, KALAM_LIBRARY=str(Path(path).resolve()))
            p = subprocess.run([sys.executable, __file__, "--child", "--rows", str(a.rows), "--flushes", str(a.flushes),
                                "--threads", str(a.threads)], env=env, check=True, capture_output=True, text=True)
            for line in p.stdout.splitlines():
                rec = json.loads(line)
                res[name].append(rec)
                print(json.dumps({"build": name, "round": r, **rec}), flush=True)
    for name, recs in res.items():
        f = statistics.median(x["flush_s"] for x in recs)
        w = statistics.median(x["peer_s"] for x in recs)
        ratios = sorted(x["peer_s"] / x["flush_s"] for x in recs)
        print(f"{name}: flush {a.rows / f / 1e6:.2f} M rows/s, pyarrow.write_table {a.rows / w / 1e6:.2f} M rows/s, "
              f"ratio of medians {w / f:.2f}x (per-round ratios {ratios[0]:.2f}..{ratios[-1]:.2f}, "
              f"median {statistics.median(ratios):.2f}), {len(recs)} flushes, {a.threads} threads")


if __name__ == "__main__":
    main()
