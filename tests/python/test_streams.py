"""Stream ownership: PyCapsules, release on every path, no leaks, threads,
Ctrl-C, closing the database under live scans."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import pyarrow as pa
import pytest

import kalam
from conftest import EVENTS_SCHEMA, events_rows, open_scans


@pytest.fixture
def filled(events):
    events.append(events_rows(list(range(0, 3000))))
    events.flush()
    events.append(events_rows(list(range(3000, 4000))))
    return events


def test_capsule_consumed_twice(filled, db):
    cap = filled.scan(filter="id < 10").__arrow_c_stream__()
    first = pa.RecordBatchReader._import_from_c_capsule(cap)
    with pytest.raises(pa.ArrowInvalid, match="released"):
        pa.RecordBatchReader._import_from_c_capsule(cap)
    assert first.read_all().column("id").to_pylist() == list(range(10))
    del first, cap
    gc.collect()
    assert open_scans(db) == []


def test_capsule_never_consumed_is_released_by_its_destructor(filled, db):
    cap = filled.scan().__arrow_c_stream__()
    assert len(open_scans(db)) == 1
    del cap
    gc.collect()
    assert open_scans(db) == []


def test_each_capsule_is_a_fresh_scan(filled, db):
    s = filled.scan(columns=["id"])
    a = s.__arrow_c_stream__()
    filled.append(events_rows([10_000]))
    b = s.__arrow_c_stream__()
    assert len(open_scans(db)) == 2
    ra = pa.RecordBatchReader._import_from_c_capsule(a).read_all()
    rb = pa.RecordBatchReader._import_from_c_capsule(b).read_all()
    assert ra.num_rows == 4000 and rb.num_rows == 4001  # a's snapshot predates the append
    del a, b
    gc.collect()
    assert open_scans(db) == []


def test_requested_schema_is_honoured(filled):
    s = filled.scan(columns=["id", "v"], limit=3)
    want = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.large_utf8())])
    cap = s.__arrow_c_stream__(want.__arrow_c_schema__())
    out = pa.RecordBatchReader._import_from_c_capsule(cap).read_all()
    assert out.schema == want and out.num_rows == 3
    assert pa.schema(s) == pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.utf8())])


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _one_cycle(t: kalam.Table, i: int) -> None:
    kind = i % 5
    s = t.scan(columns=["id", "v"], filter=f"id >= {i * 10}", batch_rows=512)
    if kind == 0:
        assert s.to_table().num_rows == 4000 - i * 10
    elif kind == 1:
        r = s.to_reader()
        r.read_next_batch()
        r.close()  # released half-way
    elif kind == 2:
        cap = s.__arrow_c_stream__()
        del cap  # never consumed
    elif kind == 3:
        for _ in s:  # abandoned iteration
            break
    else:
        assert s.count_rows() == 4000 - i * 10


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc/self/status (Linux only)")
def test_no_leaks_over_200_scan_cycles(filled, db):
    for i in range(50):  # warm up allocators and caches
        _one_cycle(filled, i)
    gc.collect()
    assert open_scans(db) == []
    before = _rss_bytes()
    for i in range(200):
        _one_cycle(filled, i % 300)
    gc.collect()
    assert open_scans(db) == []
    grown = _rss_bytes() - before
    assert grown < 48 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 200 scans"


def test_many_threads_scanning_at_once(filled, db):
    expected = {k: filled.scan(filter=f"id >= {k * 500}").to_table() for k in range(8)}
    errors = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for j in range(10):
                s = filled.scan(filter=f"id >= {k * 500}", batch_rows=256)
                got = s.to_table() if j % 2 else pa.Table.from_batches(list(s.to_reader()), schema=EVENTS_SCHEMA)
                assert got.equals(expected[k]), k
        except BaseException as e:  # reported on the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert open_scans(db) == []


@pytest.mark.parametrize(
    "consume",
    [
        lambda s: s.to_table(),  # the whole read on one helper thread
        lambda s: s.to_batches(),
        lambda s: s.count_rows(),
        lambda s: list(s),  # one hand-off per batch
    ],
    ids=["to_table", "to_batches", "count_rows", "iterate"],
)
def test_ctrl_c_cancels_a_blocked_scan(store_path, consume):
    with kalam.open(store_path, max_concurrent_scans=1) as db:
        t = db.create_table("t", {"id": pa.int64()})
        t.append({"id": list(range(1000))})
        holder = t.scan(batch_rows=10, sql="holder").to_reader()
        holder.read_next_batch()  # takes the only slot: the next scan waits in get_next
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                consume(t.scan(sql="interrupted"))
        finally:
            timer.cancel()
        assert time.monotonic() - start < 5
        assert [r["sql"] for r in open_scans(db)] == ["holder"]  # the interrupted scan was released
        holder.close()
        assert open_scans(db) == []
        assert t.scan().count_rows() == 1000


def test_closing_the_database_under_live_scans(store_path):
    db = kalam.open(store_path)
    t = db.create_table("t", {"id": pa.int64()})
    t.append({"id": list(range(100))})
    it = iter(t.scan(batch_rows=10))
    assert next(it).num_rows == 10
    reader = t.scan(batch_rows=10).to_reader()
    reader.read_next_batch()
    cap = t.scan().__arrow_c_stream__()
    scan = t.scan()
    db.close()
    with pytest.raises(kalam.Closed, match="closed"):
        next(it)
    with pytest.raises(pa.ArrowInvalid, match="closed"):
        reader.read_next_batch()
    with pytest.raises(kalam.Closed):
        scan.to_table()
    with pytest.raises(kalam.Closed):
        scan.explain()
    with pytest.raises(kalam.Closed):
        t.schema
    del it, reader, cap
    gc.collect()
    # Every stream is released, so the store can be opened again.
    with kalam.open(store_path) as again:
        assert again.table("t").scan().count_rows() == 100


def test_a_collected_database_does_not_fail_its_streams(store_path):
    """``kalam.open(p).table(t).scan()`` iterated, or turned into a reader,
    with no other reference to the Database: the Database is collected while
    the stream is in use, and it used to close its handle then, failing the
    stream with Closed. Iterators keep their Database alive; a collected
    Database detaches its handle (kalam_detach), so that a reader or a
    stream moved out through ``__arrow_c_stream__`` reads on, and the store
    closes once the last of them is gone (then another process can open it
    for writing)."""
    import subprocess
    import sys

    with kalam.open(store_path) as db:
        t = db.create_table("t", {"id": pa.int64()})
        t.append({"id": list(range(100))})
        t.flush()
    got = 0
    for batch in kalam.open(store_path).table("t").scan(batch_rows=10):
        gc.collect()
        got += batch.num_rows
    assert got == 100
    reader = kalam.open(store_path).table("t").scan(batch_rows=10).to_reader()
    gc.collect()
    assert reader.read_all().num_rows == 100
    probe = [sys.executable, "-c", "import sys, kalam; kalam.open(sys.argv[1]).close()", store_path]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    # The reader still holds the handle: the store is busy for others.
    busy = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120)
    assert busy.returncode != 0 and "Busy" in busy.stderr, busy.stderr
    del reader
    gc.collect()
    free = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120)
    assert free.returncode == 0, free.stderr
    # The same through the Arrow PyCapsule interface, which DuckDB and
    # Polars use: the stream moves out of every Python object of kalam, and
    # the collected Database failed it ("database handle was closed while
    # the stream was open"); it is detached now, not closed.
    moved = pa.RecordBatchReader.from_stream(kalam.open(store_path).table("t").scan(batch_rows=10))
    gc.collect()
    assert moved.read_all().num_rows == 100
    del moved
    gc.collect()
    free = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120)
    assert free.returncode == 0, free.stderr
