"""Table maintenance (DESIGN §7): compact, vacuum, history, time travel after
both, scans held open across them, and the column statistics of segments().
Expected values come from a model of the table kept by each test."""

from __future__ import annotations

import datetime
import math
import os
import random
import re
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pytest

import kalam
from conftest import EVENTS_SCHEMA, events_rows
from kalam._stats import stats_array

Model = Dict[int, Tuple[str, float]]


def _state(t: kalam.Table, version: Optional[int] = None) -> Model:
    got = t.scan(version=version).to_table().to_pydict()
    assert got["id"] == sorted(got["id"]), "rows come back in key order"
    return {i: (v, x) for i, v, x in zip(got["id"], got["v"], got["x"])}


def _files_on_disk(t: kalam.Table) -> set:
    data = os.path.join(t.storage_path, "data")
    return {f"data/{f}" for f in os.listdir(data)}


def _newest_versions(t: kalam.Table) -> Tuple[int, int, int]:
    """(row versions in live segments, live keys, keys whose newest version
    is a tombstone), read from the segments as stored."""
    newest: Dict[int, Tuple[int, bool]] = {}
    total = 0
    for sid in _live_ids(t):
        seg = t.scan_segment(sid, columns=["id", "_seq", "_deleted"]).to_table().to_pydict()
        total += len(seg["id"])
        for k, seq, dead in zip(seg["id"], seg["_seq"], seg["_deleted"]):
            if k not in newest or newest[k][0] < seq:
                newest[k] = (seq, dead)
    tombstones = sum(1 for _, dead in newest.values() if dead)
    return total, len(newest) - tombstones, tombstones


def _live_ids(t: kalam.Table) -> List[str]:
    segs = t.segments()
    return [i for i, dead in zip(segs.column("id").to_pylist(), segs.column("tombstone").to_pylist()) if not dead]


def _apply(t: kalam.Table, model: Model, rng: random.Random, round_no: int) -> None:
    """One round of random upserts and deletes, applied to the table and the model."""
    ids = sorted(rng.sample(range(60), 15))
    tag = f"g{round_no}_"
    t.append(events_rows(ids, tag=tag))
    for i in ids:
        model[i] = (f"{tag}{i}", i / 2)
    dels = rng.sample(range(60), 5)
    assert t.delete(dels) == sum(1 for d in dels if d in model)
    for d in dels:
        model.pop(d, None)


