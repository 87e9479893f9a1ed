#!/usr/bin/env python3
"""libkalam benchmarks against peers (DESIGN §9, issues 10 and 13).

``make bench`` runs the full suite and writes ``bench/RESULTS.md`` and
``bench/results.json``; ``make bench-smoke`` (part of ``make test``) runs the
same code at tiny sizes, once, into a temporary directory and only checks that
every section produced numbers. ``--scale F`` runs the full suite with every
row count multiplied by F (a check at moderate size).

Every timed figure is the median of ``--runs`` runs (5 by default) with min
and max, and names the peer it is compared with. Contestants of one
comparison run interleaved (run 1 of each, then run 2 of each, ...) after one
untimed warm-up, on the same files, so that load from other processes on a
shared machine hits them alike. Every contestant gets the same number of
threads (``--threads``, default: every CPU), pinned before anything starts:
``GOMAXPROCS`` for libkalam (read by the Go runtime when libkalam.so is
loaded), ``pa.set_cpu_count``/``pa.set_io_thread_count`` for pyarrow,
``SET threads`` for DuckDB, ``POLARS_MAX_THREADS`` for Polars (read when
Polars is imported) and ``target_partitions`` (plus ``TOKIO_WORKER_THREADS``)
for DataFusion; RESULTS.md
prints what each reports back. All data is generated here from fixed seeds.

Section 10 reads from object storage: the bench starts the S3 test server
(s3proxy, ``scripts/s3-server.sh``, state in build/s3-server/bench) on
127.0.0.1 and stops it at the end of the section; ``KALAM_S3_TESTS=0`` skips
the section (the report says so).

Verdicts (met / missed, and why) are printed and written only by the full
run: at smoke or scaled size they mean nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import datetime
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple


def _threads_from_argv() -> int:
    """``--threads N`` (read before anything that starts threads is
    imported or loaded), else every CPU."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return max(1, int(argv[i + 1]))
        if a.startswith("--threads="):
            return max(1, int(a.split("=", 1)[1]))
    return os.cpu_count() or 1


# Pinned before libkalam.so (Go reads GOMAXPROCS when the runtime starts, at
# load) and Polars (POLARS_MAX_THREADS at import) can read them.
THREADS = _threads_from_argv()
os.environ["GOMAXPROCS"] = str(THREADS)
os.environ["POLARS_MAX_THREADS"] = str(THREADS)
# DataFusion's Python binding runs queries on a Tokio runtime, whose worker
# count Tokio reads from this variable when the runtime starts.
os.environ["TOKIO_WORKER_THREADS"] = str(THREADS)

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

import kalam  # noqa: E402  (the in-tree package, whatever is installed)

SEED = 20240501
DATA_SEED = SEED + 1  # the rows of bench.scan10 and of its twins bench.merge10, bench.hot10
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("category", pa.utf8()),
        ("value", pa.float64()),
        ("n", pa.int32()),
    ]
)
USER_COLUMNS = SCHEMA.names
NARROW_SCHEMA = pa.schema([("id", pa.int64()), ("value", pa.float64())])
CATEGORIES = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"])
TS0_US = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
# The columns of the selective SQL query (section 5).
SQL_COLUMNS = ["id", "category", "value"]
# arrow-go's zstd level when the writer names none (klauspost's SpeedDefault,
# zstd level 3). A Parquet footer does not record the level, so the pyarrow
# peer of the flush is given this one (pyarrow's own default would be 1).
ARROW_GO_ZSTD_LEVEL = 3


# ---- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Sizes of one bench run."""

    runs: int
    warmup: bool
    scan_rows: int  # sections 1, 3, 7: rows of the 10-segment tables
    scan_segments: int
    sel_rows: int  # sections 4, 5: rows of the 100-segment table
    sel_segments: int
    update_fraction: float  # section 7: keys updated into an overlapping segment
    hot_upserts: int  # section 3: scattered hot upserts
    sys_tables: int  # section 8
    sys_segment_tables: int  # tables that carry the segments of section 8
    sys_segments_per_table: int
    narrow_batch_rows: int  # section 2
    narrow_batches: int
    handoff_rows: int  # section 6
    handoff_columns: int
    handoff_batch_rows: Sequence[int]
    handoff_ncols: Sequence[int]
    handoff_max_batches: int
    startup_rows: int  # section 9
    s3_rows: int  # section 10: rows of the table on the S3 test server
    s3_segments: int
    profile: bool  # run the Go CPU profiles (bench/profile)
    shapes_rows: int = 2_000_000  # section 7.1: rows of each table shape
    verdicts: bool = False  # met/missed and why: the full run only
    race_budget_s: float = 90.0  # a comparison whose warm-up says it would take longer runs fewer times (at least 3)
    threads: int = 1
    scale: float = 1.0


FULL = Config(
    runs=5,
    warmup=True,
    scan_rows=10_000_000,
    scan_segments=10,
    sel_rows=10_000_000,
    sel_segments=100,
    update_fraction=0.10,
    hot_upserts=100,
    sys_tables=10_000,
    sys_segment_tables=10,
    sys_segments_per_table=10_000,
    narrow_batch_rows=1_000_000,
    narrow_batches=5,
    handoff_rows=262_144,
    handoff_columns=32,
    handoff_batch_rows=(1, 1024, 8192, 65536),
    handoff_ncols=(1, 8, 32),
    handoff_max_batches=2000,
    startup_rows=100_000,
    s3_rows=4_000_000,
    s3_segments=4,
    profile=True,
    verdicts=True,
)

SMOKE = Config(
    runs=1,
    warmup=False,
    scan_rows=20_000,
    scan_segments=2,
    sel_rows=20_000,
    sel_segments=10,
    update_fraction=0.10,
    hot_upserts=100,
    sys_tables=20,
    sys_segment_tables=2,
    sys_segments_per_table=50,
    narrow_batch_rows=10_000,
    narrow_batches=2,
    handoff_rows=4096,
    handoff_columns=4,
    handoff_batch_rows=(1, 1024),
    handoff_ncols=(1, 4),
    handoff_max_batches=50,
    startup_rows=1000,
    s3_rows=20_000,
    s3_segments=2,
    profile=True,
    verdicts=False,
    shapes_rows=4_000,
)


def scaled_config(cfg: Config, f: float) -> Config:
    """The full suite with every row and table count times ``f`` (segment
    counts, batch shapes and runs unchanged); no verdicts."""

    def s(n: int, lo: int) -> int:
        return max(lo, int(round(n * f)))

    return Config(
        **{
            **cfg.__dict__,
            "scan_rows": s(cfg.scan_rows, 100 * cfg.scan_segments),
            "sel_rows": s(cfg.sel_rows, 100 * cfg.sel_segments),
            "sys_tables": s(cfg.sys_tables, 10),
            "sys_segments_per_table": s(cfg.sys_segments_per_table, 10),
            "narrow_batch_rows": s(cfg.narrow_batch_rows, 1000),
            "startup_rows": s(cfg.startup_rows, 100),
            "shapes_rows": s(cfg.shapes_rows, 400),
            "s3_rows": s(cfg.s3_rows, 100 * cfg.s3_segments),
            "verdicts": False,
            "scale": f,
        }
    )


# ---- measurement -----------------------------------------------------------------


def summary(samples: Sequence[float]) -> Dict[str, Any]:
    """Median, min and max of a list of samples (kept too)."""
    if not samples:
        raise ValueError("no samples")
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "runs": len(samples),
        "samples": list(samples),
    }


