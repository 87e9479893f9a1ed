"""Beyond one machine (DESIGN §10): Dask and Ray read a table from storage
alone, in worker processes that load libkalam themselves, and compute
exactly what a local scan of the writer computes at the same version —
row sets, counts, sums and group-bys — on a table with overlapping
segments, delete tombstones, a filter and a projection. The same on the S3
test server (s3proxy), where a reader in another (spawned) process also
reads what the writer put in the bucket.

Dask runs a ``LocalCluster`` of 2 worker processes started with ``spawn``
(no fork of a process that loaded libkalam); Ray a local instance with
2 CPUs. Each is started once for the module (the start-up is most of the
time: see the timings pytest's ``--durations`` prints)."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pytest

import kalam

dd = pytest.importorskip("dask.dataframe", reason="kalam[dask] is not installed (pip install -e 'bindings/python[dask]')")
distributed = pytest.importorskip("distributed", reason="kalam[dask] is not installed")
ray = pytest.importorskip("ray", reason="kalam[ray] is not installed (pip install -e 'bindings/python[ray]')")

import kalam.dask  # noqa: E402
import kalam.ray  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TABLE = "app.ev"
COLUMNS = ["kind", "id", "amount"]
FILTER = "amount > 10 AND kind != 'k3'"
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("kind", pa.utf8()),
        pa.field("amount", pa.float64()),
        pa.field("ts", pa.timestamp("ms", tz="UTC")),
    ]
)
TARGET_ROWS = 300  # rows per split: a few hundred rows give many splits


# ---- the table -------------------------------------------------------------------


def _rows(ids: List[int], gen: int) -> pa.Table:
    # Amounts are multiples of 1/4: every sum is exact in float64 whatever
    # the order of addition, so aggregates compare with ==.
    return pa.table(
        {
            "id": ids,
            "kind": [f"k{(i * 7 + gen) % 5}" for i in ids],
            "amount": [((i * 13 + gen * 5) % 97) / 4 for i in ids],
            "ts": [1_700_000_000_000 + i * 1000 + gen for i in ids],
        },
        schema=SCHEMA,
    )


def build_table(db: kalam.Database) -> Tuple[kalam.Table, int]:
    """app.ev with overlapping segments (each flush rewrites part of the
    previous key range), delete tombstones, small row groups and hot rows
    that no reader sees. Returns the table and an older version."""
    db.create_namespace("app", exist_ok=True)
    t = db.create_table(TABLE, SCHEMA, primary_key=["id"], options={"row_group_rows": "64"})
    old = 0
    for gen in range(7):
        lo = gen * 250
        t.append(_rows(list(range(lo, lo + 500)), gen))  # overlaps the previous flush by half
        if gen % 2 == 1:
            t.delete(list(range(lo + 3, lo + 400, 11)))  # tombstones over older segments
        t.flush()
        if gen == 3:
            old = t.version
    t.append(_rows(list(range(100, 200)), 99))  # hot: the writer's alone
    segs = t.segments()
    assert sum(1 for d in segs.column("tombstone").to_pylist() if not d) == 7
    return t, old


def local(t: kalam.Table, version: Optional[int] = None, columns=COLUMNS, filter=FILTER) -> pa.Table:
    """The writer's own scan at a committed version (no hot rows)."""
    v = version if version is not None else t.version
    return t.scan(columns=columns, filter=filter, version=v).to_table()


def aggregates(df) -> Dict[str, Any]:
    """count, sum and a per-kind group-by of a pandas DataFrame."""
    g = df.groupby("kind")["amount"].agg(["count", "sum"]).sort_index()
    return {"count": int(len(df)), "sum": float(df["amount"].sum()),
            "by_kind": {k: (int(r["count"]), float(r["sum"])) for k, r in g.iterrows()}}


# ---- stores: a local storage root, and the S3 test server --------------------


@pytest.fixture(scope="module")
def local_store(tmp_path_factory) -> Iterator[Dict[str, Any]]:
    root = tmp_path_factory.mktemp("dist") / "store"
    db = kalam.open(str(root))
    t, old = build_table(db)
    yield {"uri": str(root / "storage"), "options": None, "db": db, "t": t, "old": old}
    db.close()