def test_compact_and_vacuum_keep_every_readable_version_exact(events):
    t = events
    rng = random.Random(7)
    model: Model = {}
    expected: Dict[int, Model] = {1: {}}
    for round_no in range(5):
        _apply(t, model, rng, round_no)
        assert t.flush() is not None
        expected[t.version] = dict(model)
    assert sorted(expected) == [1, 2, 3, 4, 5, 6]
    for version, want in expected.items():
        assert _state(t, version) == want, f"version {version}"

    # The report, computed independently from the segments as stored.
    rows_read, live_keys, tombstones = _newest_versions(t)
    inputs = _live_ids(t)
    assert _files_on_disk(t) == {s["path"] for s in t.manifest()["segments"]}
    report = t.compact(target_rows=7)
    assert report["table"] == "app.events" and report["skipped"] is False
    assert report["version"] == 7 == t.version
    assert sorted(report["input_segments"]) == sorted(inputs)
    assert report["rows_read"] == rows_read
    assert report["rows_written"] == live_keys == len(model)
    assert report["tombstones_dropped"] == tombstones
    assert report["versions_dropped"] == rows_read - live_keys - tombstones
    assert len(report["output_segments"]) == math.ceil(live_keys / 7)
    expected[7] = dict(model)

    segs = t.segments()
    by_id = {r["id"]: r for r in segs.to_pylist()}
    assert all(by_id[s]["tombstone"] for s in inputs)
    outs = [by_id[s] for s in report["output_segments"]]
    assert not any(o["tombstone"] for o in outs)
    assert [o["row_count"] for o in outs] == [7] * (live_keys // 7) + ([live_keys % 7] if live_keys % 7 else [])
    assert report["bytes_written"] == sum(o["size_bytes"] for o in outs)
    # Outputs hold no tombstones and do not overlap.
    ranges = sorted((o["min_key"], o["max_key"]) for o in outs)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    for sid in report["output_segments"]:
        assert not any(t.scan_segment(sid, columns=["_deleted"]).to_table().column("_deleted").to_pylist())
    assert _files_on_disk(t) == {s["path"] for s in t.manifest()["segments"]}
    for version, want in expected.items():
        assert _state(t, version) == want, f"version {version} after compaction"

    # Vacuum: the inputs' files go, and the versions that needed them.
    removed_paths = sorted(by_id[s]["path"] for s in inputs)
    assert t.vacuum(retention_ms=0, dry_run=True) == removed_paths
    assert t.vacuum(0) == len(inputs)
    assert t.version == 8
    expected[8] = dict(model)
    man = t.manifest()
    assert _files_on_disk(t) == {s["path"] for s in man["segments"]}
    assert not any(s["tombstone"] for s in man["segments"])
    assert sorted(t.segments().column("id").to_pylist()) == sorted(report["output_segments"])
    for version in range(2, 7):
        with pytest.raises(kalam.NotFound, match=rf"version {version}\b.*oldest available version is \d+") as ei:
            t.scan(version=version).to_table()
        msg = str(ei.value)
        oldest = int(re.search(r"oldest available version is (\d+)", msg).group(1))
        first_after = int(re.search(rf"the first available after {version} is (\d+)", msg).group(1))
        assert oldest not in range(2, 7) and first_after == 7
        assert _state(t, oldest) == expected[oldest]
        assert _state(t, first_after) == expected[first_after]
    for version in (1, 7, 8, None):
        assert _state(t, version) == (expected[version] if version else model)
    assert t.vacuum(0) == 0


def test_scan_held_open_keeps_its_snapshot_across_compact_and_vacuum(events):
    t = events
    t.append(events_rows(list(range(10))))
    t.flush()
    t.append(events_rows([2, 3, 4], tag="u"))
    t.delete([5])
    t.flush()
    snapshot = _state(t)
    reader = t.scan(batch_rows=2).to_reader()
    first = reader.read_next_batch()
    assert first.num_rows == 2

    # Everything changes under the held scan.
    t.append(events_rows([0, 1, 20], tag="late"))
    t.delete([6])
    t.flush()
    report = t.compact()
    assert len(report["input_segments"]) == 3 and len(report["output_segments"]) == 1
    # Only the segment flushed after the scan started is not pinned by it.
    late = t.segments().to_pylist()[2]
    assert t.vacuum(0, dry_run=True) == [late["path"]]
    assert t.vacuum(0) == 1
    assert not os.path.exists(os.path.join(t.storage_path, late["path"]))

    rest = pa.Table.from_batches([first] + list(reader))
    reader.close()
    got = rest.to_pydict()
    assert {i: (v, x) for i, v, x in zip(got["id"], got["v"], got["x"])} == snapshot

    now = _state(t)
    assert now[0] == ("late0", 0.0) and now[20] == ("late20", 10.0) and 6 not in now and 5 not in now
    assert len(_files_on_disk(t)) == 3  # two pinned inputs and the output
    assert t.vacuum(0) == 2
    assert _files_on_disk(t) == {p for p in t.segments().column("path").to_pylist()}
    assert _state(t) == now


def test_vacuum_dry_run_retention_and_bad_arguments(events):
    t = events
    for ids in ([1, 2], [2, 3], [3, 4]):
        t.append(events_rows(ids))
        t.flush()
    t.compact()
    before = _files_on_disk(t)
    assert len(before) == 4
    assert t.vacuum(dry_run=True) == []  # default retention: 7 days
    assert t.vacuum() == 0
    dry = t.vacuum(0, dry_run=True)
    assert dry == ["data/segment_001.parquet", "data/segment_002.parquet", "data/segment_003.parquet"]
    assert _files_on_disk(t) == before and t.version == 5
    # The replaced segments are a moment old: a retention far below that age removes them.
    time.sleep(0.05)
    assert t.vacuum(retention_ms=10, dry_run=True) == dry
    assert t.vacuum(retention_ms=10) == 3
    assert _files_on_disk(t) == before - set(dry)

    with pytest.raises(kalam.InvalidArgument, match="retention_ms is -1"):
        t.vacuum(-1)
    with pytest.raises(kalam.InvalidArgument, match="retention_ms"):
        t.vacuum(-1, dry_run=True)
    with pytest.raises(TypeError):
        t.vacuum(1.5)
    with pytest.raises(TypeError):
        t.vacuum(True)
    with pytest.raises(kalam.InvalidArgument, match="retention_ms=9223372036854775808 is out of range"):
        t.vacuum(2**63)
    # A numpy integer is an int (a notebook's arithmetic makes them).
    assert t.vacuum(np.int64(0), dry_run=True) == []


def test_compact_options(events):
    t = events
    report = t.compact()
    assert report["skipped"] is True and report["version"] == 1 and report["reason"]
    t.append(events_rows([1, 2]))
    t.flush()
    t.append(events_rows([2], tag="new"))
    t.flush()
    report = t.compact(min_segments=3)
    assert report["skipped"] is True and "min_segments=3" in report["reason"] and t.version == 3
    report = t.compact(min_segments=2, target_rows=1)
    assert report["skipped"] is False and report["rows_written"] == 2 and len(report["output_segments"]) == 2
    assert report["versions_dropped"] == 1
    assert _state(t) == {1: ("r1", 0.5), 2: ("new2", 1.0)}
    with pytest.raises(kalam.InvalidArgument, match='"target_rows"'):
        t.compact(target_rows=0)
    with pytest.raises(kalam.InvalidArgument, match='"min_segments"'):
        t.compact(min_segments=-1)
    with pytest.raises(TypeError, match="target_rows"):
        t.compact(target_rows="5")
    with pytest.raises(TypeError, match="target_rows"):
        t.compact(target_rows=True)
    report = t.compact(target_rows=np.int64(10), min_segments=np.int32(2))  # numpy integers are ints
    assert report["skipped"] is False and report["rows_written"] == 2 and len(report["output_segments"]) == 1
    with pytest.raises(kalam.NotFound):
        kalam.Table(t.db, "app.missing").compact()


def test_history_rows(events):
    t = events
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    t.append(events_rows([1, 2, 3]))
    t.flush()
    t.append(events_rows([3, 4]))
    t.delete([1])
    t.flush()
    t.compact(target_rows=2)
    t.vacuum(0)
    t.append(events_rows([9]))
    t.flush()
    h = t.history()
    assert h.schema == pa.schema(
        [
            pa.field("version", pa.uint64(), nullable=False),
            pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("operation", pa.utf8(), nullable=False),
            pa.field("segments_added", pa.uint64(), nullable=False),
            pa.field("segments_removed", pa.uint64(), nullable=False),
        ]
    )
    d = h.to_pydict()
    assert d["version"] == [1, 2, 3, 4, 5, 6]
    assert d["operation"] == ["create", "flush", "flush", "compact", "vacuum", "flush"]
    assert d["segments_added"] == [0, 1, 1, 2, 0, 1]
    assert d["segments_removed"] == [0, 0, 0, 2, 2, 0]
    times = d["time"]
    assert times == sorted(times)
    assert start <= times[0] and times[-1] <= datetime.datetime.now(datetime.timezone.utc)
    assert d["version"][-1] == t.version
    # A fresh table has its creation only.
    fresh = t.db.create_table("app.fresh", EVENTS_SCHEMA, primary_key="id")
    assert fresh.history().to_pydict()["operation"] == ["create"]


def _expected_stats(batch: pa.Table, col: str) -> Tuple[object, object, int]:
    arr = batch.column(col)
    valid = [v for v in arr.to_pylist() if v is not None]
    if not valid:
        return None, None, arr.null_count
    return min(valid), max(valid), arr.null_count


def test_segments_gain_typed_statistics_columns(db):
    schema = pa.schema(
        [
            pa.field("id", pa.int32(), nullable=False),
            ("u", pa.uint64()),
            ("f", pa.float32()),
            ("s", pa.large_utf8()),
            ("b", pa.bool_()),
            ("ts", pa.timestamp("us", tz="Europe/Paris")),
            ("d", pa.date32()),
            ("dur", pa.duration("ms")),
            ("dec", pa.decimal128(9, 2)),
            ("lst", pa.list_(pa.int64())),
        ]
    )
    t = db.create_table("stats", schema, primary_key="id")
    base_ts = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
    batches = [
        pa.table(
            {
                "id": pa.array([3, 1, 2], pa.int32()),
                "u": pa.array([2**64 - 1, None, 7], pa.uint64()),
                "f": pa.array([1.5, -0.25, None], pa.float32()),
                "s": pa.array(["pear", "apple", None], pa.large_utf8()),
                "b": [True, None, True],
                "ts": pa.array([base_ts, base_ts + datetime.timedelta(microseconds=1), None], schema.field("ts").type),
                "d": [datetime.date(2024, 1, 2), datetime.date(1969, 12, 31), None],
                "dur": pa.array([5, -3, 0], pa.duration("ms")),
                "dec": pa.array([None, None, None], pa.decimal128(9, 2)),
                "lst": [[1], None, []],
            },
            schema=schema,
        ),
        pa.table(
            {
                "id": pa.array([10], pa.int32()),
                "u": pa.array([None], pa.uint64()),
                "f": pa.array([float("nan")], pa.float32()),
                "s": pa.array([None], pa.large_utf8()),
                "b": [False],
                "ts": pa.array([None], schema.field("ts").type),
                "d": [None],
                "dur": pa.array([None], pa.duration("ms")),
                "dec": pa.array([None], pa.decimal128(9, 2)),
                "lst": [None],
            },
            schema=schema,
        ),
    ]
    for b in batches:
        t.append(b)
        t.flush()
    segs = t.segments()
    system = db.system("segments", filter="table_name = 'stats'")
    # system.segments' own columns (test_api checks them against DESIGN §5) come first.
    base = system.column_names
    assert segs.column_names[: len(base)] == base
    assert segs.select(base).equals(system)
    stat_cols = ["id", "u", "f", "s", "b", "ts", "d", "dur"]  # decimal and list have no statistics
    assert segs.column_names[len(base) :] == [
        f"{c}_{suffix}" for c in stat_cols for suffix in ("min", "max", "null_count")
    ]
    for c in stat_cols:
        assert segs.schema.field(f"{c}_min").type == schema.field(c).type, c
        assert segs.schema.field(f"{c}_max").type == schema.field(c).type, c
        assert segs.schema.field(f"{c}_null_count").type == pa.uint64()
    rows = segs.to_pylist()
    assert [r["path"] for r in rows] == ["data/segment_001.parquet", "data/segment_002.parquet"]
    for row, batch in zip(rows, batches):
        for c in stat_cols:
            lo, hi, nulls = _expected_stats(batch, c)
            if c == "f" and any(v is not None and math.isnan(v) for v in batch.column(c).to_pylist()):
                lo, hi = None, None  # NaN: no min/max recorded
            assert (row[f"{c}_min"], row[f"{c}_max"], row[f"{c}_null_count"]) == (lo, hi, nulls), (c, row["path"])

    # After compaction the output carries the merged statistics; the inputs keep theirs.
    t.compact()
    rows = t.segments().to_pylist()
    assert len(rows) == 3 and rows[2]["tombstone"] is False
    assert (rows[2]["id_min"], rows[2]["id_max"], rows[2]["u_max"]) == (1, 10, 2**64 - 1)
    assert (rows[2]["s_min"], rows[2]["s_max"], rows[2]["s_null_count"]) == ("apple", "pear", 2)
    assert rows[0]["u_max"] == 2**64 - 1 and rows[0]["tombstone"] is True
    t.vacuum(0)
    assert [r["id_min"] for r in t.segments().to_pylist()] == [1]


def test_statistics_that_do_not_convert_are_json_text():
    assert stats_array([1, None, 3], pa.int8()).type == pa.int8()
    assert stats_array([1, 300], pa.int8()).to_pylist() == ["1", "300"]
    assert stats_array([1.5, 2], pa.float64()).to_pylist() == [1.5, 2.0]
    assert stats_array([0.1], pa.float32()).to_pylist() == ["0.1"]  # not a float32 value
    assert stats_array([True, 1], pa.int64()).to_pylist() == ["true", "1"]
    assert stats_array(["a", None], pa.utf8()).type == pa.utf8()
    assert stats_array([1, "b"], pa.utf8()).to_pylist() == ["1", '"b"']
    assert stats_array([2**31], pa.date32()).to_pylist() == [str(2**31)]
    assert stats_array([19000], pa.date32()).to_pylist() == [datetime.date(2022, 1, 8)]
    assert stats_array(["x"], pa.decimal128(5, 2)).to_pylist() == ['"x"']


def test_auto_compaction(db):
    t = db.create_table("auto", EVENTS_SCHEMA, primary_key="id", options={"auto_compact_segments": 3})
    model: Model = {}
    for n, ids in enumerate(([1, 2, 3], [3, 4], [1, 5])):
        t.append(events_rows(ids, tag=f"t{n}_"))
        for i in ids:
            model[i] = (f"t{n}_{i}", i / 2)
        t.flush()
        live = _live_ids(t)
        assert len(live) == (n + 1 if n < 2 else 1)
    assert t.history().column("operation").to_pylist() == ["create", "flush", "flush", "flush", "compact"]
    assert _state(t) == model
    assert t.vacuum(0) == 3
    assert _state(t) == model
    assert t.segments().column("row_count").to_pylist() == [5]


def test_maintenance_on_a_closed_database(store_path):
    db = kalam.open(store_path)
    t = db.create_table("c", EVENTS_SCHEMA, primary_key="id")
    db.close()
    for call in (t.compact, lambda: t.vacuum(0), lambda: t.vacuum(0, dry_run=True), t.history):
        with pytest.raises(kalam.Closed):
            call()
