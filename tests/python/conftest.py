"""Shared fixtures of the kalam Python tests. Every store lives under pytest's
tmp_path; the db fixture also checks, at teardown, that the test left no
scan open in the library."""

from __future__ import annotations

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