class S3Server:
    """scripts/s3-server.sh with a state directory of its own (the Go test
    binaries use build/s3-server/<package>)."""

    def __init__(self) -> None:
        self.env = dict(os.environ, KALAM_S3_STATE=str(REPO / "build" / "s3-server" / "python-dist"))
        out = subprocess.run(["bash", str(REPO / "scripts" / "s3-server.sh"), "start"], env=self.env,
                             capture_output=True, text=True)
        if out.returncode == 2:
            pytest.skip(f"the S3 test server is not installed (run scripts/s3-bootstrap.sh; make test does): {out.stderr.strip()}")
        if out.returncode != 0:
            raise RuntimeError(f"scripts/s3-server.sh start failed: {out.stderr}")
        vals = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        self.bucket = vals["KALAM_S3_BUCKET"]
        self.options = {
            "endpoint": vals["AWS_ENDPOINT_URL"],
            "region": vals["AWS_REGION"],
            "access_key_id": vals["AWS_ACCESS_KEY_ID"],
            "secret_access_key": vals["AWS_SECRET_ACCESS_KEY"],
            "allow_http": True,
        }

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "scripts" / "s3-server.sh"), "stop"], env=self.env,
                       capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    if os.environ.get("KALAM_S3_TESTS") == "0":
        pytest.skip("KALAM_S3_TESTS=0")
    srv = S3Server()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3_store(s3, tmp_path_factory) -> Iterator[Dict[str, Any]]:
    """The same table written by a writer whose storage is in the bucket
    (RocksDB stays in a local directory)."""
    uri = s3.uri(f"dist-{uuid.uuid4().hex[:12]}")
    root = tmp_path_factory.mktemp("dist-s3") / "store"
    db = kalam.open(str(root), storage=uri, storage_options=s3.options)
    t, old = build_table(db)
    yield {"uri": uri, "options": s3.options, "db": db, "t": t, "old": old}
    db.close()


# ---- clusters ------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker_env() -> Iterator[None]:
    """Workers are new processes: they find the package and the library
    through the environment."""
    saved = dict(os.environ)
    paths = [str(REPO / "bindings" / "python")]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [saved.get("PYTHONPATH")] if p])
    os.environ["KALAM_LIBRARY"] = kalam.library_path()
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def dask_client(worker_env):
    import dask

    t0 = time.perf_counter()
    # spawn: a forked worker would inherit this process's loaded libkalam
    # (Go runtime threads do not survive a fork).
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
        client = distributed.Client(cluster)
    print(f"dask LocalCluster up in {time.perf_counter() - t0:.1f} s")
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def ray_session(worker_env):
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=200 * 1024 * 1024, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # row order is compared too
    ctx.enable_progress_bars = False
    print(f"ray up in {time.perf_counter() - t0:.1f} s")
    yield
    ray.shutdown()


# ---- Dask ------------------------------------------------------------------------


def check_dask(store: Dict[str, Any], client) -> None:
    t = store["t"]
    splits = t.scan(columns=COLUMNS, filter=FILTER).splits(target_rows=TARGET_ROWS)
    df = kalam.dask.read_table(store["uri"], TABLE, columns=COLUMNS, filter=FILTER,
                               storage_options=store["options"], target_rows=TARGET_ROWS)
    assert df.npartitions == len(splits) >= 4
    assert list(df.columns) == COLUMNS
    want = local(t)
    assert want.num_rows > 500
    got = df.compute().reset_index(drop=True)
    assert pa.Table.from_pandas(got, preserve_index=False).cast(want.schema).equals(want)
    # Aggregates computed by the workers (partial per partition, combined).
    wp = want.to_pandas()
    assert int(df.shape[0].compute()) == want.num_rows
    assert float(df["amount"].sum().compute()) == float(wp["amount"].sum())
    g = df.groupby("kind")["amount"].agg(["count", "sum"]).compute()
    assert aggregates(wp)["by_kind"] == {k: (int(r["count"]), float(r["sum"])) for k, r in g.sort_index().iterrows()}
    # An older version: every partition reads it, not the latest.
    old = kalam.dask.read_table(store["uri"], TABLE, columns=["id", "amount"], version=store["old"],
                                storage_options=store["options"], target_rows=TARGET_ROWS)
    wo = local(t, store["old"], columns=["id", "amount"], filter=None)
    assert wo.num_rows != t.scan(columns=["id"], version=t.version).count_rows()
    assert old.compute()["id"].tolist() == wo.column("id").to_pylist()
    # The partitions ran in the worker processes, not here.
    import pandas as pd

    pids = set(df.map_partitions(lambda p: pd.DataFrame({"pid": [os.getpid()]}), meta={"pid": "i8"})
               .compute()["pid"].tolist())
    assert os.getpid() not in pids
    assert pids <= set(client.run(os.getpid).values())


