"""Shared fixtures of the kalam Python tests. Every store lives under pytest's
tmp_path; the db fixture also checks, at teardown, that the test left no
scan open in the library."""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any, Dict, List

import pyarrow as pa
import pytest

import kalam

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("v", pa.utf8()),
        pa.field("x", pa.float64()),
    ]
)


def open_scans(db: kalam.Database) -> List[Dict[str, Any]]:
    """Rows of system.live_queries other than the scan that reads them."""
    rows = db.system("live_queries").to_pylist()
    return [r for r in rows if "FROM system.live_queries" not in r["sql"]]


def events_rows(ids: List[int], tag: str = "r") -> pa.Table:
    """Rows for EVENTS_SCHEMA: v = f"{tag}{id}", x = id / 2."""
    return pa.table(
        {"id": ids, "v": [f"{tag}{i}" for i in ids], "x": [i / 2 for i in ids]},
        schema=EVENTS_SCHEMA,
    )


@pytest.fixture
def store_path(tmp_path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def db(store_path):
    d = kalam.open(store_path)
    yield d
    if not d.closed:
        gc.collect()
        left = open_scans(d)
        d.close()
        assert left == [], f"scans left open: {left}"


@pytest.fixture
def events(db) -> kalam.Table:
    """app.events (id int64 primary key, v utf8, x float64), empty."""
    db.create_namespace("app")
    return db.create_table("app.events", EVENTS_SCHEMA, primary_key=["id"])


# The table the query-engine tests (DataFusion, DuckDB) compare with
# libkalam's own scans: nulls in every non-key column, and every state a
# scan merges (make_merged_events).
MERGED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("v", pa.utf8()),
        pa.field("x", pa.float64()),
        pa.field("flag", pa.bool_()),
        pa.field("ts", pa.timestamp("ms", tz="UTC")),
        pa.field("d", pa.date32()),
    ]
)
MERGED_T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def merged_rows(ids: List[int], tag: str, schema: pa.Schema = MERGED_SCHEMA) -> pa.Table:
    """Rows of ``schema`` (MERGED_SCHEMA, optionally with a decimal
    ``amount`` column) for ids; v = f"{tag}{id}"."""
    cols: Dict[str, Any] = {
        "id": ids,
        "v": [None if i % 17 == 0 else f"{tag}{i}" for i in ids],
        "x": [None if i % 13 == 0 else i / 2 for i in ids],
        "flag": [None if i % 11 == 0 else i % 2 == 0 for i in ids],
        "ts": [MERGED_T0 + dt.timedelta(seconds=i) for i in ids],
        "d": [dt.date(1970, 1, 1) + dt.timedelta(days=i % 40) for i in ids],
    }
    if "amount" in schema.names:
        cols["amount"] = pa.array([None if i % 7 == 0 else i * 1.25 for i in ids]).cast(schema.field("amount").type)
    return pa.table(cols, schema=schema)


def make_merged_events(db: kalam.Database, schema: pa.Schema = MERGED_SCHEMA) -> kalam.Table:
    """app.events in every state a scan merges: a cold segment (0..300),
    an overlapping one (upserts of 200..400 after the first flush), a
    segment of tombstones (deletes of 40 and 220), hot upserts (0..30) and
    hot tombstones (5, 250, 399)."""
    db.create_namespace("app")
    t = db.create_table("app.events", schema, primary_key=["id"])
    t.append(merged_rows(list(range(0, 300)), "r", schema))
    t.flush()
    t.append(merged_rows(list(range(200, 400)), "u", schema))
    t.flush()
    assert t.delete(pa.table({"id": pa.array([40, 220], pa.int64())})) == 2
    t.flush()
    t.append(merged_rows(list(range(0, 30)), "h", schema))
    assert t.delete(pa.table({"id": pa.array([5, 250, 399], pa.int64())})) == 3
    assert len(t.segments()) == 3
    return t
