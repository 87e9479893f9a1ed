"""Scans consumed by Polars, DuckDB and DataFusion; pyarrow datasets with
pushdown; register_datafusion."""

from __future__ import annotations

import datafusion
import duckdb
import polars as pl
import pyarrow as pa
import pytest

import kalam
from conftest import events_rows, open_scans


@pytest.fixture
def two_segments(events):
    events.append(events_rows(list(range(0, 100))))
    events.flush()
    events.append(events_rows(list(range(100, 200))))
    events.flush()
    return events


def test_polars_reads_a_scan(two_segments, db):
    s = two_segments.scan(filter="id >= 150")
    df = pl.DataFrame(s)
    assert df.shape == (50, 3) and df["id"].to_list() == list(range(150, 200))
    assert pl.from_arrow(s.to_table()).equals(df)
    assert s.to_polars().equals(df)
    assert open_scans(db) == []


def test_duckdb_reads_a_scan_through_a_replacement_scan(two_segments, db):
    scan = two_segments.scan(columns=["id", "x"], filter="id < 120")
    rows = duckdb.sql("select count(*), sum(x), max(id) from scan").fetchall()
    assert rows == [(120, sum(i / 2 for i in range(120)), 119)]
    two_segments.append(events_rows([5000]))  # a fresh scan per query sees it
    scan2 = two_segments.scan(columns=["id"])
    assert duckdb.sql("select max(id) from scan2").fetchall() == [(5000,)]
    con = duckdb.connect()
    assert con.sql("select count(*) from scan").fetchall() == [(120,)]
    con.close()
    assert open_scans(db) == []


def test_datafusion_from_arrow(two_segments, db):
    ctx = datafusion.SessionContext()
    df = ctx.from_arrow(two_segments.scan(filter="id >= 190"))
    assert df.count() == 10
    out = pa.Table.from_batches(df.collect())
    assert sorted(out.column("id").to_pylist()) == list(range(190, 200))
    assert open_scans(db) == []


def test_pyarrow_dataset_with_duckdb_and_datafusion_pushdown(two_segments):
    ds = two_segments.to_pyarrow_dataset()
    assert ds.schema == two_segments.schema
    assert ds.to_table().sort_by("id").equals(two_segments.scan().to_table())
    assert duckdb.sql("select count(*), min(id) from ds where id > 180").fetchall() == [(19, 181)]
    ctx = datafusion.SessionContext()
    ctx.register_dataset("events_ds", ds)
    assert ctx.sql("select count(*) as n from events_ds where id > 180").to_pydict() == {"n": [19]}
    plan = "\n".join(ctx.sql("explain select v from events_ds where id > 180").to_pydict()["plan"])
    assert "filter_expr" in plan and "180" in plan  # the predicate reaches the pyarrow scan


def test_register_datafusion_reads_through_libkalam(db, two_segments):
    ctx = datafusion.SessionContext()
    names = kalam.register_datafusion(ctx, db)
    assert {"app", "default", "system"} <= set(names)
    tables = ctx.sql("select namespace, table_name, type from system.tables order by table_name").to_pydict()
    assert ("app", "events", "shared") in zip(tables["namespace"], tables["table_name"], tables["type"])
    assert ctx.sql("select count(*) as n from app.events").to_pydict() == {"n": [200]}
    # Hot rows, upserts and deletes are seen by the next query.
    two_segments.append(events_rows([0], tag="upd"))
    two_segments.delete([1, 2])
    two_segments.append(events_rows([1000]))
    got = ctx.sql("select count(*) as n, max(id) as m from app.events").to_pydict()
    assert got == {"n": [199], "m": [1000]}
    assert ctx.sql("select v from app.events where id = 0").to_pydict() == {"v": ["upd0"]}
    # A table created after registration, in a registered namespace.
    db.create_table("later", {"k": pa.int32()}).append({"k": pa.array([7], pa.int32())})
    assert ctx.sql('select k from "default".later').to_pydict() == {"k": [7]}
    segs = ctx.sql("select count(*) as n from system.segments where table_name = 'events'").to_pydict()
    assert segs == {"n": [2]}
    # The registered schemas are read-only views: tables come and go through the Database.
    app = ctx.catalog().schema("app")
    with pytest.raises(kalam.ReadOnly, match="Database.create_table"):
        app.register_table("x", None)
    with pytest.raises(kalam.ReadOnly, match="Database.drop_table"):
        app.deregister_table("events", False)
    assert db.tables().count("app.events") == 1
    assert open_scans(db) == []


def test_register_datafusion_without_the_extension_warns_and_still_reads(db, two_segments, monkeypatch):
    # As when the kalam-datafusion wheel is not installed.
    monkeypatch.setattr(kalam.integrations, "_ffi_provider_class", lambda: None)
    ctx = datafusion.SessionContext()
    with pytest.warns(RuntimeWarning, match="no projection, filter or limit is pushed down"):
        kalam.register_datafusion(ctx, db)
    assert ctx.sql("select count(*) as n from app.events where id >= 150").to_pydict() == {"n": [50]}
    plan = "\n".join(ctx.sql("explain select id from app.events where id >= 150").to_pydict()["plan"])
    assert "KalamScanExec" not in plan
    assert open_scans(db) == []
