#!/usr/bin/env python3
"""libkalam demo: load sample events, flush segments, scan, show system tables.

    python examples/python/demo.py [PATH] [--rows N] [--segments K]

PATH defaults to ./demo-data. Re-running on an existing store drops and
recreates the demo table. Loading shows a tqdm progress bar only when stdout
is a terminal (and not with --no-progress); otherwise it prints a one-line
summary. The functions here are also used by the notebook
(examples/notebooks/analytics.ipynb) to create the store it reads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa

import kalam

TABLE = "demo.events"
KINDS = np.array(["page_view", "click", "add_to_cart", "purchase", "signup", "logout"])
# Frequencies of the kinds above: most events are views and clicks.
KIND_WEIGHTS = np.array([0.46, 0.3, 0.1, 0.05, 0.04, 0.05])
START = np.datetime64("2024-05-01T00:00:00", "us")
SPAN_US = 30 * 24 * 3600 * 1_000_000  # the events cover 30 days

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("user_id", pa.utf8(), nullable=False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("kind", pa.utf8(), nullable=False),
        pa.field("payload_size", pa.int32()),
        pa.field("amount", pa.float64()),
    ]
)


def event_batch(first_id: int, n: int, total: int, rng: np.random.Generator) -> pa.RecordBatch:
    """``n`` events with ids ``first_id``…; event times grow with the id over
    30 days, so time filters prune segments too."""
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    offsets = (ids * (SPAN_US // max(total, 1))) + rng.integers(0, 1_000_000, n)
    times = START + offsets.astype("timedelta64[us]")
    kinds = rng.choice(KINDS, size=n, p=KIND_WEIGHTS)
    users = np.char.add("user_", rng.integers(0, 20_000, n).astype(str))
    payload = rng.integers(64, 16_384, n).astype(np.int32)
    amount = np.where(kinds == "purchase", np.round(rng.gamma(2.0, 30.0, n), 2), np.nan)
    return pa.record_batch(
        [
            pa.array(ids),
            pa.array(users, pa.utf8()),
            pa.array(times, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            pa.array(kinds, pa.utf8()),
            pa.array(payload, pa.int32()),
            pa.array(amount, pa.float64(), from_pandas=True),  # NaN -> null: only purchases have an amount
        ],
        schema=SCHEMA,
    )


def _progress(total: int, progress: Optional[bool]):
    """A tqdm bar on stdout, only when asked for (``True``) or, with
    ``None``, when stdout is a terminal: in a log file or a pipe a bar is
    a mess of carriage returns."""
    if progress is False or (progress is None and not sys.stdout.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is a nicety
        return None
    return tqdm(total=total, unit="rows", unit_scale=True, desc="loading events", file=sys.stdout)


def load_events(
    db: kalam.Database,
    rows: int = 1_000_000,
    segments: int = 4,
    batch_rows: int = 50_000,
    seed: int = 7,
    progress: Optional[bool] = None,
) -> kalam.Table:
    """(Re)creates ``demo.events`` and loads ``rows`` events, flushing after
    each ``rows/segments`` rows so the table ends with ``segments`` segments
    of disjoint key ranges. Each segment's rows are streamed to libkalam as a
    RecordBatchReader, batch by batch.

    ``progress``: True shows a tqdm bar, False shows nothing, None (the
    default) shows the bar when stdout is a terminal and otherwise prints a
    one-line summary when the load is done."""
    if "demo" not in db.namespaces():
        db.create_namespace("demo")
    if TABLE in db.tables():
        db.drop_table(TABLE)
    t = db.create_table(TABLE, SCHEMA, primary_key=["id"], options={"compression": "zstd", "row_group_rows": 65536})
    rng = np.random.default_rng(seed)
    per_segment = -(-rows // max(segments, 1))
    bar = _progress(rows, progress)
    done = 0
    flushed = 0
    t0 = time.perf_counter()
    try:
        while done < rows:
            seg_end = min(rows, done + per_segment)

            def batches(start: int = done, end: int = seg_end) -> Iterator[pa.RecordBatch]:
                for first in range(start, end, batch_rows):
                    n = min(batch_rows, end - first)
                    b = event_batch(first, n, rows, rng)
                    yield b
                    if bar is not None:
                        bar.update(n)

            t.append(pa.RecordBatchReader.from_batches(SCHEMA, batches()))
            if t.flush() is not None:
                flushed += 1
            done = seg_end
    finally:
        if bar is not None:
            bar.close()
    if bar is None and progress is None:
        secs = time.perf_counter() - t0
        print(f"   loaded {rows:,} events into {flushed} segments in {secs:.2f} s "
              f"({rows / max(secs, 1e-9):,.0f} rows/s)", flush=True)
    return t


def ensure_store(path: str, rows: int = 1_000_000, segments: int = 4, progress: Optional[bool] = None) -> None:
    """Creates the demo store at ``path`` unless it already holds the demo
    table (used by the notebook)."""
    with kalam.open(path) as db:
        if TABLE not in db.tables():
            load_events(db, rows=rows, segments=segments, progress=progress)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Prints a step's title, then its duration."""
    print(f"\n== {title}", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"   ({(time.perf_counter() - t0) * 1000:.1f} ms)", flush=True)


