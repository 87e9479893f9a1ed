"""Storage-only readers and scan splits through the bindings (DESIGN §10):
a reader opened on storage/ alone, in another process, sees the writer's
committed versions; splits, pickled and run in other processes, return the
scan row for row."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle

import pyarrow as pa
import pytest

import kalam


def _run_split(args):
    blob, = args
    split = pickle.loads(blob)
    return split.scan().to_table().to_pylist()


def test_open_needs_storage_and_read_only_without_a_path():
    with pytest.raises(kalam.InvalidArgument, match="storage"):
        kalam.open()
    with pytest.raises(kalam.InvalidArgument, match="read_only"):
        kalam.open(storage="/nowhere")


def test_storage_only_reader(db, store_path):
    t = db.create_table("r", pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), primary_key="id")
    t.flush()
    t.append({"id": [4], "v": ["hot"]})
    with kalam.open(storage=os.path.join(store_path, "storage"), read_only=True) as r:
        rt = r.table("r")
        assert rt.scan().to_table().column("id").to_pylist() == [1, 2, 3]  # hot rows stay with the writer
        t.flush()
        assert rt.scan().to_table().column("id").to_pylist() == [1, 2, 3, 4]
        assert r.tables() == ["default.r"]
        with pytest.raises(kalam.ReadOnly):
            rt.append({"id": [9], "v": ["x"]})


def test_splits_in_other_processes_equal_the_scan(db, store_path):
    t = db.create_table("s", {"id": pa.int64(), "v": pa.string()}, primary_key="id")
    for k in range(6):
        ids = list(range(k * 50, k * 50 + 80))  # overlapping key ranges
        t.append({"id": ids, "v": [f"{k}:{i}" for i in ids]})
        t.flush()
    t.delete([10, 200])
    t.flush()
    scan = t.scan(filter="id >= 5", columns=["v", "id"])
    splits = scan.splits(target_rows=100)
    assert len(splits) >= 3
    want = scan.to_table().to_pylist()
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.map(_run_split, [(pickle.dumps(s),) for s in splits])
    got = [row for part in parts for row in part]
    assert got == want
    assert all(len(pickle.dumps(s)) < 256 * 1024 for s in splits)
    with pytest.raises(kalam.InvalidArgument, match="limit"):
        t.scan(limit=5).splits()