def test_dask_local_storage(local_store, dask_client):
    check_dask(local_store, dask_client)


def test_dask_s3(s3_store, dask_client):
    check_dask(s3_store, dask_client)


# ---- Ray -------------------------------------------------------------------------


def check_ray(store: Dict[str, Any]) -> None:
    t = store["t"]
    splits = t.scan(columns=COLUMNS, filter=FILTER).splits(target_rows=TARGET_ROWS)
    ds = kalam.ray.read_table(store["uri"], TABLE, columns=COLUMNS, filter=FILTER,
                              storage_options=store["options"], target_rows=TARGET_ROWS)
    want = local(t)
    # count() reads: a split's row bound is not its row count.
    assert ds.count() == want.num_rows
    assert sum(s.rows for s in splits) > want.num_rows
    got = pa.concat_tables(ray.get(ref) for ref in ds.to_arrow_refs())
    assert got.cast(want.schema).equals(want)
    wp = want.to_pandas()
    assert float(ds.sum("amount")) == float(wp["amount"].sum())
    from ray.data.aggregate import Count, Sum

    g = ds.groupby("kind").aggregate(Count(), Sum("amount")).to_pandas()
    by_kind = {r["kind"]: (int(r["count()"]), float(r["sum(amount)"])) for _, r in g.iterrows()}
    assert by_kind == aggregates(wp)["by_kind"]
    # One read task per split, each with the schema and a size bound.
    src = kalam.ray.KalamDatasource(store["uri"], TABLE, columns=COLUMNS, filter=FILTER,
                                    storage_options=store["options"], target_rows=TARGET_ROWS)
    tasks = src.get_read_tasks(parallelism=1)
    assert len(tasks) == len(splits) >= 4
    assert all(task.schema.names == COLUMNS and task.metadata.size_bytes > 0 for task in tasks)
    # An older version.
    old = kalam.ray.read_table(store["uri"], TABLE, columns=["id"], version=store["old"],
                               storage_options=store["options"], target_rows=TARGET_ROWS)
    assert [r["id"] for r in old.take_all()] == local(t, store["old"], columns=["id"], filter=None).column("id").to_pylist()
    # The reads ran in Ray's worker processes.
    pids = set(ds.map_batches(lambda b: {"pid": [os.getpid()] * len(b["id"])}).unique("pid"))
    assert pids and os.getpid() not in pids


def test_ray_local_storage(local_store, ray_session):
    check_ray(local_store)


def test_ray_s3(s3_store, ray_session):
    check_ray(s3_store)


# ---- a plain reader in another process -------------------------------------------


def _remote_read(uri: str, options: Optional[Dict[str, Any]], version: int) -> Tuple[int, List[Dict[str, Any]], List[str]]:
    # Runs in a spawned process: a storage-only reader of the bucket.
    with kalam.open(storage=uri, storage_options=options, read_only=True) as r:
        t = r.table(TABLE)
        rows = t.scan(columns=COLUMNS, filter=FILTER, version=version).to_table().to_pylist()
        return t.version, rows, r.tables()


