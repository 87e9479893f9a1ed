"""kalam.duckdb: DuckDB reads tables and scans through its source protocol,
which hands libkalam the query's columns and the predicates that translate
exactly into the filter language. Results equal libkalam's own scans on a
table in every state a scan merges (cold, overlapping and tombstone
segments, hot upserts and hot tombstones), and what reached libkalam is
checked (KalamSource.pushed)."""

from __future__ import annotations


import pyarrow as pa
import pytest

import kalam
from conftest import MERGED_SCHEMA, make_merged_events, merged_rows

duckdb = pytest.importorskip("duckdb", reason="the duckdb package is not installed")

SCHEMA = pa.schema([*MERGED_SCHEMA, pa.field("amount", pa.decimal128(10, 2))])


def rows(ids, tag):
    return merged_rows(ids, tag, SCHEMA)


@pytest.fixture
def events(db):
    """app.events in every state a scan merges, with a decimal column."""
    return make_merged_events(db, SCHEMA)


def kalam_rows(t, columns, filter=None):
    return t.scan(columns=columns, filter=filter).to_table().sort_by("id").to_pylist()


# (SQL predicate, the same rows in the filter language, a fragment of what
# libkalam must receive; None: nothing may be pushed).
SELECTIVE = [
    ("id >= 10", "id >= 10", "id >= 10"),
    ("id BETWEEN 100 AND 259", "id >= 100 AND id < 260", "id >= 100"),
    ("v = 'u251'", "v = 'u251'", "v = 'u251'"),
    ("v IN ('h3', 'r150', 'u300', 'u301')", "v IN ('h3', 'r150', 'u300', 'u301')", "v = 'u301'"),
    ("v <> 'h3' AND v <> 'r150'", "v <> 'h3' AND v <> 'r150'", "v <> 'h3'"),
    ("x = 111.5", "x = 111.5", "x = 111.5"),
    ("x > 190.25", "x > 190.25", "x > 190.25"),
    ("flag = true", "flag = TRUE", "flag = TRUE"),
    ("v IS NULL", "v IS NULL", "v IS NULL"),
    ("NOT (id < 50 OR v IS NULL)", "NOT (id < 50 OR v IS NULL)", "id"),
    ("ts >= TIMESTAMPTZ '2024-01-01 00:05:00+00'", "ts >= '2024-01-01T00:05:00Z'", "ts >= "),
    ("d < DATE '1970-01-10'", "d < '1970-01-10'", "d < '1970-01-10'"),
    ("amount > 300.5", "amount > 300.5", "amount > 300.5"),
    ("id = 5", "id = 5", "id = 5"),  # deleted while hot
    ("id IN (40, 220, 221, 222)", "id IN (40, 220, 221, 222)", "id = 221"),  # deleted and flushed
    ("v LIKE 'u3%'", "v >= 'u3' AND v < 'u4'", None),  # LIKE stays with DuckDB
]


@pytest.mark.parametrize("where,kalam_filter,pushed", SELECTIVE)
def test_selective_sql_equals_libkalam_scan(events, where, kalam_filter, pushed):
    con = duckdb.connect()
    src = kalam.duckdb.source(events)
    con.register("events", src)
    got = con.sql(f"SELECT id, v, x, flag FROM events WHERE {where}").to_arrow_table().sort_by("id").to_pylist()
    assert got == kalam_rows(events, ["id", "v", "x", "flag"], kalam_filter)
    assert got or where == "id = 5", "the predicate selects no row: a weak check"
    assert set(src.pushed["columns"]) >= {"id", "v", "x", "flag"}
    assert set(src.pushed["columns"]) <= set(SCHEMA.names)
    if pushed is None:
        assert src.pushed["filter"] is None
    else:
        assert src.pushed["filter"] is not None and pushed in src.pushed["filter"], src.pushed