def timed(fn: Callable[[], Any]) -> tuple:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def race(
    cfg: Config, contestants: Dict[str, Callable[[], Any]], check: Optional[Callable[[str, Any], None]] = None
) -> Dict[str, Dict[str, Any]]:
    """Runs every contestant ``cfg.runs`` times, interleaved, after one
    untimed warm-up each; returns the seconds per contestant as summaries,
    each with ``cores``: the process's CPU time (every thread) over the wall
    time, median of the runs. ``check(name, result)`` validates each result
    (row counts, values). When the warm-up round says the runs would take
    longer than ``cfg.race_budget_s`` (a cliff), fewer runs are made (at
    least 3); each summary's ``runs`` says how many."""
    runs = cfg.runs
    if cfg.warmup:
        round_s = 0.0
        for name, fn in contestants.items():
            secs, out = timed(fn)
            round_s += secs
            if check:
                check(name, out)
            del out
        if round_s * runs > cfg.race_budget_s:
            runs = max(3, min(runs, int(cfg.race_budget_s // max(round_s, 1e-9))))
    samples: Dict[str, List[float]] = {name: [] for name in contestants}
    cores: Dict[str, List[float]] = {name: [] for name in contestants}
    for _ in range(runs):
        for name, fn in contestants.items():
            c0 = os.times()
            secs, out = timed(fn)
            c1 = os.times()
            if check:
                check(name, out)
            del out
            samples[name].append(secs)
            cpu = (c1.user - c0.user) + (c1.system - c0.system)
            cores[name].append(cpu / secs if secs > 0 else 0.0)
    return {name: dict(summary(s), cores=statistics.median(cores[name])) for name, s in samples.items()}


def rate(s: Dict[str, Any], amount: float) -> Dict[str, Any]:
    """Turns a seconds summary into a per-second rate summary (max rate =
    fastest run)."""
    return {
        "median": amount / s["median"],
        "min": amount / s["max"],
        "max": amount / s["min"],
        "runs": s["runs"],
    }


def scaled(s: Dict[str, Any], factor: float) -> Dict[str, Any]:
    return {k: (v * factor if k in ("median", "min", "max") else v) for k, v in s.items() if k != "samples"}


def py_profile(fn: Callable[[], Any], top: int = 6) -> Dict[str, Any]:
    """One run of ``fn`` under cProfile: its seconds and the ``top``
    functions by their own time (a native call's own time is all of it; the
    bench's own frames left out), for the why-lines of section 5."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    out = fn()
    prof.disable()
    secs = time.perf_counter() - t0
    del out
    st = pstats.Stats(prof)
    rows = []
    for (fname, line, func), (_cc, _nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        if fname == __file__ or func in ("<lambda>", "disable"):
            continue
        where = func if fname == "~" else f"{func} ({Path(fname).name}:{line})"
        rows.append((tt, where))
    rows.sort(reverse=True)
    return {"seconds": secs, "top": [{"function": w, "seconds": c, "percent": 100 * c / secs if secs else 0.0} for c, w in rows[:top]]}


# ---- data --------------------------------------------------------------------------


def rows_batch(rng: np.random.Generator, ids: np.ndarray) -> pa.Table:
    """The 5-column bench rows for the given keys; values from ``rng``."""
    n = len(ids)
    return pa.table(
        {
            "id": ids.astype(np.int64),
            "ts": pa.array(TS0_US + ids.astype(np.int64) * 1000 + rng.integers(0, 1000, n), pa.timestamp("us", tz="UTC")),
            "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n)]),
            "value": rng.standard_normal(n) * 100.0,
            "n": rng.integers(0, 1_000_000, n).astype(np.int32),
        },
        schema=SCHEMA,
    )


def shape_tables(rng: np.random.Generator, n: int) -> Dict[str, Any]:
    """The tables of section 7.1: name → (table, primary key, description)."""

    def words(lo: int, hi: int) -> pa.Array:
        lens = rng.integers(lo, hi, n)
        alpha = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
        data = alpha[rng.integers(0, len(alpha), int(lens.sum()))].tobytes()
        offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offs.tobytes()), pa.py_buffer(data)])

    ids = np.arange(n, dtype=np.int64)
    wide = {"id": ids}
    for i in range(40):
        wide[f"c{i}"] = rng.standard_normal(n) if i % 2 else rng.integers(0, 1000, n)
    return {
        "nulls": (pa.table({
            "id": ids,
            "a": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.3),
            "b": pa.array(rng.integers(0, 1 << 40, n), mask=rng.random(n) < 0.5),
            "s": pa.array(np.array(["x", "yy", "zzz", None], dtype=object)[rng.integers(0, 4, n)]),
        }), "id", "int64 key; float64 30 % null, int64 50 % null, short strings 25 % null"),
        "strings": (pa.table({"id": ids, "s": words(5, 60), "t": words(20, 200)}), "id",
                    "int64 key; two random strings of 5–60 and 20–200 bytes"),
        "wide": (pa.table(wide), "id", "int64 key; 20 int64 columns of 1000 values, 20 float64 columns"),
        "strkey": (pa.table({"k": pa.array([f"user-{i:09d}" for i in range(n)]), "v": rng.standard_normal(n),
                             "n": rng.integers(0, 100, n)}), "k", "utf8 key of 14 bytes; float64, int64"),
        "compkey": (pa.table({"a": ids // 1000, "b": ids % 1000, "v": rng.standard_normal(n), "s": words(3, 12)}),
                    ["a", "b"], "(int64, int64) key; float64, strings of 3–12 bytes"),
    }


SHAPE_NAMES = ("nulls", "strings", "wide", "strkey", "compkey")


def segment_files(t: "kalam.Table") -> List[str]:
    """Absolute paths of the table's live segment files, in key order."""
    seg = t.segments()
    live = [p for p, dead in zip(seg.column("path").to_pylist(), seg.column("tombstone").to_pylist()) if not dead]
    return [os.path.join(t.storage_path, p) for p in sorted(live)]


def segment_file(t: "kalam.Table", seg_id: str) -> str:
    seg = t.segments()
    for i, p in zip(seg.column("id").to_pylist(), seg.column("path").to_pylist()):
        if i == seg_id:
            return os.path.join(t.storage_path, p)
    raise AssertionError(f"segment {seg_id} not in {t.qualified_name}")


FlushHook = Callable[[int, str, float], None]


def build_segmented(
    rng: np.random.Generator, t: "kalam.Table", rows: int, segments: int, on_flush: Optional[FlushHook] = None,
    hot_read: bool = False,
) -> Dict[str, Any]:
    """Fills ``t`` with keys 0..rows-1 as ``segments`` non-overlapping
    segments (one append + one flush each), timing every append and flush.
    ``on_flush(i, segment_path, flush_seconds)`` runs after flush i (the
    flush peer, interleaved); with ``hot_read`` the appended rows are also
    scanned back while still hot, before the flush (key-range filter, so
    that only the hot rows are read)."""
    per = rows // segments
    appends: List[float] = []
    flushes: List[float] = []
    hot_reads: List[float] = []
    for s in range(segments):
        batch = rows_batch(rng, np.arange(s * per, (s + 1) * per))
        secs, n = timed(lambda: t.append(batch))
        if n != per:
            raise AssertionError(f"append wrote {n} rows, expected {per}")
        appends.append(secs)
        if hot_read:
            flt = f"id >= {s * per} AND id < {(s + 1) * per}"
            secs, got = timed(lambda: t.scan(filter=flt).to_table())
            if got.num_rows != per:
                raise AssertionError(f"hot read-back: {got.num_rows} rows, expected {per}")
            del got
            hot_reads.append(secs)
        secs, seg_id = timed(t.flush)
        if seg_id is None:
            raise AssertionError("flush after an append wrote no segment")
        flushes.append(secs)
        if on_flush is not None:
            on_flush(s, segment_file(t, seg_id), secs)
    seg = t.segments()
    sizes = seg.column("size_bytes").to_pylist()
    out = {"rows_per_segment": per, "append_s": appends, "flush_s": flushes, "segment_bytes": sizes}
    if hot_read:
        out["hot_read_s"] = hot_reads
    return out


def expect_rows(n: int) -> Callable[[str, Any], None]:
    def check(name: str, out: Any) -> None:
        if out.num_rows != n:
            raise AssertionError(f"{name}: {out.num_rows} rows, expected {n}")

    return check


def segments_meeting(t: "kalam.Table", column: str, lo: int, hi: int) -> int:
    """Live segments whose ``column`` statistics meet [lo, hi) (integers in
    the column's storage unit): what a filter on that range must read."""
    seg = t.segments()
    live = [not d for d in seg.column("tombstone").to_pylist()]
    mins = pc.cast(seg.column(f"{column}_min"), pa.int64()).to_pylist()
    maxs = pc.cast(seg.column(f"{column}_max"), pa.int64()).to_pylist()
    return sum(1 for ok, a, b in zip(live, mins, maxs) if ok and (a is None or b is None or (a < hi and b >= lo)))


# ---- the Parquet layout of a segment (for the flush peer) ----------------------------
#
# pyarrow's metadata names a column chunk's codec, encodings, dictionary page
# and page index, but not its data page version or page sizes: those are read
# from the page headers (Thrift compact protocol), walked here.


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    shift = out = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _skip(buf: bytes, pos: int, t: int, elem: bool = False) -> int:
    if t in (1, 2):  # booleans: in the field header, or a byte inside a collection
        return pos + 1 if elem else pos
    if t == 3:
        return pos + 1
    if t in (4, 5, 6):
        return _varint(buf, pos)[1]
    if t == 7:
        return pos + 8
    if t == 8:
        n, pos = _varint(buf, pos)
        return pos + n
    if t in (9, 10):
        h = buf[pos]
        pos += 1
        n, et = h >> 4, h & 0x0F
        if n == 15:
            n, pos = _varint(buf, pos)
        for _ in range(n):
            pos = _skip(buf, pos, et, True)
        return pos
    if t == 11:
        n, pos = _varint(buf, pos)
        if n:
            kv = buf[pos]
            pos += 1
            for _ in range(n):
                pos = _skip(buf, pos, kv >> 4, True)
                pos = _skip(buf, pos, kv & 0x0F, True)
        return pos
    if t == 12:
        return _thrift_struct(buf, pos)[1]
    raise ValueError(f"thrift compact type {t}")


def _thrift_struct(buf: bytes, pos: int) -> Tuple[Dict[int, Any], int]:
    """A Thrift compact struct: integer and struct fields by id (the rest
    skipped)."""
    fields: Dict[int, Any] = {}
    last = 0
    while True:
        b = buf[pos]
        pos += 1
        if b == 0:
            return fields, pos
        t, d = b & 0x0F, b >> 4
        if d:
            fid = last + d
        else:
            v, pos = _varint(buf, pos)
            fid = _zigzag(v)
        last = fid
        if t in (4, 5, 6):
            v, pos = _varint(buf, pos)
            fields[fid] = _zigzag(v)
        elif t == 12:
            fields[fid], pos = _thrift_struct(buf, pos)
        else:
            pos = _skip(buf, pos, t)


def column_pages(f: Any, col: Any) -> List[Dict[str, int]]:
    """The pages of one column chunk: type (0 data V1, 2 dictionary, 3 data
    V2), uncompressed and compressed sizes, values."""
    start = col.dictionary_page_offset if col.has_dictionary_page and col.dictionary_page_offset else col.data_page_offset
    end = start + col.total_compressed_size
    pos = start
    out = []
    while pos < end:
        size = 4096
        while True:
            f.seek(pos)
            buf = f.read(size)
            try:
                h, hlen = _thrift_struct(buf, 0)
                break
            except IndexError:
                if len(buf) < size:
                    raise
                size *= 4
        typ = h.get(1, -1)
        inner = h.get(5) or h.get(8) or {}
        out.append({"type": typ, "uncompressed": h.get(2, 0), "compressed": h.get(3, 0), "values": inner.get(1, 0)})
        pos += hlen + h.get(3, 0)
    return out


def floor_pow2(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def segment_layout(path: str) -> Dict[str, Any]:
    """What a Parquet file's footer and page headers say about how it was
    written: row-group rows, and per column the codec, dictionary, data
    encodings, data page version, pages, statistics and page index."""
    md = pq.ParquetFile(path).metadata
    ngroups = md.num_row_groups
    out: Dict[str, Any] = {
        "rows": md.num_rows,
        "row_groups": ngroups,
        "row_group_rows": max(md.row_group(g).num_rows for g in range(ngroups)) if ngroups else 0,
        "format_version": md.format_version,
        "created_by": md.created_by,
        "columns": {},
    }
    with open(path, "rb") as f:
        for i in range(md.num_columns):
            chunks = [md.row_group(g).column(i) for g in range(ngroups)]
            c0 = chunks[0]
            pages = column_pages(f, c0)
            data = [p for p in pages if p["type"] in (0, 3)]
            out["columns"][c0.path_in_schema] = {
                "compression": c0.compression,
                "dictionary": any(c.has_dictionary_page for c in chunks),
                "encodings": sorted(set().union(*[set(c.encodings) for c in chunks])),
                "page_version": 2 if any(p["type"] == 3 for p in data) else 1,
                "data_pages": len(data),
                "rows_per_page": (c0.num_values / len(data)) if data else 0,
                # Uncompressed bytes and values of each data page of the
                # first row group's chunk, in order.
                "page_bytes": [p["uncompressed"] for p in data],
                "page_values": [p["values"] for p in data],
                "statistics": c0.is_stats_set,
                "offset_index": c0.has_offset_index,
                "column_index": c0.has_column_index,
            }
    return out


_DATA_ENCODINGS = ("DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "BYTE_STREAM_SPLIT")


def pyarrow_write_options(layout: Dict[str, Any]) -> Dict[str, Any]:
    """``pq.write_table`` keyword arguments that write a file with the
    layout ``segment_layout`` found: the same row groups, codec per column
    (zstd at arrow-go's default level), dictionary per column, non-PLAIN data
    encodings, data page version, page size limit (when the chunk has more
    than one page), statistics and page index."""
    cols = layout["columns"]
    codec = {c: ("lz4" if v["compression"] == "LZ4_RAW" else "none" if v["compression"] == "UNCOMPRESSED" else v["compression"].lower())
             for c, v in cols.items()}
    kw: Dict[str, Any] = {
        "row_group_size": layout["row_group_rows"] or None,
        "compression": codec,
        "use_dictionary": [c for c, v in cols.items() if v["dictionary"]],
        "write_statistics": [c for c, v in cols.items() if v["statistics"]],
        "data_page_version": "2.0" if any(v["page_version"] == 2 for v in cols.values()) else "1.0",
        "write_page_index": any(v["offset_index"] for v in cols.values()),
        "version": layout["format_version"] if layout["format_version"] in ("1.0", "2.4", "2.6") else "2.6",
        "store_schema": True,
    }
    zstd = {c: ARROW_GO_ZSTD_LEVEL for c, k in codec.items() if k == "zstd"}
    if zstd:
        kw["compression_level"] = zstd
    enc = {}
    for c, v in cols.items():
        if not v["dictionary"]:
            for e in _DATA_ENCODINGS:
                if e in v["encodings"]:
                    enc[c] = e
                    break
    if enc:
        kw["column_encoding"] = enc
    # Page size: a writer cuts a page once its encoded size passes the limit,
    # so every page but a chunk's last is a little over the limit and none is
    # far over it. Only when the pages say so is the limit taken from them;
    # otherwise pyarrow keeps its default, 1 MiB, which is arrow-go's too.
    # Dictionary columns are left out: writers size their pages by
    # different measures (arrow-go by the values' plain size, Arrow C++ by
    # the encoded indices), so their pages say nothing about the limit.
    plain = [v for v in cols.values() if not v["dictionary"]]
    cut = [b for v in plain for b in v["page_bytes"][:-1]]
    every = [b for v in plain for b in v["page_bytes"]]
    if cut:
        limit = floor_pow2(min(cut))
        if max(every) <= 2 * limit:
            kw["data_page_size"] = limit
    # Rows per page: pyarrow caps them (20 000 by default); arrow-go's pages
    # hold as many as the size limit lets in. Cap at the most a segment page
    # holds.
    most = max((x for v in cols.values() for x in v["page_values"]), default=0)
    if most:
        kw["max_rows_per_page"] = most
    return kw


def layout_differences(a: Dict[str, Any], b: Dict[str, Any]) -> List[str]:
    """Where two files' layouts differ (codec, dictionary, page version,
    page index, row groups), as short phrases."""
    out = []
    if a["row_group_rows"] != b["row_group_rows"]:
        out.append(f"row groups {a['row_group_rows']:,} vs {b['row_group_rows']:,} rows")
    for c, x in a["columns"].items():
        y = b["columns"].get(c)
        if y is None:
            out.append(f"{c} missing")
            continue
        for k in ("compression", "dictionary", "page_version", "offset_index"):
            if x[k] != y[k]:
                out.append(f"{c}.{k} {x[k]} vs {y[k]}")
        na, nb = x["data_pages"], y["data_pages"]
        if abs(na - nb) > max(1, 0.25 * max(na, nb)):
            out.append(f"{c} data pages per row group {na} vs {nb}")
    return out


def describe_layout(layout: Dict[str, Any]) -> str:
    """One line: row groups, then each column's codec, dictionary, page
    version and pages."""
    parts = []
    for c, v in layout["columns"].items():
        enc = [e for e in v["encodings"] if e not in ("RLE", "BIT_PACKED", "PLAIN", "PLAIN_DICTIONARY", "RLE_DICTIONARY")]
        parts.append(
            f"`{c}` {v['compression'].lower()}{', dictionary' if v['dictionary'] else ''}{', ' + '/'.join(enc) if enc else ''}, "
            f"V{v['page_version']} pages of ~{v['rows_per_page']:,.0f} rows"
        )
    pi = any(v["offset_index"] for v in layout["columns"].values())
    return (f"row groups of {layout['row_group_rows']:,} rows, format {layout['format_version']}, "
            f"page index {'yes' if pi else 'no'}; " + "; ".join(parts))


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- thread settings ------------------------------------------------------------------


def duck_connect(threads: int) -> "duckdb.DuckDBPyConnection":
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    return con


def datafusion_context(threads: int) -> Any:
    import datafusion

    cfg = datafusion.SessionConfig().with_target_partitions(threads).with_information_schema(True)
    return datafusion.SessionContext(cfg)


def thread_settings(threads: int) -> Dict[str, Any]:
    """What each contestant was pinned to, as it reports it back."""
    import polars as pl

    con = duck_connect(threads)
    duck_threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    con.close()
    try:
        ctx = datafusion_context(threads)
        df_parts = ctx.sql("SHOW datafusion.execution.target_partitions").to_arrow_table().column("value")[0].as_py()
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        df_parts = f"unknown ({e})"
    return {
        "pinned": threads,
        "os_cpu_count": os.cpu_count(),
        "libkalam": {"how": "GOMAXPROCS in the environment before libkalam.so is loaded", "value": os.environ.get("GOMAXPROCS")},
        "pyarrow": {"how": "pa.set_cpu_count, pa.set_io_thread_count", "value": f"{pa.cpu_count()} CPU, {pa.io_thread_count()} I/O"},
        "duckdb": {"how": "SET threads (every connection)", "value": str(duck_threads)},
        "polars": {"how": "POLARS_MAX_THREADS before import", "value": str(pl.thread_pool_size())},
        "datafusion": {"how": "SessionConfig.with_target_partitions; TOKIO_WORKER_THREADS before import",
                       "value": f"{df_parts} partitions, TOKIO_WORKER_THREADS={os.environ.get('TOKIO_WORKER_THREADS')}"},
    }


# ---- the S3 test server (section 10) ---------------------------------------------------


class S3Server:
    """scripts/s3-server.sh (s3proxy on 127.0.0.1, a free port) with the
    bench's own state directory, build/s3-server/bench; started here,
    stopped by ``stop``."""

    def __init__(self) -> None:
        self.state = REPO / "build" / "s3-server" / "bench"
        self.env = dict(os.environ, KALAM_S3_STATE=str(self.state))
        out = subprocess.run(["bash", str(REPO / "scripts" / "s3-server.sh"), "start"], env=self.env,
                             capture_output=True, text=True)
        if out.returncode == 2:
            raise SystemExit(f"bench: the S3 test server is not installed ({out.stderr.strip()}); run "
                             "scripts/s3-bootstrap.sh (make bootstrap does), or set KALAM_S3_TESTS=0 to skip section 10")
        if out.returncode != 0:
            raise RuntimeError(f"scripts/s3-server.sh start (exit {out.returncode}): {out.stderr.strip()}")
        vals = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        if not vals.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the S3 test server is not on 127.0.0.1: {vals.get('AWS_ENDPOINT_URL')}")
        self.bucket = vals["KALAM_S3_BUCKET"]
        self.options = {"endpoint": vals["AWS_ENDPOINT_URL"], "region": vals["AWS_REGION"],
                        "access_key_id": vals["AWS_ACCESS_KEY_ID"], "secret_access_key": vals["AWS_SECRET_ACCESS_KEY"],
                        "allow_http": True}

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "scripts" / "s3-server.sh"), "stop"], env=self.env, capture_output=True,
                       text=True, check=True)


# ---- the suite ---------------------------------------------------------------------


@dataclass
class Bench:
    cfg: Config
    work: Path
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(SEED))
    results: Dict[str, Any] = field(default_factory=dict)
    log_lines: List[str] = field(default_factory=list)

    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        self.log_lines.append(line)
        print(line, flush=True)

    # 1: builds, full scan --------------------------------------------------------
    def full_scan(self, db: "kalam.Database") -> None:
        cfg = self.cfg
        t = db.create_table("bench.scan10", SCHEMA, primary_key="id")
        peer: Dict[str, Any] = {"write_s": [], "write_fsync_s": [], "bytes": []}

        def on_flush(i: int, path: str, flush_s: float) -> None:
            self._flush_peer(peer, i, path)

        secs, build = timed(lambda: build_segmented(np.random.default_rng(DATA_SEED), t, cfg.scan_rows, cfg.scan_segments,
                                                    on_flush=on_flush, hot_read=True))
        self.log(f"built bench.scan10: {cfg.scan_rows} rows, {cfg.scan_segments} segments in {secs:.1f} s "
                 "(with the flush peer and the hot read-back)")
        self.results["build_scan10"] = dict(build, seconds=secs)
        self.results["flush_peer"] = peer
        # Its twins (the same rows, from the same seed): bench.merge10 becomes
        # section 7's overlapping table and bench.hot10 section 3's table with
        # hot rows, so that each runs interleaved against this untouched one.
        for twin in ("bench.merge10", "bench.hot10"):
            tt = db.create_table(twin, SCHEMA, primary_key="id")
            tsecs, _ = timed(lambda: build_segmented(np.random.default_rng(DATA_SEED), tt, cfg.scan_rows, cfg.scan_segments))
            self.results[f"build_{twin.split('.')[1]}_seconds"] = tsecs
            self.log(f"built {twin} (twin) in {tsecs:.1f} s")
        files = segment_files(t)
        assert len(files) == cfg.scan_segments, files
        n = cfg.scan_rows
        con = duck_connect(cfg.threads)
        flist = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"

        def sql(cols: Sequence[str]) -> str:
            return f"SELECT {', '.join(cols)} FROM read_parquet({flist})"

        res: Dict[str, Any] = {"rows": n, "segments": len(files), "files_bytes": sum(os.path.getsize(f) for f in files)}
        res["layout"] = segment_layout(files[0])
        for label, cols in (("all", USER_COLUMNS), ("value", ["value"])):
            proj = None if label == "all" else cols
            times = race(
                cfg,
                {
                    "kalam": lambda: t.scan(columns=proj).to_table(),
                    "pyarrow": lambda: pq.read_table(files, columns=list(cols)),
                    "duckdb": lambda: con.sql(sql(cols)).to_arrow_table(),
                },
                expect_rows(n),
            )
            res[label] = {k: {"seconds": v, "rows_per_s": rate(v, n)} for k, v in times.items()}
            self.log(
                f"full scan [{label}]: "
                + ", ".join(f"{k} {n / v['median'] / 1e6:.1f} M rows/s" for k, v in times.items())
            )
        con.close()
        self.results["full_scan"] = res

    def _flush_peer(self, peer: Dict[str, Any], i: int, path: str) -> None:
        """Right after libkalam's flush i: pyarrow.parquet.write_table of the
        very rows of that segment (every stored column, _seq and _deleted
        included), with the layout read from the segment's footer and page
        headers; once as is and once followed by an fsync of the file and its
        directory. The first flush's file is also checked for layout."""
        layout = segment_layout(path)
        kw = pyarrow_write_options(layout)
        stored = pq.read_table(path)
        out = self.work / "pyarrow_flush.parquet"
        if i == 0:
            peer["layout"] = layout
            peer["options"] = {k: v for k, v in kw.items()}
            peer["rows"] = stored.num_rows
            peer["columns"] = stored.num_columns
            pq.write_table(stored, out, **kw)  # warm-up, and the layout check
            peer["pyarrow_layout"] = segment_layout(str(out))
            peer["differences"] = layout_differences(layout, peer["pyarrow_layout"])
            out.unlink()
        secs, _ = timed(lambda: pq.write_table(stored, out, **kw))
        peer["write_s"].append(secs)
        peer["bytes"].append(out.stat().st_size)
        out.unlink()

        def write_sync() -> None:
            pq.write_table(stored, out, **kw)
            fsync_path(out)
            fsync_path(out.parent)

        secs, _ = timed(write_sync)
        peer["write_fsync_s"].append(secs)
        out.unlink()

    # 2: ingest and flush -------------------------------------------------------------
    def ingest(self, db: "kalam.Database") -> None:
        cfg = self.cfg
        build = self.results["build_scan10"]
        per = build["rows_per_segment"]
        res: Dict[str, Any] = {}
        app = summary(build["append_s"])
        res["append_wide"] = {"rows": per, "seconds": app, "rows_per_s": rate(app, per)}
        # Narrow rows: an int64 key and a float64, fresh table, hot storage only.
        nt = db.create_table("bench.narrow", NARROW_SCHEMA, primary_key="id")
        nb = cfg.narrow_batch_rows
        batches = [
            pa.table({"id": np.arange(i * nb, (i + 1) * nb, dtype=np.int64), "value": self.rng.standard_normal(nb)}, schema=NARROW_SCHEMA)
            for i in range(cfg.narrow_batches)
        ]
        narrow = []
        for b in batches:
            secs, w = timed(lambda: nt.append(b))
            assert w == nb, w
            narrow.append(secs)
        ns = summary(narrow)
        res["append_narrow"] = {"rows": nb, "seconds": ns, "rows_per_s": rate(ns, nb)}
        # Flush: the flushes that built bench.scan10, each followed by its
        # pyarrow peer (section 1's build).
        peer = self.results["flush_peer"]
        fl = summary(build["flush_s"])
        hr = summary(build["hot_read_s"])
        pw = summary(peer["write_s"])
        pf = summary(peer["write_fsync_s"])
        res["flush"] = {
            "rows": per,
            "seconds": fl,
            "rows_per_s": rate(fl, per),
            "segment_bytes_median": statistics.median(build["segment_bytes"]),
            "hot_read": {"seconds": hr, "rows_per_s": rate(hr, per)},
        }
        res["pyarrow_write"] = {"rows": peer["rows"], "seconds": pw, "rows_per_s": rate(pw, peer["rows"]),
                                "file_bytes": statistics.median(peer["bytes"])}
        res["pyarrow_write_fsync"] = {"rows": peer["rows"], "seconds": pf, "rows_per_s": rate(pf, peer["rows"])}
        # The fixed cost of a flush: one hot row, flushed (the segment write is
        # negligible; what is left is the commit: fsyncs, the synced RocksDB
        # batch, the manifest mirror).
        tiny = db.create_table("bench.tiny", NARROW_SCHEMA, primary_key="id")
        fixed: List[float] = []
        for r in range(cfg.runs + (1 if cfg.warmup else 0)):
            tiny.append(pa.table({"id": [r], "value": [1.0]}, schema=NARROW_SCHEMA))
            secs, sid = timed(tiny.flush)
            assert sid is not None
            if r > 0 or not cfg.warmup:
                fixed.append(secs)
        res["flush_one_row"] = {"seconds": summary(fixed)}
        self.results["ingest"] = res
        self.log(
            f"ingest: wide {per / app['median'] / 1e6:.2f} M rows/s, narrow {nb / ns['median'] / 1e6:.2f} M rows/s; "
            f"flush {per / fl['median'] / 1e6:.2f} M rows/s (hot read-back alone {per / hr['median'] / 1e6:.2f}, "
            f"1-row flush {statistics.median(fixed) * 1e3:.1f} ms) vs pyarrow.write_table {peer['rows'] / pw['median'] / 1e6:.2f} M rows/s "
            f"({peer['rows'] / pf['median'] / 1e6:.2f} with fsync); layout differences: {peer['differences'] or 'none'}"
        )

    # 3: hot rows on a flushed table ---------------------------------------------------
    def hot_rows(self, db: "kalam.Database") -> None:
        """bench.hot10 (a twin of bench.scan10, flushed by this process) gets
        one hot upsert, then hot upserts of scattered keys up to
        ``cfg.hot_upserts``; after each step its full scan and a 1% key-range
        scan race the same scans of the clean bench.scan10. Then the plans
        of selective filters (a key range and a ts range) show whether
        statistics still prune the segments that hold no key of the filter."""
        cfg = self.cfg
        clean = db.table("bench.scan10")
        hot = db.table("bench.hot10")
        n = cfg.scan_rows
        width = max(n // 100, 1)
        lo = int(self.rng.integers(n // 4, n // 2))
        hi = lo + width
        rflt = f"id >= {lo} AND id < {hi}"
        first = n // 2 + 7
        rng = self.rng
        res: Dict[str, Any] = {"rows": n, "segments": cfg.scan_segments, "range_filter": rflt}

        def check(name: str, out: Any) -> None:
            want = width if name.endswith("range") else n
            if out.num_rows != want:
                raise AssertionError(f"{name}: {out.num_rows} rows, expected {want}")

        def step(label: str, keys: np.ndarray) -> None:
            batch = rows_batch(rng, keys)
            hot.append(batch)
            want_hot = res.get("hot_rows", 0) + len(keys)
            if hot.hot_rows != want_hot:
                raise AssertionError(f"bench.hot10 has {hot.hot_rows} hot rows, expected {want_hot}")
            res["hot_rows"] = want_hot
            times = race(
                cfg,
                {
                    "clean_full": lambda: clean.scan().to_table(),
                    "hot_full": lambda: hot.scan().to_table(),
                    "clean_range": lambda: clean.scan(filter=rflt).to_table(),
                    "hot_range": lambda: hot.scan(filter=rflt).to_table(),
                },
                check,
            )
            # The upserts are what the scan returns.
            k = int(keys[len(keys) // 2])
            got = hot.scan(filter=f"id = {k}").to_table().column("value").to_pylist()
            want = batch.filter(pc.equal(batch.column("id"), k)).column("value").to_pylist()
            if got != want:
                raise AssertionError(f"bench.hot10 key {k}: {got}, expected {want}")
            plan = hot.scan().explain()
            res[label] = {"hot_rows": want_hot, "merge": plan.get("merge"), "full_read": len(plan.get("read", [])),
                          **{k2: {"seconds": v} for k2, v in times.items()}}
            self.log(f"hot rows [{label}, {want_hot} hot]: full {times['hot_full']['median'] * 1e3:.0f} ms vs clean "
                     f"{times['clean_full']['median'] * 1e3:.0f} ms; 1% range {times['hot_range']['median'] * 1e3:.1f} ms vs "
                     f"{times['clean_range']['median'] * 1e3:.1f} ms")

        step("one", np.array([first], dtype=np.int64))
        others = rng.choice(np.setdiff1d(np.arange(n, dtype=np.int64), [first]), size=max(cfg.hot_upserts - 1, 0), replace=False)
        step("scattered", np.sort(others))
        keys = np.sort(np.concatenate([[first], others]))
        res["hot_keys"] = [int(keys[0]), int(keys[-1])]
        # Pruning with the scattered hot keys: a key range and a ts range (ts
        # follows id: TS0 + id ms + < 1 ms), each 1% of the table.
        plans = {}
        for what, col, flt, a, b in (
            ("key", "id", rflt, lo, hi),
            ("ts", "ts", f"ts >= {TS0_US + lo * 1000} AND ts < {TS0_US + hi * 1000}", TS0_US + lo * 1000, TS0_US + hi * 1000),
        ):
            plan = hot.scan(filter=flt).explain()
            plans[what] = {
                "filter": flt,
                "read": len(plan.get("read", [])),
                "pruned": len(plan.get("pruned", [])),
                "expected": segments_meeting(hot, col, a, b),
                "hot_keys_in_filter": int(((keys >= lo) & (keys < hi)).sum()),
                "hot": plan.get("hot"),
                "merge": plan.get("merge"),
                "pruned_reasons": sorted({p.get("reason", "?") for p in plan.get("pruned", [])}),
            }
        res["pruning"] = plans
        self.results["hot"] = res
        self.log("hot rows pruning: " + "; ".join(f"{w} filter read {p['read']} of {p['read'] + p['pruned']} segments "
                                                    f"(statistics allow {p['expected']})" for w, p in plans.items()))

    # 4: selective scan -----------------------------------------------------------------
    def selective(self, db: "kalam.Database") -> None:
        cfg = self.cfg
        t = db.create_table("bench.sel100", SCHEMA, primary_key="id")
        secs, build = timed(lambda: build_segmented(self.rng, t, cfg.sel_rows, cfg.sel_segments))
        self.log(f"built bench.sel100: {cfg.sel_rows} rows, {cfg.sel_segments} segments in {secs:.1f} s")
        files = segment_files(t)
        n = cfg.sel_rows
        width = n // 100
        # A range that starts inside a segment, so it spans two of them as a
        # range of real data usually does.
        lo = int(self.rng.integers(n // 4, n // 2))
        hi = lo + width
        flt = f"id >= {lo} AND id < {hi}"
        plan = t.scan(filter=flt).explain()
        dset = ds.dataset(files, format="parquet")
        pexpr = (ds.field("id") >= lo) & (ds.field("id") < hi)

        def check(name: str, out: Any) -> None:
            want = n if name == "kalam_full" else width
            if out.num_rows != want:
                raise AssertionError(f"{name}: {out.num_rows} rows, expected {want}")

        times = race(
            cfg,
            {
                "kalam_range": lambda: t.scan(filter=flt).to_table(),
                "kalam_full": lambda: t.scan().to_table(),
                "pyarrow_dataset_range": lambda: dset.to_table(columns=USER_COLUMNS, filter=pexpr),
            },
            check,
        )
        self.results["selective"] = {
            "rows": n,
            "segments": len(files),
            "range_rows": width,
            "filter": flt,
            "segments_read": len(plan.get("read", [])),
            "segments_pruned": len(plan.get("pruned", [])),
            "row_groups_read": sum(len(r.get("row_groups", [])) for r in plan.get("read", [])),
            "row_groups_per_segment": pq.ParquetFile(files[0]).metadata.num_row_groups,
            "build_seconds": secs,
            **{k: {"seconds": v} for k, v in times.items()},
        }
        self.log(
            "selective: "
            + ", ".join(f"{k} {v['median'] * 1e3:.1f} ms" for k, v in times.items())
            + f" (read {len(plan.get('read', []))} of {len(files)} segments)"
        )

    # 5: query engines --------------------------------------------------------------
    def engines(self, db: "kalam.Database") -> None:
        """A selective SQL query (a 1% key range, three columns) through
        DataFusion, DuckDB (over a Scan and over the table's pyarrow dataset)
        and Polars, each against the same ``t.scan(columns, filter)``; on
        the clean bench.sel100 and on bench.hot10 with its hot upserts."""
        import polars as pl

        import kalam.polars as kpl
        from kalam.integrations import _ffi_provider_class

        cfg = self.cfg
        provider = _ffi_provider_class()
        res: Dict[str, Any] = {"columns": SQL_COLUMNS, "kalam_datafusion": provider is not None}
        try:
            import kalam_datafusion  # noqa: F401

            res["kalam_datafusion_module"] = getattr(kalam_datafusion, "__file__", "?")
        except ImportError as e:
            res["kalam_datafusion_module"] = None
            res["kalam_datafusion_error"] = str(e)
        ctx = datafusion_context(cfg.threads)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kalam.register_datafusion(ctx, db)
        res["register_warning"] = "; ".join(str(w.message) for w in caught) or None
        con = duck_connect(cfg.threads)
        cols = ", ".join(SQL_COLUMNS)
        for state, tname in (("clean", "bench.sel100"), ("hot", "bench.hot10")):
            t = db.table(tname)
            n = t.count_rows()
            width = max(n // 100, 1)
            lo = int(self.rng.integers(n // 4, n // 2))
            hi = lo + width
            flt = f"id >= {lo} AND id < {hi}"
            sql = f"SELECT {cols} FROM {tname} WHERE id >= {lo} AND id < {hi}"
            direct = t.scan(columns=SQL_COLUMNS, filter=flt).to_table()
            want_rows = direct.num_rows
            want_sum = pc.sum(direct.column("value")).as_py()
            # DuckDB over a Scan: does DuckDB ask the Scan for a projection
            # (requested_schema)? Probed once, outside the timings.
            asked: List[bool] = []

            class Probe:
                def __init__(self, scan: "kalam.Scan") -> None:
                    self.scan = scan

                def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
                    asked.append(requested_schema is not None)
                    return self.scan.__arrow_c_stream__(requested_schema)

            con.register("kprobe", Probe(t.scan(filter=flt)))
            con.sql(f"SELECT {cols} FROM kprobe WHERE id >= {lo} AND id < {hi}").to_arrow_table()
            con.unregister("kprobe")
            con.register("kscan", t.scan(filter=flt))
            ksrc = kalam.duckdb.source(t)
            con.register("ksrc", ksrc)
            mk, dset = timed(t.to_pyarrow_dataset)
            con.register("kds", dset)
            reports: List[Any] = []
            lf = (kpl.scan_table(t, on_scan=reports.append)
                  .filter((pl.col("id") >= lo) & (pl.col("id") < hi)).select(SQL_COLUMNS))
            contestants = {
                "direct": lambda: t.scan(columns=SQL_COLUMNS, filter=flt).to_table(),
                "datafusion": lambda: ctx.sql(sql).to_arrow_table(),
                "duckdb_scan": lambda: con.sql(f"SELECT {cols} FROM kscan WHERE id >= {lo} AND id < {hi}").to_arrow_table(),
                "duckdb_dataset": lambda: con.sql(f"SELECT {cols} FROM kds WHERE id >= {lo} AND id < {hi}").to_arrow_table(),
                "duckdb_source": lambda: con.sql(f"SELECT {cols} FROM ksrc WHERE id >= {lo} AND id < {hi}").to_arrow_table(),
                "polars": lambda: lf.collect(),
            }

            def check(name: str, out: Any) -> None:
                tbl = out if isinstance(out, pa.Table) else out.to_arrow()
                got = pc.sum(tbl.column("value")).as_py()
                if tbl.num_rows != want_rows or not np.isclose(got, want_sum, rtol=1e-9, atol=1e-6):
                    raise AssertionError(f"{state} {name}: {tbl.num_rows} rows, sum {got}; expected {want_rows}, {want_sum}")

            times = race(cfg, contestants, check)
            profiles = {name: py_profile(fn) for name, fn in contestants.items() if name != "direct"}
            plan_text = ""
            try:
                plan_text = "\n".join(str(v) for v in ctx.sql("EXPLAIN " + sql).to_arrow_table().column("plan").to_pylist())
            except Exception as e:  # noqa: BLE001 - recorded
                plan_text = f"EXPLAIN failed: {e}"
            rep = reports[-1] if reports else None
            explain = t.scan(filter=flt).explain()
            res[state] = {
                "table": tname,
                "rows": n,
                "hot_rows": t.hot_rows,
                "filter": flt,
                "sql": sql,
                "result_rows": want_rows,
                "segments_read": len(explain.get("read", [])),
                "segments_total": len(explain.get("read", [])) + len(explain.get("pruned", [])),
                "duckdb_requested_schema": any(asked),
                "duckdb_source_pushed": ksrc.pushed if hasattr(ksrc, "pushed") else None,
                "dataset_make_s": mk,
                "dataset_fragments": len(list(dset.get_fragments())),
                "datafusion_kalam_scan": "KalamScan" in plan_text,
                "datafusion_plan": plan_text[:2000],
                "polars_pushed_filter": rep.translation.filter if rep is not None and rep.translation is not None else None,
                "polars_residual": (str(rep.translation.residual) if rep is not None and rep.translation is not None
                                    and rep.translation.residual is not None else None),
                "polars_rows_read": rep.rows_read if rep is not None else None,
                "profiles": profiles,
                **{k: {"seconds": v} for k, v in times.items()},
            }
            con.unregister("kscan")
            con.unregister("ksrc")
            con.unregister("kds")
            kalam.release_dataset(dset)
            del dset
            self.log(f"engines [{state}, {tname}, {t.hot_rows} hot rows]: "
                     + ", ".join(f"{k} {v['median'] * 1e3:.1f} ms" for k, v in times.items())
                     + f"; dataset made in {mk * 1e3:.0f} ms")
        con.close()
        self.results["engines"] = res

    # 7: merge ------------------------------------------------------------------------
    def merge(self, db: "kalam.Database") -> None:
        cfg = self.cfg
        n = cfg.scan_rows
        k = int(n * cfg.update_fraction)
        base = db.table("bench.scan10")
        t = db.table("bench.merge10")
        keys = np.sort(self.rng.choice(n, size=k, replace=False))
        t.append(rows_batch(self.rng, keys))
        t.flush()
        plan = t.scan().explain()
        times = race(
            cfg,
            {"non_overlapping": lambda: base.scan().to_table(), "overlapping": lambda: t.scan().to_table()},
            expect_rows(n),
        )
        self.results["merge"] = {
            "rows": n,
            "updated_rows": k,
            "segments": len(segment_files(t)),
            "merge": plan.get("merge"),
            **times,
        }
        self.log(
            f"merge: overlapping {times['overlapping']['median']:.3f} s vs non-overlapping {times['non_overlapping']['median']:.3f} s"
        )

    # 7.1: other table shapes -------------------------------------------------------
    def shapes(self, db: "kalam.Database") -> None:
        """Tables of other shapes than the bench's (nulls, long strings, 41
        columns, a string key, a composite key), 4 segments each: the full
        scan against ``pyarrow.parquet.read_table`` of the same files, and
        against it the same rows with a tenth of the keys updated into a
        fifth, overlapping segment and with 100 scattered hot upserts —
        what an outside checker building its own tables would time."""
        cfg = self.cfg
        n = cfg.shapes_rows
        rng = np.random.default_rng(SEED + 7)
        res: Dict[str, Any] = {"rows": n, "segments": 4, "update_fraction": cfg.update_fraction,
                               "hot_upserts": min(cfg.hot_upserts, n // 4)}
        for name, (tbl, key, what) in shape_tables(rng, n).items():
            tables = {}
            for role in ("clean", "merged", "hot"):
                t = db.create_table(f"bench.shape_{name}_{role}", tbl.schema, primary_key=key)
                per = n // 4
                for i in range(4):
                    t.append(tbl.slice(i * per, per if i < 3 else n - 3 * per))
                    t.flush()
                tables[role] = t
            tables["merged"].append(tbl.take(np.sort(rng.choice(n, int(n * cfg.update_fraction), replace=False))))
            tables["merged"].flush()
            tables["hot"].append(tbl.take(np.sort(rng.choice(n, res["hot_upserts"], replace=False))))
            files = segment_files(tables["clean"])
            user = tbl.schema.names
            times = race(cfg, {
                "kalam": lambda: tables["clean"].scan().to_table(),
                "pyarrow": lambda: pq.read_table(files, columns=user),
                "merged": lambda: tables["merged"].scan().to_table(),
                "hot": lambda: tables["hot"].scan().to_table(),
            }, expect_rows(n))
            res[name] = {"what": what, "key": key if isinstance(key, str) else ", ".join(key),
                         "files_bytes": sum(os.path.getsize(f) for f in files),
                         "merge_plan": tables["merged"].scan().explain().get("merge"), **times}
            self.log(f"shape {name}: kalam {times['kalam']['median'] * 1e3:.1f} ms, pyarrow "
                     f"{times['pyarrow']['median'] * 1e3:.1f} ms, merged {times['merged']['median'] * 1e3:.1f} ms, "
                     f"100 hot {times['hot']['median'] * 1e3:.1f} ms")
            for t in tables.values():
                db.drop_table(t.qualified_name)
        self.results["shapes"] = res

    # 8: system tables ---------------------------------------------------------------
    def system_tables(self) -> None:
        cfg = self.cfg
        root = self.work / "systore"
        db = kalam.open(root)
        try:
            db.create_namespace("sys")
            sch = pa.schema([("id", pa.int64()), ("v", pa.float64())])
            t0 = time.perf_counter()
            for i in range(cfg.sys_tables):
                db.create_table(f"sys.t{i:05d}", sch, primary_key="id")
            tables_s = time.perf_counter() - t0
            self.log(f"system tables: created {cfg.sys_tables} tables in {tables_s:.1f} s")
            # Segments: each carrying table gets its rows in one flush, then a
            # compaction with target_rows=1 splits them into one segment per
            # row in a single commit. Flushing 100 000 times instead would cost
            # a synced commit each (minutes).
            m = cfg.sys_segments_per_table
            t0 = time.perf_counter()
            for i in range(cfg.sys_segment_tables):
                t = db.table(f"sys.t{i:05d}")
                t.append(pa.table({"id": np.arange(m, dtype=np.int64), "v": np.ones(m)}, schema=sch))
                t.flush()
                rep = compact(db, t, target_rows=1)
                if len(rep["output_segments"]) != m:
                    raise AssertionError(f"compaction wrote {len(rep['output_segments'])} segments, expected {m}")
            segs_s = time.perf_counter() - t0
            total_tables = db.system("tables").num_rows
            seg_rows = db.system("segments").num_rows
            self.log(f"system tables: {cfg.sys_segment_tables * m} segments in {segs_s:.1f} s")
            times = race(
                cfg,
                {"system.tables": lambda: db.system("tables"), "system.segments": lambda: db.system("segments")},
            )
            self.results["system"] = {
                "tables_rows": total_tables,
                "segments_rows": seg_rows,
                "live_segments": cfg.sys_segment_tables * m,
                "build_tables_seconds": tables_s,
                "build_segments_seconds": segs_s,
                **{k: {"seconds": v} for k, v in times.items()},
            }
            self.log(
                "system tables: " + ", ".join(f"{k} {v['median'] * 1e3:.1f} ms" for k, v in times.items())
            )
        finally:
            db.close()

    # 6: C stream hand-off ----------------------------------------------------------
    def handoff(self, db: "kalam.Database") -> None:
        cfg = self.cfg
        cols = [f"c{i:02d}" for i in range(cfg.handoff_columns)]
        sch = pa.schema([("id", pa.int64())] + [(c, pa.int64()) for c in cols])
        t = db.create_table("bench.wide", sch, primary_key="id")
        n = cfg.handoff_rows
        data = {"id": np.arange(n, dtype=np.int64)}
        for c in cols:
            data[c] = self.rng.integers(0, 1 << 40, n)
        table = pa.table(data, schema=sch)
        t.append(table)
        t.flush()
        res: Dict[str, Any] = {"rows": n, "cells": []}
        for br in cfg.handoff_batch_rows:
            nb = min(n // br, cfg.handoff_max_batches)
            limit = nb * br
            local = table.slice(0, limit).to_batches(max_chunksize=br)
            for nc in cfg.handoff_ncols:
                proj = cols[:nc]
                mem_batches = [b.select(proj) for b in local]
                cell: Dict[str, Any] = {"batch_rows": br, "columns": nc, "batches": nb}
                for who in ("kalam", "pyarrow"):
                    per_run: List[float] = []
                    for r in range(cfg.runs + (1 if cfg.warmup else 0)):
                        if who == "kalam":
                            reader = t.scan(columns=proj, batch_rows=br, limit=limit).to_reader()
                        else:
                            reader = c_stream_roundtrip(pa.RecordBatchReader.from_batches(mem_batches[0].schema, mem_batches))
                        per_batch = read_batches_timed(reader, nb, br)
                        if r > 0 or not cfg.warmup:
                            # The first batch carries the scan's start (plan,
                            # file open, first row-group decode): left out.
                            steady = per_batch[1:] if len(per_batch) > 1 else per_batch
                            per_run.append(statistics.median(steady))
                    cell[who] = {"us_per_batch": scaled(summary(per_run), 1e6)}
                if br == min(cfg.handoff_batch_rows):
                    # The host's side of the hand-off alone: pyarrow importing
                    # a C ArrowArray of libkalam's batches (exported again by
                    # pyarrow, untimed), one batch at a time.
                    kb = t.scan(columns=proj, batch_rows=br, limit=limit).to_batches()
                    per_run = []
                    for r in range(cfg.runs + (1 if cfg.warmup else 0)):
                        us = import_batches_timed(kb)
                        if r > 0 or not cfg.warmup:
                            per_run.append(us)
                    cell["import"] = {"us_per_batch": scaled(summary(per_run), 1e6)}
                res["cells"].append(cell)
        # Per-column cost: least-squares slope of µs per batch over the number
        # of columns, at each batch size.
        res["slopes"] = []
        for br in cfg.handoff_batch_rows:
            cells = [c for c in res["cells"] if c["batch_rows"] == br]
            xs = [c["columns"] for c in cells]
            row: Dict[str, Any] = {"batch_rows": br}
            for who in ("kalam", "pyarrow", "import"):
                if who not in cells[0]:
                    continue
                ys = [c[who]["us_per_batch"]["median"] for c in cells]
                row[who + "_us_per_column"] = slope(xs, ys)
                row[who + "_us_fixed"] = intercept(xs, ys)
            res["slopes"].append(row)
        self.results["handoff"] = res
        for s in res["slopes"]:
            self.log(
                f"hand-off batch_rows={s['batch_rows']}: kalam end to end {s['kalam_us_per_column']:.2f} µs/column "
                f"(+{s['kalam_us_fixed']:.1f} µs/batch), pyarrow C stream {s['pyarrow_us_per_column']:.2f} µs/column"
                + (f", pyarrow import alone {s['import_us_per_column']:.2f} µs/column" if "import_us_per_column" in s else "")
            )

    # 9: start-up ------------------------------------------------------------------
    def startup(self) -> None:
        cfg = self.cfg
        root = self.work / "startstore"
        with kalam.open(root) as db:
            db.create_namespace("bench")
            t = db.create_table("bench.small", SCHEMA, primary_key="id")
            t.append(rows_batch(self.rng, np.arange(cfg.startup_rows)))
            t.flush()
            first_file = segment_files(t)[0]
        pypath = os.pathsep.join([str(REPO / "bindings" / "python"), os.environ.get("PYTHONPATH", "")])
        env = dict(os.environ, PYTHONPATH=pypath)
        kalam_code = textwrap.dedent(
            f"""
            import time, json
            t0 = time.perf_counter()
            import kalam
            t1 = time.perf_counter()
            db = kalam.open({str(root)!r})
            r = db.table("bench.small").scan().to_table()
            t2 = time.perf_counter()
            assert r.num_rows == {cfg.startup_rows}, r.num_rows
            print(json.dumps({{"wall": time.time(), "import": t1 - t0, "first": t2 - t0}}), flush=True)
            db.close()
            """
        )
        peer_code = textwrap.dedent(
            f"""
            import time, json
            t0 = time.perf_counter()
            import pyarrow as pa
            pa.set_cpu_count({cfg.threads}); pa.set_io_thread_count({cfg.threads})
            import pyarrow.parquet as pq
            t1 = time.perf_counter()
            r = pq.read_table({first_file!r}, columns={USER_COLUMNS!r})
            t2 = time.perf_counter()
            assert r.num_rows == {cfg.startup_rows}, r.num_rows
            print(json.dumps({{"wall": time.time(), "import": t1 - t0, "first": t2 - t0}}), flush=True)
            """
        )
        samples: Dict[str, Dict[str, List[float]]] = {
            w: {"spawn_to_result": [], "import": [], "import_to_result": []} for w in ("kalam", "pyarrow")
        }
        for r in range(cfg.runs + (1 if cfg.warmup else 0)):
            for who, code in (("kalam", kalam_code), ("pyarrow", peer_code)):
                start = time.time()
                out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
                rec = json.loads(out.stdout.strip().splitlines()[-1])
                if r > 0 or not cfg.warmup:
                    samples[who]["spawn_to_result"].append(rec["wall"] - start)
                    samples[who]["import"].append(rec["import"])
                    samples[who]["import_to_result"].append(rec["first"])
        lib = Path(kalam.library_path())
        if lib.stat().st_size != Path(self.results.get("library_source", lib)).stat().st_size:
            raise AssertionError(f"{lib} is not a copy of {self.results.get('library_source')}")
        self.results["startup"] = {
            "rows": cfg.startup_rows,
            **{w: {k: summary(v) for k, v in s.items()} for w, s in samples.items()},
            "library": self.results.get("library_source", str(lib)),
            "library_bytes": lib.stat().st_size,
            "library_stripped": "not stripped" not in subprocess.run(["file", "-L", str(lib)], capture_output=True, text=True).stdout
            if shutil.which("file")
            else None,
        }
        k = samples["kalam"]
        self.log(
            f"start-up: import kalam → first result {statistics.median(k['import_to_result']) * 1e3:.0f} ms, "
            f"spawn → result {statistics.median(k['spawn_to_result']) * 1e3:.0f} ms; libkalam.so {lib.stat().st_size / 1e6:.1f} MB"
        )

    # 10: object storage ----------------------------------------------------------
    def object_storage(self) -> None:
        """Section 10, unless ``KALAM_S3_TESTS=0``: the S3 test server
        (s3proxy, scripts/s3-server.sh) started on 127.0.0.1 with the bench's
        own state directory, the section run, the server stopped."""
        if os.environ.get("KALAM_S3_TESTS") == "0":
            self.results["s3_skipped"] = "KALAM_S3_TESTS=0"
            self.log("object storage (section 10) skipped: KALAM_S3_TESTS=0")
            return
        server = S3Server()
        self.log(f"S3 test server (s3proxy) on {server.options['endpoint']}, state {server.state}")
        try:
            self._object_storage(server)
        finally:
            server.stop()

    def _object_storage(self, server: "S3Server") -> None:
        """Scans from object storage (the S3 test server on the loopback):
        a storage-only reader on s3:// through libkalam against
        pyarrow.dataset with pyarrow's own S3 filesystem over the same
        objects, full and a 1% key range; the split overhead (the splits of
        one full scan run one after the other, each through a storage-only
        reader of its own, against that scan); and where the time goes: the
        scan of a local copy of the same objects (decoding without the
        network), the objects fetched whole by pyarrow's S3 client (the
        network without decoding) and the open of a storage-only reader
        (what every split pays first). Threads: as pinned for every section
        (``GOMAXPROCS``; pyarrow's CPU and I/O pools, which its S3 client
        uses; the fetch pool gets as many)."""
        import pyarrow.fs as pafs

        cfg = self.cfg
        prefix = f"bench-{os.getpid()}-{int(time.time())}"
        uri = server.uri(prefix)
        opts = server.options
        n, nseg = cfg.s3_rows, cfg.s3_segments
        with kalam.open(self.work / "s3store", storage=uri, storage_options=opts) as w:
            w.create_namespace("bench")
            t = w.create_table("bench.s3", SCHEMA, primary_key="id")
            secs, build = timed(lambda: build_segmented(np.random.default_rng(DATA_SEED), t, n, nseg))
            seg = t.segments()
            live = [p for p, dead in zip(seg.column("path").to_pylist(), seg.column("tombstone").to_pylist()) if not dead]
            table_root = t.storage_path  # s3://bucket/prefix/bench/s3
        self.log(f"built bench.s3 on {uri}: {n} rows, {nseg} segments in {secs:.1f} s "
                 f"(flush {statistics.median(build['flush_s']):.2f} s median, uploads included)")
        keys = [table_root[len("s3://"):] + "/" + p for p in sorted(live)]
        fs = pafs.S3FileSystem(access_key=opts["access_key_id"], secret_key=opts["secret_access_key"],
                               region=opts["region"], endpoint_override=opts["endpoint"].split("://", 1)[1],
                               scheme="http")
        try:
            self._object_storage_race(cfg, uri, opts, fs, keys, n, nseg, secs)
        finally:
            try:
                fs.delete_dir(uri[len("s3://"):])
            except OSError as e:  # the next start of the server empties its data anyway
                self.log(f"could not remove {uri}: {e}")

    def _object_storage_race(self, cfg: Config, uri: str, opts: Dict[str, Any], fs: Any, keys: List[str], n: int,
                             nseg: int, build_s: float) -> None:
        import pyarrow.fs as pafs
        from concurrent.futures import ThreadPoolExecutor

        if pa.io_thread_count() != cfg.threads or os.environ.get("GOMAXPROCS") != str(cfg.threads):
            raise AssertionError(f"threads not pinned to {cfg.threads}: GOMAXPROCS={os.environ.get('GOMAXPROCS')}, "
                                 f"pyarrow I/O {pa.io_thread_count()}")
        dset = ds.dataset(keys, format="parquet", filesystem=fs)
        files_bytes = sum(fs.get_file_info(k).size for k in keys)
        # The local copy: every object of the store (segments, table.json,
        # manifest.json, _versions/), read by a storage-only reader on a
        # local directory.
        local_root = self.work / "s3copy"
        pafs.copy_files(uri[len("s3://"):], str(local_root), source_filesystem=fs,
                        destination_filesystem=pafs.LocalFileSystem())
        width = max(n // 100, 1)
        lo = int(self.rng.integers(n // 4, n // 2))
        hi = lo + width
        flt = f"id >= {lo} AND id < {hi}"
        pexpr = (ds.field("id") >= lo) & (ds.field("id") < hi)
        r = kalam.open(storage=uri, storage_options=opts, read_only=True)
        lr = kalam.open(storage=str(local_root), read_only=True)
        pool = ThreadPoolExecutor(max_workers=cfg.threads)
        try:
            rt = r.table("bench.s3")
            lt = lr.table("bench.s3")
            # One split per segment.
            splits = rt.scan().splits(target_rows=max(n // nseg, 1))
            if len(splits) != nseg:
                raise AssertionError(f"{len(splits)} splits of a table of {nseg} non-overlapping segments")

            def run_splits() -> pa.Table:
                return pa.concat_tables([sp.scan(storage_options=opts).to_table() for sp in splits])

            def fetch_all() -> int:
                def get(k: str) -> int:
                    with fs.open_input_stream(k) as f:
                        return len(f.read())

                return sum(pool.map(get, keys))

            def open_reader() -> int:
                with kalam.open(storage=uri, storage_options=opts, read_only=True) as o:
                    return len(o.tables())

            full = rt.scan().to_table()
            # The splits' rows are the scan's, row for row.
            if not run_splits().equals(full):
                raise AssertionError("the splits' rows differ from the scan's")
            want = {"full": (n, pc.sum(full.column("value")).as_py())}
            del full
            rng_tbl = rt.scan(filter=flt).to_table()
            want["range"] = (width, pc.sum(rng_tbl.column("value")).as_py())
            del rng_tbl

            def check(name: str, out: Any) -> None:
                if name == "fetch_objects":
                    if out != files_bytes:
                        raise AssertionError(f"fetched {out} bytes, expected {files_bytes}")
                    return
                if name == "reader_open":
                    if out != 1:
                        raise AssertionError(f"the reader sees {out} tables, expected 1")
                    return
                rows, total = want["range" if name.endswith("range") else "full"]
                got = pc.sum(out.column("value")).as_py()
                if out.num_rows != rows or not np.isclose(got, total, rtol=1e-9, atol=1e-6):
                    raise AssertionError(f"{name}: {out.num_rows} rows, sum {got}; expected {rows}, {total}")

            times = race(
                cfg,
                {
                    "kalam": lambda: rt.scan().to_table(),
                    "pyarrow_dataset": lambda: dset.to_table(columns=USER_COLUMNS),
                    "kalam_splits": run_splits,
                    "kalam_range": lambda: rt.scan(filter=flt).to_table(),
                    "pyarrow_dataset_range": lambda: dset.to_table(columns=USER_COLUMNS, filter=pexpr),
                    "kalam_local_copy": lambda: lt.scan().to_table(),
                    "fetch_objects": fetch_all,
                    "reader_open": open_reader,
                },
                check,
            )
            plan = rt.scan(filter=flt).explain()
        finally:
            pool.shutdown()
            lr.close()
            r.close()
        res: Dict[str, Any] = {
            "rows": n,
            "segments": nseg,
            "files_bytes": files_bytes,
            "splits": len(splits),
            "range_rows": width,
            "filter": flt,
            "segments_read": len(plan.get("read", [])),
            "build_seconds": build_s,
            "server": "s3proxy 4.1.0 (scripts/s3-server.sh) on 127.0.0.1, filesystem backend, same machine",
            "threads": {
                "pinned": cfg.threads,
                "libkalam": f"GOMAXPROCS={os.environ.get('GOMAXPROCS')}",
                "pyarrow": f"{pa.cpu_count()} CPU, {pa.io_thread_count()} I/O (S3FileSystem's requests)",
                "fetch_pool": cfg.threads,
            },
            **{k: {"seconds": v, "rows_per_s": rate(v, width if k.endswith("range") else n)} for k, v in times.items()},
        }
        # The share of the splits' extra time (over one scan) that opening a
        # reader per split explains (0 when the splits took no longer).
        extra = times["kalam_splits"]["median"] - times["kalam"]["median"]
        res["split_opens_share"] = len(splits) * times["reader_open"]["median"] / extra if extra > 0 else 0.0
        self.results["s3"] = res
        self.log(
            "object storage: " + ", ".join(f"{k} {v['median'] * 1e3:.0f} ms" for k, v in times.items())
            + f" (range read {res['segments_read']} of {nseg} segments)"
        )

    # profile ------------------------------------------------------------------------
    def profile(self, store: Path) -> None:
        """CPU profiles (bench/profile: the engine API directly, no Python)
        on the store built above, one per comparison with a target, and the
        Go export's share of a small batch. The store is opened again
        read-only after this process closed it."""
        prof_dir = self.work / "profile"
        prof_dir.mkdir(exist_ok=True)
        binary = prof_dir / "kalam-profile"
        subprocess.run(["go", "build", "-o", str(binary), "./bench/profile"], cwd=REPO, check=True)

        def run_profile(table: str, runs: int, extra: Sequence[str], cpu: Optional[Path] = None) -> Dict[str, Any]:
            cmd = [str(binary), "-store", str(store), "-table", table, "-runs", str(runs), *extra]
            if cpu is not None:
                cmd += ["-cpuprofile", str(cpu)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
            return dict(json.loads(out[-1]), line=out[0])

        cols = [f"c{i:02d}" for i in range(self.cfg.handoff_columns)]
        eight = ",".join(cols[: min(8, len(cols))])
        sel = self.results["selective"]
        per = self.results["build_scan10"]["rows_per_segment"]
        flush_dir = prof_dir / "flush"
        flush_dir.mkdir(exist_ok=True)
        out: Dict[str, Any] = {}
        for label, table, runs, extra, focus in (
            ("full_scan", "bench.scan10", 3, [], None),
            ("full_scan_1col", "bench.scan10", 10, ["-columns", "value"], None),
            ("selective", "bench.sel100", 30, ["-filter", sel["filter"]], None),
            ("hot_scan", "bench.hot10", 3, [], None),
            ("merge_scan", "bench.merge10", 2, [], None),
            ("flush", "bench.scan10", 3, ["-flush-into", str(flush_dir), "-limit", str(per)], "phase=flush"),
            ("handoff_1row", "bench.wide", 3, ["-batch-rows", "1", "-limit", "20000", "-columns", eight, "-export"], None),
        ):
            cpu = prof_dir / f"{label}.pprof"
            res = run_profile(table, runs, extra, cpu)
            flags = [f"-tagfocus={focus}"] if focus else []
            pprof = lambda *more: subprocess.run(  # noqa: E731
                ["go", "tool", "pprof", "-top", *flags, *more, str(binary), str(cpu)], cwd=REPO, capture_output=True,
                text=True, check=True
            ).stdout
            flat = pprof("-nodecount=600")
            cum = pprof("-cum", "-nodecount=600")
            out[label] = {
                "run": res["line"],
                "result": res,
                "focus": focus,
                "top_flat": trim_pprof(flat, 25),
                "top_cum": trim_pprof(cum, 35),
                **pprof_summary(flat, cum),
            }
            self.log(f"profile {label}: {res['line']}")
        self.results["profile"] = out
        self.results.setdefault("threads", {})["profile_gomaxprocs"] = out["full_scan"]["result"].get("gomaxprocs")
        # The Go export's share of a batch: 1-row batches of k columns drained
        # in Go from the engine stream, then through arrowexport and a C loop.
        split: List[Dict[str, Any]] = []
        for k in sorted({1, min(8, len(cols)), len(cols)}):
            row: Dict[str, Any] = {"columns": k}
            for mode, fl in (("engine", []), ("export", ["-export"])):
                res = run_profile("bench.wide", 2, ["-batch-rows", "1", "-limit", "10000", "-columns", ",".join(cols[:k]), *fl])
                row[mode + "_us_per_batch"] = res["us_per_batch"]
            split.append(row)
        xs = [r["columns"] for r in split]
        diff = [r["export_us_per_batch"] - r["engine_us_per_batch"] for r in split]
        self.results["handoff_split"] = {
            "rows": split,
            "export_us_per_column": slope(xs, diff),
            "export_us_fixed": intercept(xs, diff),
            "engine_us_per_column": slope(xs, [r["engine_us_per_batch"] for r in split]),
            "engine_us_fixed": intercept(xs, [r["engine_us_per_batch"] for r in split]),
        }
        hs = self.results["handoff_split"]
        self.log(
            f"hand-off split (Go): export {hs['export_us_per_column']:.2f} µs/column + {hs['export_us_fixed']:.1f} µs/batch; "
            f"engine {hs['engine_us_per_column']:.2f} µs/column + {hs['engine_us_fixed']:.1f} µs/batch"
        )


# ---- profiles -----------------------------------------------------------------------------


def _pprof_rows(text: str) -> List[Tuple[float, float, str]]:
    """(flat %, cum %, function) of each line of ``go tool pprof -top``."""
    rows = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[1].endswith("%") and parts[4].endswith("%"):
            try:
                rows.append((float(parts[1].rstrip("%")), float(parts[4].rstrip("%")), parts[5].strip()))
            except ValueError:
                continue
    return rows


def package_of(fn: str) -> str:
    """The Go package (or C library) a pprof function name belongs to,
    shortened."""
    if fn == "runtime.cgocall":  # its flat time is the C code it called
        return "C code (via cgo)"
    if fn.startswith("[") or fn.startswith("_"):
        return "C code (via cgo)"
    slash = fn.rfind("/")
    dot = fn.find(".", slash + 1)
    pkg = fn[:dot] if dot > 0 else fn
    for pre in ("github.com/kalamdb/libkalam/", "github.com/", "golang.org/x/"):
        if pkg.startswith(pre):
            pkg = pkg[len(pre):]
            break
    if pkg == "runtime" or pkg.startswith("runtime/") or pkg.startswith("internal/runtime"):
        if fn.startswith("runtime.memmove") or fn.startswith("runtime.memclr"):
            return "runtime: memmove/memclr (copying, zeroing)"
        if fn.startswith(("runtime.malloc", "runtime.nextFree", "runtime.(*mcache)", "runtime.(*mcentral)",
                          "runtime.(*mheap)", "runtime.newobject", "runtime.makeslice", "runtime.growslice")):
            return "runtime: allocation"
        if fn.startswith(("runtime.scanobject", "runtime.greyobject", "runtime.findObject", "runtime.typePointers",
                          "runtime.(*gcWork)", "runtime.gc", "runtime.markBits", "runtime.wbBuf", "runtime.bulkBarrier",
                          "runtime.(*mspan)", "runtime.scanblock", "runtime.markroot", "runtime.sweep", "runtime.(*sweep")):
            return "runtime: garbage collector"
        return "runtime: other (scheduling, cgo transitions, …)"
    return pkg


def pprof_summary(flat: str, cum: str) -> Dict[str, Any]:
    """Where a profile's CPU went: flat share by package, the hottest
    functions, and a few cumulative markers (GC marking, cgo calls, Go heap
    allocation)."""
    rows = _pprof_rows(flat)
    pk: Dict[str, float] = {}
    for f, _c, fn in rows:
        pk[package_of(fn)] = pk.get(package_of(fn), 0.0) + f
    packages = sorted(({"package": k, "percent": v} for k, v in pk.items()), key=lambda x: -x["percent"])
    hottest = [{"function": fn, "percent": f} for f, _c, fn in sorted(rows, key=lambda r: -r[0])[:6]]
    cums = {fn: c for _f, c, fn in _pprof_rows(cum)}
    markers = {
        "gc_marking": cums.get("runtime.gcBgMarkWorker", 0.0),
        "go_alloc": cums.get("runtime.mallocgc", 0.0),
        "cgo_calls": cums.get("runtime.cgocall", 0.0),
        "cgo_callbacks": cums.get("runtime.cgocallback", 0.0),
        "futex": cums.get("runtime.futex", 0.0),
    }
    libkalam = sorted(({"function": fn, "percent": c} for fn, c in cums.items()
                       if fn.startswith("github.com/kalamdb/libkalam/") and c < 95.0), key=lambda x: -x["percent"])[:8]
    return {"packages": packages[:12], "hottest": hottest, "markers": markers, "libkalam_cum": libkalam}


def short_fn(fn: str) -> str:
    return fn.rsplit("/", 1)[-1]


def profile_brief(prof: Dict[str, Any], label: str) -> str:
    """One sentence pointing at profile ``label``: CPU by package, the
    hottest functions, GC marking."""
    p = prof.get(label)
    if not p:
        return f"(no profile `{label}`: run with `go` on PATH)"
    pk = ", ".join(f"{x['package']} {x['percent']:.0f}%" for x in p["packages"][:4])
    hot = ", ".join(f"`{short_fn(x['function'])}` {x['percent']:.0f}%" for x in p["hottest"][:3])
    m = p["markers"]
    return (f"profile `{label}` (below): CPU by package {pk}; hottest {hot}; GC marking {m['gc_marking']:.0f}%"
            + (f", cgo calls {m['cgo_calls']:.0f}%" if m["cgo_calls"] >= 5 else ""))


def trim_pprof(text: str, n: int) -> str:
    lines = text.strip().splitlines()
    # Drop the header lines that name the binary and the build.
    start = next((i for i, l in enumerate(lines) if l.lstrip().startswith("flat")), 0)
    keep = lines[max(0, start - 2) : start + 1 + n]
    return "\n".join(l.rstrip() for l in keep)


def compact(db: "kalam.Database", t: "kalam.Table", target_rows: int) -> Dict[str, Any]:
    """``t.compact(target_rows=...)`` (DESIGN §7). Bindings without the method
    go through the C ABI's kalam_compact with the same arguments."""
    if hasattr(t, "compact"):
        return t.compact(target_rows=target_rows)
    from kalam import _ffi

    L = _ffi.lib()
    if not L.has("kalam_compact"):
        raise RuntimeError(f"{L.path} has no kalam_compact: rebuild it with `make lib`")
    out = ctypes.c_void_p()
    name = _ffi.encode(t.qualified_name)
    opts = json.dumps({"target_rows": target_rows}).encode()
    handle = db._handle()
    _ffi.check(lambda err: L.kalam_compact(handle, name, opts, ctypes.byref(out), err))
    return json.loads(L.take_string(out) or "{}")


def c_stream_roundtrip(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The reader moved through a struct ArrowArrayStream (pyarrow's exporter
    and importer): the peer of a libkalam stream whose batches already exist."""
    from kalam import _ffi

    s = _ffi.ArrowArrayStream()
    reader._export_to_c(ctypes.addressof(s))
    return pa.RecordBatchReader._import_from_c(ctypes.addressof(s))


def import_batches_timed(batches: Sequence[pa.RecordBatch]) -> float:
    """Median seconds of pyarrow importing one C ArrowArray of each batch
    (schema known, as in a stream): the host's side of the hand-off."""
    from kalam import _ffi

    arr = _ffi.ArrowArray()
    addr = ctypes.addressof(arr)
    schema = batches[0].schema
    pcnt = time.perf_counter
    out = []
    for b in batches:
        b._export_to_c(addr)
        t0 = pcnt()
        got = pa.RecordBatch._import_from_c(addr, schema)
        out.append(pcnt() - t0)
        del got
    return statistics.median(out[1:] if len(out) > 1 else out)


def read_batches_timed(reader: pa.RecordBatchReader, nb: int, br: int) -> List[float]:
    """Seconds of each read_next_batch (get_next + import) of the reader."""
    out: List[float] = []
    rows = 0
    pcnt = time.perf_counter
    while True:
        t0 = pcnt()
        try:
            b = reader.read_next_batch()
        except StopIteration:
            break
        out.append(pcnt() - t0)
        rows += b.num_rows
    reader.close()
    if len(out) != nb or rows != nb * br:
        raise AssertionError(f"{len(out)} batches / {rows} rows, expected {nb} / {nb * br}")
    return out


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def intercept(xs: Sequence[float], ys: Sequence[float]) -> float:
    return statistics.fmean(ys) - slope(xs, ys) * statistics.fmean(xs)


# ---- machine -------------------------------------------------------------------------


def machine() -> Dict[str, Any]:
    """What the numbers ran on."""
    import datafusion
    import polars as pl

    info: Dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "datafusion": getattr(datafusion, "__version__", "?"),
        "numpy": np.__version__,
        "kalam": kalam.library_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        info["go"] = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        info["go"] = None
    return info


def loadavg() -> List[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


# ---- targets and verdicts ----------------------------------------------------------------


ENGINE_LABELS = {
    "datafusion": "DataFusion SQL (`kalam.register_datafusion`)",
    "duckdb_scan": "DuckDB SQL over `t.scan(filter=...)`",
    "duckdb_dataset": "DuckDB SQL over `t.to_pyarrow_dataset()`",
    "duckdb_source": "DuckDB SQL over `kalam.duckdb.source(t)`",
    "polars": "Polars `kalam.polars.scan_table(t)`",
}


def _pushed_text(pushed: Optional[Dict[str, Any]]) -> str:
    """What a kalam.duckdb source received, for the report."""
    if not pushed:
        return "nothing recorded"
    cols = pushed.get("columns")
    flt = pushed.get("filter")
    return f"columns {', '.join(cols) if cols is not None else 'all'}; " + (f"filter `{flt}`" if flt else "no filter")


def _ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def _target(key: str, section: str, target: str, kalam_s: str, peer_s: str, value: float, goal: float,
            higher: bool, shown: str, ratio: bool = True) -> Dict[str, Any]:
    met = value >= goal if higher else value <= goal
    margin = (value / goal if higher else goal / value) if value > 0 and goal > 0 else 0.0
    return {"key": key, "section": section, "target": target, "kalam": kalam_s, "peer": peer_s, "value": value,
            "goal": goal, "higher_is_better": higher, "shown": shown, "ratio": ratio, "met": met, "margin": margin}


def handoff_per_column(r: Dict[str, Any]) -> Tuple[float, str]:
    """The hand-off alone per column per batch at the smallest batch size:
    the Go export (bench/profile's split) + pyarrow's import; without the
    split, the end-to-end figure (an upper bound) and a note saying so."""
    small = min(r["handoff"]["slopes"], key=lambda s: s["batch_rows"])
    hs = r.get("handoff_split")
    imp = small.get("import_us_per_column")
    if hs and imp is not None:
        v = max(hs["export_us_per_column"], 0.0) + max(imp, 0.0)
        return v, f"export {hs['export_us_per_column']:.2f} + import {imp:.2f}"
    return small["kalam_us_per_column"], "end to end (no Go split: producing the batch included)"


def targets(r: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every target of DESIGN §9 and issues 10 and 13 (and, unless section
    10 was skipped, the object-storage targets of the distributed reads) with
    libkalam's figure, the peer's, the ratio and whether it is met."""
    out = []
    fs = r["full_scan"]
    for key, label, text in (("full_scan_5", "all", "5 columns"), ("full_scan_1", "value", "1 column (`value`)")):
        k, p = fs[label]["kalam"], fs[label]["pyarrow"]
        v = p["seconds"]["median"] / k["seconds"]["median"]
        out.append(_target(key, "1", f"full scan, {text}: ≥ 1.0× `pyarrow.parquet.read_table` rows/s",
                           f"{k['rows_per_s']['median'] / 1e6:.1f} M rows/s", f"{p['rows_per_s']['median'] / 1e6:.1f} M rows/s",
                           v, 1.0, True, f"{v:.2f}×"))
    s = r["selective"]
    k = s["kalam_range"]["seconds"]["median"]
    p = s["pyarrow_dataset_range"]["seconds"]["median"]
    f = s["kalam_full"]["seconds"]["median"]
    v = p / k
    out.append(_target("selective_dataset", "4", "1% key-range scan: ≥ 1.0× the speed of `pyarrow.dataset` with the same filter",
                       _ms(k), _ms(p), v, 1.0, True, f"{v:.2f}×"))
    v = f / k
    out.append(_target("selective_full", "4", "1% key-range scan ≥ 20× faster than the full scan", _ms(k),
                       f"own full scan {_ms(f)}", v, 20.0, True, f"{v:.1f}×"))
    h = r["hot"]
    for key, label, goal in (("hot_one", "one", 1.2), ("hot_scattered", "scattered", 1.3)):
        x = h[label]
        a, b = x["hot_full"]["seconds"]["median"], x["clean_full"]["seconds"]["median"]
        v = a / b
        what = "one hot row" if label == "one" else f"{x['hot_rows']} scattered hot upserts"
        out.append(_target(key, "3", f"full scan with {what} on a flushed table: ≤ {goal}× the clean table's time",
                           _ms(a), f"clean {_ms(b)}", v, goal, False, f"{v:.2f}×"))
    pr = h["pruning"]
    ok = all(p["read"] <= p["expected"] for p in pr.values())
    shown = "; ".join(f"{w}: read {p['read']} of {p['read'] + p['pruned']} (stats allow {p['expected']})" for w, p in pr.items())
    out.append(_target("hot_pruning", "3", f"with {h['hot_rows']} scattered hot keys, statistics still prune: a selective "
                       "filter reads only the segments its range meets", shown, "—", 1.0 if ok else 0.0, 1.0, True,
                       "yes" if ok else "no", ratio=False))
    mg = r["merge"]
    a, b = mg["overlapping"]["median"], mg["non_overlapping"]["median"]
    v = a / b
    out.append(_target("merge", "7", "full scan of overlapping segments: ≤ 1.3× the non-overlapping scan's time",
                       _ms(a), f"non-overlapping {_ms(b)}", v, 1.3, False, f"{v:.2f}×"))
    ig = r["ingest"]
    kf, pw = ig["flush"]["rows_per_s"]["median"], ig["pyarrow_write"]["rows_per_s"]["median"]
    v = kf / pw
    out.append(_target("flush", "2", "flush: ≥ 1.0× `pyarrow.parquet.write_table` rows/s on the same layout",
                       f"{kf / 1e6:.2f} M rows/s", f"{pw / 1e6:.2f} M rows/s", v, 1.0, True, f"{v:.2f}×"))
    ing = ig["append_narrow"]["rows_per_s"]["median"]
    out.append(_target("ingest", "2", "ingest ≥ 1 M rows/s (narrow rows)", f"{ing / 1e6:.2f} M rows/s", "—", ing, 1e6, True,
                       f"{ing / 1e6:.2f} M rows/s", ratio=False))
    ss = r["system"]["system.segments"]["seconds"]["median"] * 1e3
    out.append(_target("system_segments", "8", f"system.segments at {r['system']['live_segments']:,} segments < 200 ms",
                       f"{ss:.1f} ms", "—", ss, 200.0, False, f"{ss:.1f} ms", ratio=False))
    hv, how = handoff_per_column(r)
    small = min(r["handoff"]["slopes"], key=lambda x: x["batch_rows"])
    out.append(_target("handoff", "6", f"C stream hand-off < 5 µs per column per batch (batch_rows={small['batch_rows']})",
                       f"{hv:.2f} µs ({how})", f"pyarrow's C stream {small['pyarrow_us_per_column']:.2f} µs", hv, 5.0, False,
                       f"{hv:.2f} µs", ratio=False))
    en = r["engines"]
    for state in ("clean", "hot"):
        e = en[state]
        d = e["direct"]["seconds"]["median"]
        for who, label in ENGINE_LABELS.items():
            a = e[who]["seconds"]["median"]
            v = a / d
            what = "clean table" if state == "clean" else f"{e['hot_rows']} hot rows"
            out.append(_target(f"engine_{who}_{state}", "5", f"{label}, selective query, {what}: ≤ 1.5× `t.scan(filter=...)`",
                               _ms(a), f"`t.scan` {_ms(d)}", v, 1.5, False, f"{v:.2f}×"))
    s3 = r.get("s3")
    if s3:  # section 10 (absent with KALAM_S3_TESTS=0)
        k, p = s3["kalam"], s3["pyarrow_dataset"]
        v = p["seconds"]["median"] / k["seconds"]["median"]
        out.append(_target("s3_full", "10", "full scan from object storage (S3): ≥ 1.0× `pyarrow.dataset` with pyarrow's "
                           "`S3FileSystem` rows/s", f"{k['rows_per_s']['median'] / 1e6:.2f} M rows/s",
                           f"{p['rows_per_s']['median'] / 1e6:.2f} M rows/s", v, 1.0, True, f"{v:.2f}×"))
        a, b = s3["kalam_splits"]["seconds"]["median"], s3["kalam"]["seconds"]["median"]
        v = a / b
        out.append(_target("s3_splits", "10", f"split overhead on S3: the {s3['splits']} splits of a full scan, one after "
                           "the other, ≤ 1.1× that scan's time", _ms(a), f"one scan {_ms(b)}", v, 1.1, False, f"{v:.2f}×"))
    return out


def by_how_much(t: Dict[str, Any]) -> str:
    if t["margin"] <= 0 or t["key"] == "hot_pruning":  # a yes/no target
        return "—"
    if t["met"]:
        return f"{t['margin']:.2f}× to spare"
    return f"{1 / t['margin']:.2f}× short"


def verdict(r: Dict[str, Any], t: Dict[str, Any]) -> str:
    """Why a target is where it is: from the measured numbers and the
    profiles only."""
    prof = r.get("profile") or {}
    key = t["key"]
    if key.startswith("full_scan"):
        label = "all" if key == "full_scan_5" else "value"
        k, p = r["full_scan"][label]["kalam"]["seconds"], r["full_scan"][label]["pyarrow"]["seconds"]
        cpu = (k["cores"] * k["median"]) / (p["cores"] * p["median"]) if p["cores"] * p["median"] > 0 else float("nan")
        return (f"libkalam kept {k['cores']:.2f} cores busy, pyarrow {p['cores']:.2f}; libkalam spent {cpu:.1f}× pyarrow's "
                f"CPU time for the same rows. " + profile_brief(prof, "full_scan" if label == "all" else "full_scan_1col") + ".")
    if key == "selective_dataset":
        s = r["selective"]
        return (f"libkalam read {s['segments_read']} of {s['segments']} segments ({s['row_groups_read']} row groups of "
                f"{s['row_groups_per_segment']} per segment); cores {s['kalam_range']['seconds']['cores']:.2f} vs pyarrow.dataset "
                f"{s['pyarrow_dataset_range']['seconds']['cores']:.2f}. " + profile_brief(prof, "selective") + ".")
    if key == "selective_full":
        s = r["selective"]
        return f"libkalam read {s['segments_read']} of {s['segments']} segments. " + profile_brief(prof, "selective") + "."
    if key in ("hot_one", "hot_scattered"):
        x = r["hot"]["one" if key == "hot_one" else "scattered"]
        rr = x["hot_range"]["seconds"]["median"] / x["clean_range"]["seconds"]["median"]
        return (f"plan `{x['merge']}` over {x['full_read']} segments; the 1% key-range scan takes {rr:.2f}× the clean one's "
                "time too. " + profile_brief(prof, "hot_scan") + " (bench.hot10 with all its hot upserts, store reopened, "
                "so a cost that only the writing process has does not show there).")
    if key == "hot_pruning":
        bad = [f"{w} filter `{p['filter']}` read {p['read']} segments where statistics allow {p['expected']} "
               f"(plan `{p['merge']}`, hot rows {'read' if p['hot'] else 'not read'})"
               for w, p in r["hot"]["pruning"].items() if p["read"] > p["expected"]]
        return "; ".join(bad) or "every filter read only what its range meets."
    if key == "merge":
        mg = r["merge"]
        return (f"{mg['segments']} segments, plan `{mg['merge']}`; cores {mg['overlapping']['cores']:.2f} vs "
                f"{mg['non_overlapping']['cores']:.2f}. " + profile_brief(prof, "merge_scan") + ".")
    if key == "flush":
        ig = r["ingest"]
        fl = ig["flush"]["seconds"]["median"]
        hr = ig["flush"]["hot_read"]["seconds"]["median"]
        fx = ig["flush_one_row"]["seconds"]["median"]
        pw = ig["pyarrow_write"]["seconds"]["median"]
        pf = ig["pyarrow_write_fsync"]["seconds"]["median"]
        diffs = r["flush_peer"].get("differences") or []
        return (f"a {ig['flush']['rows']:,}-row flush takes {_ms(fl)}: scanning the same hot rows back alone takes {_ms(hr)} "
                f"({hr / fl:.0%}), a 1-row flush (the commit: fsyncs, synced RocksDB batch, manifest mirror) {_ms(fx)} "
                f"({fx / fl:.0%}); pyarrow writes them in {_ms(pw)} ({_ms(pf)} with fsync)"
                + (f"; layout differences: {', '.join(diffs)}" if diffs else "") + ". " + profile_brief(prof, "flush") + ".")
    if key == "ingest":
        return "appends go to RocksDB row by row (rowcodec encode + WriteBatch); no profile of appends is taken."
    if key == "system_segments":
        return "system.segments is built from every table's manifest at scan time."
    if key == "handoff":
        hs = r.get("handoff_split")
        small = min(r["handoff"]["slopes"], key=lambda x: x["batch_rows"])
        text = (f"end to end (engine producing the batch + export + import) {small['kalam_us_per_column']:.2f} µs per column; ")
        if hs:
            text += (f"the engine producing it alone (Go) {hs['engine_us_per_column']:.2f} µs, the Go export "
                     f"{hs['export_us_per_column']:.2f} µs, pyarrow's import {small.get('import_us_per_column', float('nan')):.2f} µs. ")
        return text + profile_brief(prof, "handoff_1row") + "."
    if key.startswith("engine_"):
        who, state = key[len("engine_"):].rsplit("_", 1)
        e = r["engines"][state]
        facts = []
        if who == "datafusion":
            if not r["engines"]["kalam_datafusion"]:
                facts.append("`kalam_datafusion` is not installed, so `register_datafusion` falls back to reading the whole "
                             f"table ({e['rows']:,} rows) at planning time, with no projection or filter pushed down")
            else:
                facts.append("the plan " + ("shows" if e["datafusion_kalam_scan"] else "does not show") + " a KalamScan node")
        elif who == "duckdb_scan":
            facts.append("DuckDB " + ("asks the Scan for its columns" if e["duckdb_requested_schema"] else
                                      "asks the Scan for no projection (no requested_schema): it receives every column of "
                                      "the filtered rows and projects itself"))
        elif who == "duckdb_source":
            facts.append(f"DuckDB pushed into libkalam: {_pushed_text(e.get('duckdb_source_pushed'))}")
        elif who == "duckdb_dataset":
            facts.append(f"the dataset has {e['dataset_fragments']} fragments (made in {_ms(e['dataset_make_s'])}, not timed)")
        elif who == "polars":
            facts.append(f"pushed filter `{e['polars_pushed_filter']}`, residual {e['polars_residual'] or 'none'}, "
                         f"{e['polars_rows_read']} rows read from libkalam")
        top = e["profiles"].get(who, {}).get("top", [])[:4]
        if top:
            facts.append("cProfile of one run, own time: " + ", ".join(f"{x['function']} {x['percent']:.0f}%" for x in top))
        return "; ".join(facts) + "."
    if key == "s3_full":
        s3 = r["s3"]
        k, p, lc, fo = (s3[x]["seconds"] for x in ("kalam", "pyarrow_dataset", "kalam_local_copy", "fetch_objects"))
        kr, pr = s3["kalam_range"]["seconds"]["median"], s3["pyarrow_dataset_range"]["seconds"]["median"]
        return (f"the same scan of a local copy of the objects takes {_ms(lc['median'])} ({lc['median'] / k['median']:.0%} "
                f"of the scan from S3) and fetching the objects whole with pyarrow's S3 client {_ms(fo['median'])}, so the "
                f"scan from S3 costs {k['median'] - lc['median']:+.3f} s over decoding alone, against pyarrow.dataset's "
                f"{_ms(p['median'])} in all; cores {k['cores']:.2f} vs pyarrow.dataset {p['cores']:.2f} (the server shares "
                f"the machine); the 1% key range: libkalam {_ms(kr)} (read {s3['segments_read']} of {s3['segments']} "
                f"segments) vs pyarrow.dataset {_ms(pr)}.")
    if key == "s3_splits":
        s3 = r["s3"]
        k, sp = s3["kalam"]["seconds"], s3["kalam_splits"]["seconds"]
        return (f"each split runs through a storage-only reader of its own: {s3_split_opens(s3)}; the single scan kept "
                f"{k['cores']:.2f} cores busy, the splits one after the other {sp['cores']:.2f}.")
    return ""


# ---- report ----------------------------------------------------------------------------


def fmt_range(s: Dict[str, Any], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    return (
        f"{s['median'] * scale:.{digits}f}{unit} "
        f"({s['min'] * scale:.{digits}f}–{s['max'] * scale:.{digits}f})"
    )


def ratio_of(a: Dict[str, Any], b: Dict[str, Any]) -> float:
    """a's median over b's median."""
    return a["median"] / b["median"]


FLUSH_WORK = (
    "Besides encoding and writing Parquet, a libkalam flush (engine/flush.go as this bench was written): takes the "
    "rows of the frozen generation from the flush cache (engine/flushcache.go: copies of the rows appended since the "
    "last flush, kept while keys arrive in increasing order, as here) or else reads every hot row back from RocksDB "
    "and decodes it; fsyncs RocksDB's log (which the appends wrote without syncing) on a goroutine meanwhile; "
    "encodes and compresses the segment's columns on all cores (pages compressed by libzstd); "
    "collects each column's statistics for the manifest; writes `segment_N.parquet.tmp` (starting each 4 MiB's "
    "writeback as it goes), fsyncs it, renames "
    "it and fsyncs the directory; commits one synced RocksDB WriteBatch (the new manifest, current and versioned, a "
    "history entry, and a range deletion of the flushed hot rows); then writes the manifest's mirror files "
    "(`manifest.json` and its versioned copy, each written to a temporary name, fsynced, renamed, directory fsynced) — "
    "seven fsyncs in all — and asks RocksDB (without waiting) to flush the memtable the flushed rows filled, which "
    "drops them instead of writing them to L0. The pyarrow peer only encodes and writes (its second figure adds an "
    "fsync of the file and of the directory)."
)


def write_report(out_dir: Path, r: Dict[str, Any], cfg: Config) -> None:
    m = r["machine"]
    fs = r["full_scan"]
    s = r["selective"]
    mg = r["merge"]
    sy = r["system"]
    ig = r["ingest"]
    ho = r["handoff"]
    st = r["startup"]
    hot = r["hot"]
    en = r["engines"]
    th = r["threads"]
    fp = r["flush_peer"]
    tl = r["targets"]
    verdicts_on = cfg.verdicts
    lines: List[str] = []
    w = lines.append

    busy = any(x > 1.0 for x in (r.get("load_start") or []) + (r.get("load_end") or []))
    kind = ("full run" if verdicts_on else
            "SMOKE RUN (tiny sizes, one run): the figures mean nothing, and no target gets a verdict" if r["config"].get("smoke") else
            f"SCALED RUN (row counts × {cfg.scale:g}, {cfg.runs} runs): a check of the harness; no target gets a verdict")
    w("# libkalam benchmarks")
    w("")
    w(f"Generated by `make bench` (`bench/bench.py`) on {r['finished']}; {kind}; the whole run took "
      f"{r['elapsed_seconds'] / 60:.1f} min. Raw samples: `results.json`. Every figure is the median of "
      f"{cfg.runs} runs with (min–max); the contestants of one comparison run interleaved (run 1 of each, then run 2 "
      "of each …) after one untimed warm-up, on the same files, in the same process. The data is generated by the bench "
      f"(seeds {SEED} and {DATA_SEED}): `id int64` (primary key), `ts timestamp[us, UTC]`, `category utf8` (10 values), "
      "`value float64`, `n int32`; everything is in the page cache.")
    w("")
    w(f"**Machine:** {m.get('cpu', '?')}, {m['cpus']} cores, {m.get('memory_gb', '?')} GB RAM, {m['platform']}; "
      f"Python {m['python']}, pyarrow {m['pyarrow']}, DuckDB {m['duckdb']}, Polars {m.get('polars', '?')}, DataFusion "
      f"{m.get('datafusion', '?')}, {m.get('go') or 'go ?'}; libkalam {m['kalam']}. "
      f"Load average at start {r['load_start']}, at end {r['load_end']}"
      + (" — other work shared the machine while this ran, so absolute figures are noisy; the interleaved ratios less so."
         if busy else "."))
    w("")
    w(f"**Threads:** every contestant is pinned to {th['pinned']} threads ({th['os_cpu_count']} CPUs), set before it "
      "starts; the last column is what each reports back.")
    w("")
    w("| contestant | how | reports |")
    w("| --- | --- | --- |")
    gm = th.get("profile_gomaxprocs")
    w(f"| libkalam | {th['libkalam']['how']} | GOMAXPROCS={th['libkalam']['value']}"
      + (f" (bench/profile, the same Go code in its own process, reports `runtime.GOMAXPROCS(0)` = {gm})" if gm else "") + " |")
    for who, name in (("pyarrow", "pyarrow"), ("duckdb", "DuckDB"), ("polars", "Polars"), ("datafusion", "DataFusion")):
        w(f"| {name} | {th[who]['how']} | {th[who]['value']} |")
    w("")
    w("## Results")
    w("")
    w("Each target of DESIGN §9 and issues 10 and 13: libkalam's figure, the peer's (same files, same run), the ratio, "
      "and whether it is met" + (" and by how much." if verdicts_on else " — only in the full run (`make bench`)."))
    w("")
    w("| § | target | libkalam | peer | ratio | met |")
    w("| --- | --- | --- | --- | --- | --- |")
    for t in tl:
        ratio = t["shown"] if t["ratio"] else "—"
        by = by_how_much(t)
        met = ((("yes" if t["met"] else "**no**") + (f", {by}" if by != "—" else "")) if verdicts_on else "— (full run only)")
        w(f"| {t['section']} | {t['target']} | {t['kalam']} | {t['peer']} | {ratio} | {met} |")
    w("")
    missed = [t for t in tl if not t["met"]]
    if verdicts_on and missed:
        w("### Why the missed targets are missed")
        w("")
        for t in missed:
            w(f"- **{t['target']}** — {t['shown']}, {by_how_much(t)}: {t.get('why') or verdict(r, t)}")
        w("")
    w("### Other figures (no target)")
    w("")
    w("| measure | libkalam | peer |")
    w("| --- | --- | --- |")
    for label, text in (("all", "5 columns"), ("value", "1 column")):
        k, d = fs[label]["kalam"]["rows_per_s"]["median"], fs[label]["duckdb"]["rows_per_s"]["median"]
        w(f"| full scan, {text}, vs DuckDB `read_parquet` | {k / 1e6:.1f} M rows/s | DuckDB {d / 1e6:.1f} M rows/s ({k / d:.2f}×) |")
    w(f"| flush vs pyarrow write + fsync of file and directory | {ig['flush']['rows_per_s']['median'] / 1e6:.2f} M rows/s | "
      f"{ig['pyarrow_write_fsync']['rows_per_s']['median'] / 1e6:.2f} M rows/s "
      f"({ratio_of(ig['flush']['rows_per_s'], ig['pyarrow_write_fsync']['rows_per_s']):.2f}×) |")
    w(f"| scanning a flush's {ig['flush']['rows']:,} hot rows back (before the flush) | "
      f"{ig['flush']['hot_read']['rows_per_s']['median'] / 1e6:.2f} M rows/s | — |")
    w(f"| flush of 1 row (a flush's fixed cost) | {_ms(ig['flush_one_row']['seconds']['median'])} | — |")
    w(f"| append {ig['append_wide']['rows']:,}-row batches, 5 columns | {ig['append_wide']['rows_per_s']['median'] / 1e6:.2f} M rows/s | — |")
    w(f"| system.tables, {sy['tables_rows']:,} tables | {sy['system.tables']['seconds']['median'] * 1e3:.1f} ms | — |")
    w(f"| start-up: `import kalam` → first scan result | {st['kalam']['import_to_result']['median'] * 1e3:.0f} ms | "
      f"`import pyarrow.parquet` → `read_table` {st['pyarrow']['import_to_result']['median'] * 1e3:.0f} ms |")
    w(f"| `libkalam.so` | {st['library_bytes'] / 1e6:.1f} MB | — |")
    s3 = r.get("s3")
    if s3:
        kr, pr = s3["kalam_range"]["seconds"]["median"], s3["pyarrow_dataset_range"]["seconds"]["median"]
        w(f"| 1% key range from object storage (S3) vs `pyarrow.dataset` with `S3FileSystem` | {_ms(kr)} | "
          f"{_ms(pr)} ({pr / kr:.2f}×) |")
    w("")

    w("## 1. Full scan")
    w("")
    w(f"{fs['rows']:,} rows in {fs['segments']} non-overlapping segments ({fs['files_bytes'] / 1e6:.0f} MB of Parquet; "
      f"layout: {describe_layout(fs['layout'])}). libkalam: `t.scan(columns=...).to_table()` (C stream into pyarrow). "
      "pyarrow: `pyarrow.parquet.read_table(files, columns=user columns)` over the same segment files. DuckDB: "
      "`con.sql(\"SELECT <cols> FROM read_parquet([files])\").to_arrow_table()`. All three return the same rows and "
      "columns (the peers leave out `_seq` and `_deleted` too). `cores` is the process's CPU time over wall time during "
      "the scan.")
    w("")
    w("| projection | contestant | seconds | M rows/s | cores | libkalam's rows/s ÷ this |")
    w("| --- | --- | --- | --- | --- | --- |")
    for label in ("all", "value"):
        kk = fs[label]["kalam"]["rows_per_s"]["median"]
        for who in ("kalam", "pyarrow", "duckdb"):
            c = fs[label][who]
            w(f"| {'5 columns' if label == 'all' else '`value` only'} | {who} | {fmt_range(c['seconds'], digits=3)} | "
              f"{fmt_range(c['rows_per_s'], 1e-6, 1)} | {c['seconds']['cores']:.2f} | {kk / c['rows_per_s']['median']:.2f}× |")
    w("")

    w("## 2. Ingest and flush")
    w("")
    w("Append: `t.append(pa.Table)` into hot storage (RocksDB), keys ascending, each batch new keys; the 5-column figure "
      f"is the {len(r['build_scan10']['append_s'])} appends that built section 1's table. Flush: the "
      f"{len(r['build_scan10']['flush_s'])} flushes of that build, each writing one {ig['flush']['rows']:,}-row segment "
      f"({ig['flush']['segment_bytes_median'] / 1e6:.1f} MB). Right after each flush, its peer: "
      "`pyarrow.parquet.write_table` of the very rows of that segment (all "
      f"{fp['columns']} stored columns, `_seq` and `_deleted` included, read back untimed) with the segment's layout, "
      "read from its footer and page headers (not assumed), to a local file.")
    w("")
    w(f"- libkalam's segment: {describe_layout(fp['layout'])}.")
    w(f"- pyarrow was called with `{json.dumps(fp['options'])}`; its file: {describe_layout(fp['pyarrow_layout'])}.")
    w(f"- Layout differences: {', '.join(fp['differences']) if fp['differences'] else 'none'} "
      f"(file sizes: libkalam {ig['flush']['segment_bytes_median'] / 1e6:.1f} MB, pyarrow {ig['pyarrow_write']['file_bytes'] / 1e6:.1f} MB; "
      "the zstd level is not in the footer: pyarrow gets arrow-go's default, level 3).")
    w("")
    w(FLUSH_WORK)
    w("")
    w("| measure | seconds | M rows/s |")
    w("| --- | --- | --- |")
    w(f"| append narrow (int64 key, float64), {ig['append_narrow']['rows']:,}-row batches | {fmt_range(ig['append_narrow']['seconds'], digits=3)} | {fmt_range(ig['append_narrow']['rows_per_s'], 1e-6, 2)} |")
    w(f"| append 5 columns, {ig['append_wide']['rows']:,}-row batches | {fmt_range(ig['append_wide']['seconds'], digits=3)} | {fmt_range(ig['append_wide']['rows_per_s'], 1e-6, 2)} |")
    w(f"| libkalam `t.flush()`, {ig['flush']['rows']:,} rows | {fmt_range(ig['flush']['seconds'], digits=3)} | {fmt_range(ig['flush']['rows_per_s'], 1e-6, 2)} |")
    w(f"| … for comparison: a scan of the hot rows before the flush (what reading them back costs; the flush takes them from its cache) | {fmt_range(ig['flush']['hot_read']['seconds'], digits=3)} | {fmt_range(ig['flush']['hot_read']['rows_per_s'], 1e-6, 2)} |")
    w(f"| … and the fixed cost: `t.flush()` of 1 row | {fmt_range(ig['flush_one_row']['seconds'], digits=4)} | — |")
    w(f"| `pyarrow.parquet.write_table`, same rows and layout | {fmt_range(ig['pyarrow_write']['seconds'], digits=3)} | {fmt_range(ig['pyarrow_write']['rows_per_s'], 1e-6, 2)} |")
    w(f"| … followed by fsync of the file and its directory | {fmt_range(ig['pyarrow_write_fsync']['seconds'], digits=3)} | {fmt_range(ig['pyarrow_write_fsync']['rows_per_s'], 1e-6, 2)} |")
    w("")

    w("## 3. Hot rows on a flushed table")
    w("")
    w(f"`bench.hot10`, a twin of section 1's `bench.scan10` (same {hot['rows']:,} rows, {hot['segments']} segments, flushed "
      "by this process), gets one hot upsert (an existing key, in the middle), then upserts of scattered existing keys "
      f"up to {hot['scattered']['hot_rows']} hot rows (keys {hot['hot_keys'][0]:,} … {hot['hot_keys'][1]:,}), never "
      "flushed. After each step its scans race the same scans of the clean `bench.scan10`, interleaved, in the process "
      f"that flushed both: the full scan (`to_table()`) and the 1% key range `{hot['range_filter']}`.")
    w("")
    w("| hot rows | scan | clean (s) | with hot rows (s) | ratio | plan |")
    w("| --- | --- | --- | --- | --- | --- |")
    for label in ("one", "scattered"):
        x = hot[label]
        for sc in ("full", "range"):
            a, b = x[f"hot_{sc}"]["seconds"], x[f"clean_{sc}"]["seconds"]
            w(f"| {x['hot_rows']} | {sc} | {fmt_range(b, digits=4)} | {fmt_range(a, digits=4)} | {ratio_of(a, b):.2f}× | "
              f"{'`' + str(x['merge']) + '`, ' + str(x['full_read']) + ' segments' if sc == 'full' else ''} |")
    w("")
    w(f"Pruning with the {hot['hot_rows']} scattered hot keys (`Scan.explain()`; \"statistics allow\" = the segments whose "
      "min/max of the filtered column meet the range, from `t.segments()`):")
    w("")
    w("| filter | segments read | pruned (reasons) | statistics allow | hot keys in range | plan |")
    w("| --- | --- | --- | --- | --- | --- |")
    for what, p in hot["pruning"].items():
        w(f"| `{p['filter']}` | {p['read']} | {p['pruned']} ({', '.join(p['pruned_reasons']) or '—'}) | {p['expected']} | "
          f"{p['hot_keys_in_filter'] if what == 'key' else '—'} | `{p['merge']}`, hot rows {'read' if p['hot'] else 'not read'} |")
    w("")

    w("## 4. Selective scan")
    w("")
    w(f"{s['rows']:,} rows in {s['segments']} segments of {s['rows'] // s['segments']:,} keys; filter `{s['filter']}` "
      f"({s['range_rows']:,} rows, 1%, starting inside a segment). libkalam read {s['segments_read']} segments "
      f"({s['row_groups_read']} row groups) and pruned {s['segments_pruned']} (`explain()`). Peer: "
      "`pyarrow.dataset.dataset(files).to_table(columns, filter=same range)`, which prunes by row-group statistics.")
    w("")
    w("| contestant | ms | cores |")
    w("| --- | --- | --- |")
    for who, what in (("kalam_range", "libkalam, key range"), ("kalam_full", "libkalam, full scan"),
                      ("pyarrow_dataset_range", "pyarrow.dataset, key range")):
        w(f"| {what} | {fmt_range(s[who]['seconds'], 1e3, 1)} | {s[who]['seconds']['cores']:.2f} |")
    w("")
    w(f"Building the table took {s['build_seconds']:.0f} s.")
    w("")

    w("## 5. Query engines")
    w("")
    w(f"A selective query — `SELECT {', '.join(en['columns'])} FROM t WHERE id >= lo AND id < hi` (1% of the keys) — "
      "through each engine, against the same rows read directly with `t.scan(columns=[...], filter=...).to_table()`; "
      "every result is checked (rows and the sum of `value`) against the direct scan's. DataFusion: "
      "`kalam.register_datafusion(ctx, db)` then `ctx.sql(...).to_arrow_table()`. DuckDB over a Scan: "
      "`con.register('kscan', t.scan(filter=...))`, the SQL over it. DuckDB over the dataset: "
      "`con.register('kds', t.to_pyarrow_dataset())` (made once per table, untimed; its making time is below). "
      "DuckDB over a source: `con.register('ksrc', kalam.duckdb.source(t))` (DuckDB's source protocol: it hands "
      "libkalam the query's columns and the filters that translate exactly). "
      "Polars: `kalam.polars.scan_table(t).filter(...).select(...).collect()` (a DataFrame).")
    w("")
    w("`import kalam_datafusion` in this Python: "
      + (f"**works** ({en['kalam_datafusion_module']}): projection, filters and limit reach libkalam."
         if en["kalam_datafusion"] else
         f"**fails** ({en.get('kalam_datafusion_error', 'not importable')}): `register_datafusion` falls back to "
         "reading whole tables at planning time (no pushdown), and warned: "
         f"\"{(en.get('register_warning') or '')[:160]}…\". `make bench` builds and installs the wheel first "
         "(`make datafusion-wheel`)."))
    w("")
    w("| table | engine | ms | ÷ `t.scan` | cores | notes |")
    w("| --- | --- | --- | --- | --- | --- |")
    for state in ("clean", "hot"):
        e = en[state]
        d = e["direct"]["seconds"]
        tdesc = f"`{e['table']}` ({e['rows']:,} rows, {e['hot_rows']} hot)"
        w(f"| {tdesc} | `t.scan(columns, filter)` | {fmt_range(d, 1e3, 1)} | 1.00× | {d['cores']:.2f} | "
          f"read {e['segments_read']} of {e['segments_total']} segments; {e['result_rows']:,} rows |")
        for who, label in ENGINE_LABELS.items():
            c = e[who]["seconds"]
            note = ""
            if who == "datafusion":
                note = "KalamScan in the plan" if e["datafusion_kalam_scan"] else "no KalamScan in the plan (fallback)"
            elif who == "duckdb_scan":
                note = "DuckDB asked for a projection" if e["duckdb_requested_schema"] else "DuckDB asked for no projection"
            elif who == "duckdb_source":
                note = f"pushed: {_pushed_text(e.get('duckdb_source_pushed'))}"
            elif who == "duckdb_dataset":
                note = f"{e['dataset_fragments']} fragments; dataset made in {_ms(e['dataset_make_s'])}"
            elif who == "polars":
                note = f"filter pushed: `{e['polars_pushed_filter']}`; residual: {e['polars_residual'] or 'none'}"
            w(f"| {tdesc} | {label} | {fmt_range(c, 1e3, 1)} | {ratio_of(c, d):.2f}× | {c['cores']:.2f} | {note} |")
    w("")

    w("## 6. C stream hand-off")
    w("")
    w("The hand-off is reported apart from producing the batches. End to end: the time of each "
      f"`RecordBatchReader.read_next_batch()` on `t.scan(columns=<first k of {cfg.handoff_columns} int64 columns>, "
      "batch_rows=B, limit=…).to_reader()` — libkalam's `get_next` (the engine producing that batch + the Go export) "
      f"plus pyarrow's import, with no Python code in between; the table has {ho['rows']:,} rows in one flushed "
      "segment. The first batch of each scan is left out; the median over the other batches is one run. µs per column "
      "is the least-squares slope of µs per batch over k, µs per batch its intercept. Apart: the Go side split by "
      "`bench/profile` (the engine's stream drained in Go, then the same scan exported through `arrowexport` and "
      "drained by a C loop, no import: the difference is the export), and pyarrow's import alone "
      "(`pa.RecordBatch._import_from_c` of each of libkalam's batches, schema known as in a stream). Peer: the same "
      "batches already in memory moved through pyarrow's own C stream (export + import).")
    w("")
    w("| batch_rows | end to end µs per column | end to end µs per batch | pyarrow import alone µs per column | pyarrow C stream µs per column | pyarrow C stream µs per batch |")
    w("| --- | --- | --- | --- | --- | --- |")
    for sl in ho["slopes"]:
        imp = f"{sl['import_us_per_column']:.2f}" if "import_us_per_column" in sl else "—"
        w(f"| {sl['batch_rows']:,} | {sl['kalam_us_per_column']:.2f} | {sl['kalam_us_fixed']:.1f} | {imp} | "
          f"{sl['pyarrow_us_per_column']:.2f} | {sl['pyarrow_us_fixed']:.1f} |")
    w("")
    hs = r.get("handoff_split")
    if hs:
        w("Go side (`bench/profile`, 1-row batches, 2 scans of 10 000 batches each):")
        w("")
        w("| columns | engine producing, µs/batch | engine + export, µs/batch |")
        w("| --- | --- | --- |")
        for row in hs["rows"]:
            w(f"| {row['columns']} | {row['engine_us_per_batch']:.1f} | {row['export_us_per_batch']:.1f} |")
        w("")
        hv, how = handoff_per_column(r)
        w(f"Producing the batches: {hs['engine_us_per_column']:.2f} µs per column + {hs['engine_us_fixed']:.1f} µs per batch. "
          f"Hand-off: the export {hs['export_us_per_column']:.2f} µs per column + {hs['export_us_fixed']:.1f} µs per batch, "
          f"plus pyarrow's import → {hv:.2f} µs per column ({how}).")
        w("")
    w("| batch_rows | columns | batches | libkalam end to end µs/batch | pyarrow import alone µs/batch | pyarrow C stream µs/batch |")
    w("| --- | --- | --- | --- | --- | --- |")
    for c in ho["cells"]:
        imp = fmt_range(c["import"]["us_per_batch"], digits=1) if "import" in c else "—"
        w(f"| {c['batch_rows']:,} | {c['columns']} | {c['batches']} | {fmt_range(c['kalam']['us_per_batch'], digits=1)} | "
          f"{imp} | {fmt_range(c['pyarrow']['us_per_batch'], digits=1)} |")
    w("")

    w("## 7. Merge cost")
    w("")
    w(f"Two tables with the same {mg['rows']:,} rows in {fs['segments']} non-overlapping segments (section 1's "
      f"`bench.scan10` and its twin `bench.merge10`). In the twin, {mg['updated_rows']:,} random keys "
      f"({mg['updated_rows'] / mg['rows']:.0%}) were then appended again with new values and flushed: "
      f"{mg['segments']} segments, the new one overlapping all others (plan: `{mg['merge']}`). Both full scans "
      "(`to_table()`) run interleaved.")
    w("")
    w("| table | seconds | cores |")
    w("| --- | --- | --- |")
    w(f"| non-overlapping | {fmt_range(mg['non_overlapping'], digits=3)} | {mg['non_overlapping']['cores']:.2f} |")
    w(f"| overlapping | {fmt_range(mg['overlapping'], digits=3)} | {mg['overlapping']['cores']:.2f} |")
    w("")
    sh = r.get("shapes")
    if sh:
        w("### 7.1 Other table shapes (no target)")
        w("")
        w(f"Tables an outside checker might build instead of the bench's, {sh['rows']:,} rows each in {sh['segments']} "
          "non-overlapping segments: the full scan (`to_table()`) against `pyarrow.parquet.read_table` of the same "
          f"files, and the same rows with {sh['update_fraction']:.0%} of the keys updated into a fifth, overlapping "
          f"segment (merged) and with {sh['hot_upserts']} scattered hot upserts (hot), each against that full scan. "
          "All four run interleaved; every result is checked for its row count.")
        w("")
        w("| shape | key | libkalam | pyarrow | speed vs pyarrow | merged | hot |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for name in SHAPE_NAMES:
            x = sh.get(name)
            if not x:
                continue
            k, p = x["kalam"]["median"], x["pyarrow"]["median"]
            w(f"| {name}: {x['what']} | {x['key']} | {_ms(k)} ({x['kalam']['cores']:.2f} cores) | {_ms(p)} "
              f"({x['pyarrow']['cores']:.2f} cores) | {p / k:.2f}× | {x['merged']['median'] / k:.2f}× | "
              f"{x['hot']['median'] / k:.2f}× |")
        w("")

    w("## 8. System tables")
    w("")
    w(f"A separate store with {sy['tables_rows']:,} tables (system ones included) and {sy['segments_rows']:,} rows in "
      f"system.segments ({sy['live_segments']:,} live segments in {cfg.sys_segment_tables} tables, plus the tombstoned "
      "inputs of the compactions that made them). `db.system(name)` returns a pyarrow Table. No peer.")
    w("")
    w("| call | ms |")
    w("| --- | --- |")
    for who in ("system.tables", "system.segments"):
        w(f"| `db.system(\"{who.split('.')[1]}\")` | {fmt_range(sy[who]['seconds'], 1e3, 1)} |")
    w("")
    w(f"Build time (not in the figures): {cfg.sys_tables:,} `create_table` calls took {sy['build_tables_seconds']:.0f} s; "
      f"the segments {sy['build_segments_seconds']:.0f} s — per carrying table one append + flush of "
      f"{cfg.sys_segments_per_table:,} rows, then a compaction with `target_rows=1`, which writes one segment per row "
      "in a single commit.")
    w("")

    w("## 9. Start-up")
    w("")
    w(f"A fresh `python -c` that imports kalam, opens a store and scans a {st['rows']:,}-row table (one segment) to "
      "a pyarrow Table. Peer: a fresh `python -c` that imports pyarrow.parquet and `read_table`s that segment file. "
      "`import → result` is timed inside the process, `spawn → result` from just before the parent starts it.")
    w("")
    w("| contestant | import (ms) | import → result (ms) | spawn → result (ms) |")
    w("| --- | --- | --- | --- |")
    for who in ("kalam", "pyarrow"):
        c = st[who]
        w(f"| {who} | {fmt_range(c['import'], 1e3, 0)} | {fmt_range(c['import_to_result'], 1e3, 0)} | "
          f"{fmt_range(c['spawn_to_result'], 1e3, 0)} |")
    w("")
    stripped = st.get("library_stripped")
    w(f"`libkalam.so`: {st['library_bytes']:,} bytes ({st['library_bytes'] / 1e6:.1f} MB)"
      + ("" if stripped is None else (", stripped (`-ldflags \"-s -w\"`)" if stripped else ", not stripped"))
      + "; RocksDB is linked dynamically; Arrow, Parquet and zstd are Go code inside it.")
    w("")

    write_s3_report(w, r)

    prof = r.get("profile")
    if prof:
        w("## Profiles (Go side, `bench/profile`)")
        w("")
        w("`bench/profile` (a Go program using the engine API directly, GOMAXPROCS as above) opens the bench's store "
          "read-only after this process closed it. `full_scan`, `full_scan_1col`: scans of `bench.scan10` (5 columns, "
          "`value`). `selective`: the 1% key range of section 4 on `bench.sel100`. `hot_scan`: full scans of "
          "`bench.hot10` with its hot upserts (section 3). `merge_scan`: full scans of `bench.merge10` (section 7). "
          "`flush`: the rows of one `bench.scan10` segment appended to a fresh table of a new store and flushed, only the "
          "flushes sampled (`-tagfocus=phase=flush`). `handoff_1row`: 1-row batches of 8 columns of `bench.wide`, "
          "exported through `arrowexport` and drained by a C loop. Batches are drained in Go (no pyarrow). CPU by "
          "package is the flat share of the samples.")
        w("")
        labels = list(prof)
        top: Dict[str, float] = {}
        for l in labels:
            for x in prof[l]["packages"][:6]:
                top[x["package"]] = max(top.get(x["package"], 0.0), x["percent"])
        pkgs = [p for p, v in sorted(top.items(), key=lambda kv: -kv[1]) if v >= 1.0]
        w("| CPU (flat) by package | " + " | ".join(labels) + " |")
        w("| --- |" + " --- |" * len(labels))
        for pkg in pkgs:
            vals = [next((x["percent"] for x in prof[l]["packages"] if x["package"] == pkg), 0.0) for l in labels]
            w(f"| {pkg} | " + " | ".join(f"{v:.0f}%" for v in vals) + " |")
        for mk, text in (("gc_marking", "GC marking (cumulative)"), ("go_alloc", "Go heap allocation (cumulative)"),
                         ("cgo_calls", "cgo calls (cumulative)"), ("futex", "thread sleeps/wake-ups (cumulative)")):
            w(f"| {text} | " + " | ".join(f"{prof[l]['markers'][mk]:.0f}%" for l in labels) + " |")
        w("")
        for label, pr in prof.items():
            w(f"### {label}")
            w("")
            w(f"`{pr['run']}`")
            w("")
            w("```")
            w(pr["top_cum"])
            w("```")
            w("")
    (out_dir / "RESULTS.md").write_text("\n".join(lines) + "\n")


S3_CONTESTANTS = (
    ("kalam", "libkalam, full scan"),
    ("pyarrow_dataset", "pyarrow.dataset, full scan"),
    ("kalam_splits", "libkalam, the splits one after the other"),
    ("kalam_range", "libkalam, 1% key range"),
    ("pyarrow_dataset_range", "pyarrow.dataset, 1% key range"),
    ("kalam_local_copy", "libkalam, full scan of a local copy"),
    ("fetch_objects", "pyarrow's S3 client, the segment objects fetched whole"),
    ("reader_open", "opening a storage-only reader (+ `tables()`)"),
)


def s3_split_opens(s3: Dict[str, Any]) -> str:
    """The splits' time beyond the single scan, and what a split pays that
    the single scan does not, in figures."""
    n = s3["splits"]
    k, sp = s3["kalam"]["seconds"]["median"], s3["kalam_splits"]["seconds"]["median"]
    ro = s3["reader_open"]["seconds"]["median"]
    extra = sp - k
    if extra <= 0:
        return f"the {n} splits took no longer than the single scan ({_ms(sp)} vs {_ms(k)})"
    return (f"the {n} splits take {_ms(extra)} more than the single scan ({_ms(extra / n)} per split). A split's open "
            "reads no object (the table's definition and the manifest of its segments travel in the split) and the "
            "process's connections are shared, so what each pays is its segment's footer GET and a first row group "
            "fetched before any decoding starts, where the single scan reads its segments back to back with read-ahead "
            f"across them. (A plain storage-only open, which lists the store and reads every table's metadata, takes "
            f"{_ms(ro)}: none of it is in a split.)")


def write_s3_report(w: Callable[[str], None], r: Dict[str, Any]) -> None:
    """Section 10 of RESULTS.md (or why it was skipped)."""
    w("## 10. Object storage (S3)")
    w("")
    s3 = r.get("s3")
    if not s3:
        w(f"Skipped: {r.get('s3_skipped', 'no figures')}.")
        w("")
        return
    w(f"A table of {s3['rows']:,} rows in {s3['segments']} non-overlapping segments ({s3['files_bytes'] / 1e6:.1f} MB of "
      f"Parquet) written by a writer whose storage is on the S3 test server ({s3['server']}; RocksDB local), then read "
      "from the bucket. libkalam: a storage-only reader (`kalam.open(storage=\"s3://...\", read_only=True)`), "
      "`scan().to_table()`: ranged GETs in 1 MiB aligned blocks, footers cached per open segment. pyarrow: "
      "`pyarrow.dataset.dataset(<the same objects>, filesystem=pyarrow.fs.S3FileSystem(endpoint_override=..., "
      "scheme=\"http\")).to_table(columns=...)`. Selective: the 1% key range "
      f"`{s3['filter']}` (libkalam read {s3['segments_read']} of {s3['segments']} segments; pyarrow.dataset filters "
      f"with row-group statistics). Splits: the {s3['splits']} splits of the full scan (`scan().splits()`), each "
      "`split.scan(storage_options=...).to_table()` — a storage-only reader of its own per split, as on a worker — "
      "one after the other in this process; the overhead is their total time over one scan's. Where the time goes: "
      "the same full scan by a storage-only reader on a local copy of every object of the store (decoding without "
      "the network), the segment objects fetched whole by pyarrow's S3 client on a pool of as many threads as every "
      "contestant has (the network without decoding), and the open of a storage-only reader. Every result is checked "
      "(rows and the sum of `value`). All contestants ran interleaved in one process.")
    w("")
    th = s3["threads"]
    w(f"Threads: pinned to {th['pinned']} as for every section — libkalam {th['libkalam']}, pyarrow {th['pyarrow']}, "
      f"fetch pool {th['fetch_pool']}. The server (a JVM) runs on the same cores.")
    w("")
    w("| contestant | seconds | M rows/s | cores |")
    w("| --- | --- | --- | --- |")
    for who, label in S3_CONTESTANTS:
        c = s3[who]
        rows = "—" if who in ("fetch_objects", "reader_open") else fmt_range(c["rows_per_s"], 1e-6, 2)
        w(f"| {label} | {fmt_range(c['seconds'], digits=3)} | {rows} | {c['seconds']['cores']:.2f} |")
    w("")
    k, lc, fo, ro, p = (s3[x]["seconds"]["median"] for x in ("kalam", "kalam_local_copy", "fetch_objects", "reader_open",
                                                              "pyarrow_dataset"))
    w(f"Where the time goes: the scan of the local copy takes {lc:.3f} s ({lc / k:.0%} of the scan from S3), fetching "
      f"the objects whole {fo:.3f} s; so the scan from S3 costs {k - lc:+.3f} s over decoding alone, against "
      f"pyarrow.dataset's {p:.3f} s in all. Opening a storage-only reader and listing its tables takes "
      f"{ro * 1e3:.0f} ms. Splits: {s3_split_opens(s3)}.")
    w("")


# ---- main ----------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run, into a temporary directory; checks that every section produced numbers")
    ap.add_argument("--scale", type=float, default=None, help="the full suite with every row count times this (a harness check; no verdicts)")
    ap.add_argument("--out", default=None, help="directory for RESULTS.md and results.json (default: bench/, or a temporary directory with --smoke or --scale)")
    ap.add_argument("--work", default=None, help="directory for the generated stores (default: a temporary directory, removed at the end)")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default 5; 1 with --smoke; fewer than 5: no verdicts)")
    ap.add_argument("--threads", type=int, default=None, help="threads of every contestant (default: every CPU)")
    ap.add_argument("--no-profile", action="store_true", help="skip the Go CPU profiles")
    ap.add_argument("--from-json", default=None, help="only re-render RESULTS.md (into --out or bench/) from this results.json")
    args = ap.parse_args(argv)
    if args.from_json:
        r = json.loads(Path(args.from_json).read_text())
        cfg = Config(**{k: v for k, v in r["config"].items() if k in Config.__dataclass_fields__})
        out_dir = Path(args.out) if args.out else Path(__file__).resolve().parent
        out_dir.mkdir(parents=True, exist_ok=True)
        check_complete(r)
        write_report(out_dir, r, cfg)
        return 0

    cfg = SMOKE if args.smoke else FULL
    if args.scale is not None and not args.smoke and args.scale != 1.0:
        cfg = scaled_config(cfg, args.scale)
    if args.runs is not None:
        cfg = Config(**{**cfg.__dict__, "runs": max(1, args.runs)})
    if cfg.runs < 5:
        cfg = Config(**{**cfg.__dict__, "verdicts": False})
    if args.no_profile:
        cfg = Config(**{**cfg.__dict__, "profile": False})
    cfg = Config(**{**cfg.__dict__, "threads": THREADS})
    pa.set_cpu_count(THREADS)
    pa.set_io_thread_count(THREADS)
    tmp_out = None
    if args.out:
        out_dir = Path(args.out)
    elif args.smoke:
        tmp_out = tempfile.mkdtemp(prefix="kalam-bench-out-")
        out_dir = Path(tmp_out)
    elif not cfg.verdicts:
        # A scaled or short run never overwrites bench/RESULTS.md; its
        # output is kept in a temporary directory named in the log.
        out_dir = Path(tempfile.mkdtemp(prefix="kalam-bench-out-"))
    else:
        out_dir = Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kalam-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    # A private copy of the library: a rebuild (`make lib` copies over the
    # package's libkalam.so in place) under a running bench would SIGBUS it.
    lib_src = Path(os.environ.get("KALAM_LIBRARY") or next(
        (p for p in (REPO / "build" / "libkalam.so", REPO / "bindings" / "python" / "kalam" / "libkalam.so") if p.is_file()),
        REPO / "build" / "libkalam.so",
    ))
    if not lib_src.is_file():
        raise SystemExit(f"bench: no library at {lib_src}; run `make lib`")
    (work / "lib").mkdir(exist_ok=True)
    lib_copy = work / "lib" / "libkalam.so"
    shutil.copy2(lib_src, lib_copy)
    os.environ["KALAM_LIBRARY"] = str(lib_copy)

    started = time.time()
    b = Bench(cfg=cfg, work=work)
    b.results["library_source"] = str(lib_src)
    b.results["machine"] = machine()
    b.results["threads"] = thread_settings(THREADS)
    b.results["load_start"] = loadavg()
    b.results["config"] = dict(cfg.__dict__, smoke=args.smoke)
    kind = "smoke" if args.smoke else ("full" if cfg.verdicts else f"scaled ×{cfg.scale:g}, {cfg.runs} runs")
    b.log(f"bench {kind}: {THREADS} threads for every contestant; work dir {work}, output {out_dir}")
    store = work / "store"
    try:
        db = kalam.open(store)
        try:
            db.create_namespace("bench")
            b.full_scan(db)
            b.ingest(db)
            b.hot_rows(db)
            b.selective(db)
            b.engines(db)
            b.merge(db)
            b.shapes(db)
            b.handoff(db)
        finally:
            db.close()
        b.system_tables()
        b.startup()
        b.object_storage()
        if cfg.profile and shutil.which("go"):
            b.profile(store)
        elif cfg.profile:
            b.log("profile skipped: no `go` on PATH")
        b.results["load_end"] = loadavg()
        b.results["elapsed_seconds"] = time.time() - started
        b.results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        b.results["targets"] = targets(b.results)
        if cfg.verdicts:
            for t in b.results["targets"]:
                if not t["met"]:
                    t["why"] = verdict(b.results, t)
        check_complete(b.results)
        (out_dir / "results.json").write_text(json.dumps(b.results, indent=1, default=str) + "\n")
        write_report(out_dir, b.results, cfg)
        b.log(f"wrote {out_dir / 'RESULTS.md'} and results.json in {b.results['elapsed_seconds']:.0f} s")
        if cfg.verdicts:
            for t in b.results["targets"]:
                b.log(f"target {'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['shown']} ({by_how_much(t)})")
        else:
            b.log(f"{len(b.results['targets'])} targets measured; no verdicts at this size (the full run gives them)")
            for t in b.results["targets"]:
                b.log(f"  {t['target']}: {t['shown']}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
        if tmp_out:
            shutil.rmtree(tmp_out, ignore_errors=True)
    return 0


def check_complete(r: Dict[str, Any]) -> None:
    """Every section produced positive, finite numbers and every target a
    figure and a why-line (what the smoke run guards)."""

    def walk(x: Any, path: str) -> int:
        n = 0
        if isinstance(x, dict):
            for k, v in x.items():
                n += walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                n += walk(v, f"{path}[{i}]")
        elif isinstance(x, float):
            if not np.isfinite(x):
                raise AssertionError(f"{path} is {x}")
            n += 1
        return n

    for section in ("full_scan", "ingest", "hot", "selective", "engines", "merge", "shapes", "system", "handoff", "startup",
                    "flush_peer"):
        if section not in r:
            raise AssertionError(f"section {section} produced nothing")
        if walk(r[section], section) == 0:
            raise AssertionError(f"section {section} produced no numbers")
    fs = r["full_scan"]
    for label in ("all", "value"):
        for who in ("kalam", "pyarrow", "duckdb"):
            if not fs[label][who]["seconds"]["median"] > 0:
                raise AssertionError(f"full_scan.{label}.{who} has no time")
    for state in ("clean", "hot"):
        for who in ("direct", *ENGINE_LABELS):
            if not r["engines"][state][who]["seconds"]["median"] > 0:
                raise AssertionError(f"engines.{state}.{who} has no time")
    if r["engines"]["hot"]["hot_rows"] <= 0:
        raise AssertionError("the engines' hot table has no hot rows")
    for who in ("libkalam", "pyarrow", "duckdb", "polars", "datafusion"):
        if not r["threads"].get(who, {}).get("value"):
            raise AssertionError(f"thread setting of {who} not recorded")
    if not r["startup"]["library_bytes"] > 0:
        raise AssertionError("libkalam.so size missing")
    if "s3_skipped" not in r:
        if "s3" not in r or walk(r["s3"], "s3") == 0:
            raise AssertionError("section s3 (10) produced nothing, and was not skipped")
        for who, _ in S3_CONTESTANTS:
            if not r["s3"][who]["seconds"]["median"] > 0:
                raise AssertionError(f"s3.{who} has no time")
    want = 22 + (2 if "s3" in r else 0)
    if len(r["targets"]) != want:
        raise AssertionError(f"{len(r['targets'])} targets, expected {want}")
    for t in r["targets"]:
        if not verdict(r, t):
            raise AssertionError(f"target {t['key']} has no why-line")


if __name__ == "__main__":
    sys.exit(main())