def _show(table: pa.Table, max_rows: int = 12) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 48):
        print(table.slice(0, max_rows).to_pandas().to_string(index=False))
    if table.num_rows > max_rows:
        print(f"   … {table.num_rows - max_rows} more rows")


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default="./demo-data", help="store directory (default ./demo-data)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="events to load (default 1,000,000)")
    ap.add_argument("--segments", type=int, default=4, help="segments to flush (default 4)")
    ap.add_argument("--no-progress", action="store_true",
                    help="no progress bar (there is none anyway when stdout is not a terminal)")
    args = ap.parse_args(argv)
    total0 = time.perf_counter()
    print(f"libkalam {kalam.library_version()} ({kalam.library_path()})")

    with step(f"open {os.path.abspath(args.path)}"):
        db = kalam.open(args.path)
    with db:
        with step(f"load {args.rows:,} events into {TABLE}, flushing {args.segments} segments"):
            t = load_events(db, rows=args.rows, segments=args.segments, progress=False if args.no_progress else None)
            print(f"   manifest version {t.version}, {t.count_rows():,} rows")

        lo = args.rows // 2
        hi = lo + max(args.rows // 50, 1)
        flt = f"id BETWEEN {lo} AND {hi} AND kind = 'purchase'"
        with step(f"selective scan: {flt}"):
            scan = t.scan(columns=["id", "user_id", "event_time", "amount"], filter=flt)
            plan = scan.explain()
            result = scan.to_table()
            print(f"   {result.num_rows:,} rows; segments read: {len(plan['read'])}, pruned: {len(plan['pruned'])}")
            for p in plan["pruned"]:
                print(f"     pruned {p['path']} ({p['reason']})")
            for r in plan["read"]:
                print(f"     read   {r['path']} row groups {r['row_groups']}")
            kr = plan["key_range"]
            bounded = kr["empty"] or kr["lo"] is not None or kr["hi"] is not None
            # The bounds themselves are encoded key bytes (explain()["key_range"]).
            print(f"   merge: {plan['merge']}; the filter bounds the key range: {'yes' if bounded else 'no'}")
            _show(result, 5)

        day = (START + np.timedelta64(27, "D")).astype("datetime64[s]")
        tflt = f"event_time >= '{day}Z'"
        with step(f"time-filtered count: {tflt}"):
            tscan = t.scan(filter=tflt)
            plan = tscan.explain()
            print(f"   {tscan.count_rows():,} rows; segments pruned: {len(plan['pruned'])} of "
                  f"{len(plan['pruned']) + len(plan['read'])}")

        with step("upsert ids 0, 1, 2 and delete ids 3, 4; then read ids < 6 back"):
            t.append(pa.table({"id": [0, 1, 2], "user_id": ["user_x"] * 3,
                               "event_time": pa.array([START.astype("datetime64[us]")] * 3).cast(SCHEMA.field("event_time").type),
                               "kind": ["purchase"] * 3, "payload_size": [1, 2, 3], "amount": [9.99, 19.99, 29.99]},
                              schema=SCHEMA))
            t.delete([3, 4])
            _show(t.scan(filter="id < 6").to_table())

        with step("system.tables"):
            _show(db.system("tables"))
        with step("system.segments"):
            # A few of its columns: it also has every column's min, max and
            # null count, the sequence range and the key range.
            _show(t.segments().select(["path", "row_count", "size_bytes", "id_min", "id_max",
                                       "event_time_min", "event_time_max"]))
        with step("system.live_queries (while a scan is open)"):
            reader = t.scan(sql="demo: a scan kept open").to_reader()
            reader.read_next_batch()
            _show(db.system("live_queries"))
            reader.close()
    print(f"\ntotal {time.perf_counter() - total0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