def test_aggregates_equal_libkalam_scan(events):
    con = duckdb.connect()
    con.register("events", kalam.duckdb.source(events))
    got = con.sql("SELECT flag, count(*) AS n, sum(x) AS s FROM events WHERE id < 350 GROUP BY flag").fetchall()
    want: dict = {}
    for r in events.scan(columns=["flag", "x"], filter="id < 350").to_table().to_pylist():
        n, s = want.get(r["flag"], (0, None))
        want[r["flag"]] = (n + 1, s if r["x"] is None else (s or 0) + r["x"])
    assert sorted(got, key=repr) == sorted(((f, n, s) for f, (n, s) in want.items()), key=repr)
    assert con.sql("SELECT count(*) FROM events").fetchall()[0][0] == events.count_rows() == 395


def test_a_scan_keeps_its_own_filter_version_and_limit(events):
    v = events.version
    events.append(rows([500, 501], "late"))
    con = duckdb.connect()
    src = kalam.duckdb.source(events.scan(filter="id >= 100", version=v))
    con.register("s", src)
    got = con.sql("SELECT id FROM s WHERE id < 110").fetchall()
    assert [r[0] for r in got] == list(range(100, 110))
    assert src.pushed["filter"] == "(id >= 100) AND id < 110"
    assert con.sql("SELECT max(id) FROM s").fetchall()[0][0] == 399  # version v: its segments only (the hot deletion of 399 and rows 500, 501 are not in it)
    # With a limit, a filter is not pushed: filtering after the limit is not filtering before it.
    lim = kalam.duckdb.source(events.scan(filter="id >= 100", limit=5))
    con.register("l", lim)
    assert con.sql("SELECT count(*) FROM l WHERE id >= 102").fetchall()[0][0] == 3
    assert lim.pushed["filter"] == "(id >= 100)"


def test_register_names_every_table(db, events):
    db.create_table("app.other", pa.schema([pa.field("k", pa.int64(), nullable=False)]), primary_key=["k"]).append(
        pa.table({"k": pa.array([7, 8], pa.int64())})
    )
    con = duckdb.connect()
    assert kalam.duckdb.register(con, db) == ["app.events", "app.other"]
    assert con.sql('SELECT sum(k) FROM "app.other"').fetchall()[0][0] == 15
    assert con.sql('SELECT count(*) FROM "app.events" WHERE v IS NOT NULL').fetchall()[0][0] == events.count_rows(
        filter="v IS NOT NULL"
    )


def test_optional_modules_load_by_attribute():
    # kalam.<module> used to load kalam.polars whatever the name.
    assert kalam.duckdb.__name__ == "kalam.duckdb"
    assert kalam.polars.__name__ == "kalam.polars"


def test_streams_come_in_batches_duckdb_can_overlap(db):
    """DuckDB gets 16 Ki-row batches unless the scan sets its own size, and
    the rows are the same either way."""
    db.create_namespace("app")
    t = db.create_table("app.many", pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("x", pa.float64())]),
                        primary_key="id")
    t.append(pa.table({"id": pa.array(range(50_000), pa.int64()), "x": pa.array([i / 2 for i in range(50_000)])}))
    t.flush()
    con = duckdb.connect()
    default = kalam.duckdb.source(t)
    own = kalam.duckdb.source(t.scan(batch_rows=1000))
    con.register("d", default)
    con.register("o", own)
    q = "SELECT count(*), sum(x) FROM {} WHERE id >= 100"
    want = [(49_900, sum(i / 2 for i in range(100, 50_000)))]
    assert con.sql(q.format("d")).fetchall() == want
    assert con.sql(q.format("o")).fetchall() == want
    assert default.pushed["batch_rows"] == 16384
    assert own.pushed["batch_rows"] == 1000
    # What the stream delivers: batches of that size.
    capsule, _ = default.stream(None, [])
    sizes = [b.num_rows for b in pa.RecordBatchReader._import_from_c_capsule(capsule)]
    assert sizes == [16384, 16384, 16384, 50_000 - 3 * 16384]