def test_reader_in_another_process_reads_the_bucket(s3_store, worker_env):
    t = s3_store["t"]
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        latest, rows, tables = pool.apply(_remote_read, (s3_store["uri"], s3_store["options"], t.version))
        assert latest == t.version and tables == [TABLE]
        assert rows == local(t).to_pylist()
        _, rows, _ = pool.apply(_remote_read, (s3_store["uri"], s3_store["options"], s3_store["old"]))
        assert rows == local(t, s3_store["old"]).to_pylist()
        # A flush publishes the hot rows; the other process sees the new
        # version without reopening anything of the writer's.
        t.flush()
        latest, rows, _ = pool.apply(_remote_read, (s3_store["uri"], s3_store["options"], t.version))
        assert latest == t.version
        assert rows == local(t).to_pylist()
        assert any(r["id"] in range(100, 200) and r["amount"] == ((r["id"] * 13 + 99 * 5) % 97) / 4 for r in rows)


# ---- datasets on object storage ---------------------------------------------------


def test_dataset_reads_segments_in_the_bucket_as_they_are(s3, tmp_path):
    """to_pyarrow_dataset on an S3-backed store lists segments by their
    s3:// URI, read by pyarrow's own S3 client with the store's options;
    only what needs merging is copied locally."""
    uri = s3.uri(f"ds-{uuid.uuid4().hex[:12]}")
    with kalam.open(str(tmp_path / "store"), storage=uri, storage_options=s3.options) as db:
        db.create_namespace("app", exist_ok=True)
        t = db.create_table("app.ds", SCHEMA, primary_key=["id"], options={"row_group_rows": "64"})
        t.append(_rows(list(range(0, 512)), 0))
        t.flush()
        t.append(_rows(list(range(1000, 1256)), 1))
        t.flush()
        d = t.to_pyarrow_dataset()
        frags = list(d.get_fragments())
        bucket = uri[len("s3://"):].split("/")[0]
        assert len(frags) == 2, [f.path for f in frags]
        assert all(isinstance(f.filesystem, pafs.S3FileSystem) and f.path.startswith(bucket + "/") for f in frags)
        assert d.to_table().sort_by("id").equals(t.scan().to_table())
        # A hot key in the first segment: its row group is merged locally,
        # the other 7 are still read from the bucket.
        t.append(_rows([70], 5))
        d2 = t.to_pyarrow_dataset()
        frags = list(d2.get_fragments())
        remote = [f for f in frags if isinstance(f.filesystem, pafs.S3FileSystem)]
        assert len(remote) == 2
        assert sorted(len(f.row_groups) for f in remote) == [4, 7]  # 256 rows in 4 groups; 8 groups less one
        assert d2.to_table().sort_by("id").equals(t.scan().to_table())
        flt = pc.field("id") == 70
        assert d2.to_table(filter=flt).column("kind").to_pylist() == t.scan(filter="id = 70").to_table().column("kind").to_pylist()
        kalam.release_dataset(d)
        kalam.release_dataset(d2)


def test_dask_keeps_object_columns(tmp_path):
    """Dask's default turned every object column into strings: decimals,
    dates, nullable booleans and structs came back as text (a filter on the
    booleans found nothing) and bytes that are not UTF-8 failed. Partitions
    now equal ``t.scan().to_pandas()``."""
    import datetime
    import decimal

    import pandas as pd

    path = str(tmp_path / "store")
    with kalam.open(path) as db:
        db.create_namespace("app", exist_ok=True)
        t = db.create_table("app.objects", pa.table({
            "id": pa.array([1, 2], pa.int64()),
            "dec": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2)),
            "flag": pa.array([True, None]),
            "d": pa.array([datetime.date(2024, 1, 2), None]),
            "st": pa.array([{"a": 1}, None], pa.struct([("a", pa.int32())])),
            "b": pa.array([b"\xff", b"ok"], pa.binary()),
        }), primary_key=["id"])
        t.flush()
        want = t.scan().to_pandas()
    got = kalam.dask.read_table(path + "/storage", "app.objects").compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert len(got[got.flag == True]) == 1  # noqa: E712
