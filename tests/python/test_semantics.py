"""Upsert and delete semantics, and filters (DESIGN §3, §4.1)."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

import kalam
from conftest import events_rows


def _rows(t: kalam.Table, **kw) -> dict:
    return t.scan(**kw).to_table().to_pydict()


@pytest.mark.parametrize("flush_between", [False, True])
def test_upsert_keeps_the_newest_version(events, flush_between):
    events.append(events_rows([1, 2, 3]))
    if flush_between:
        events.flush()
    assert events.append(events_rows([2, 4], tag="new")) == 2
    assert _rows(events)["v"] == ["r1", "new2", "r3", "new4"]
    events.flush()
    assert _rows(events)["v"] == ["r1", "new2", "r3", "new4"]
    # Several versions of one key in one append: the last wins.
    events.append(pa.table({"id": [7, 7, 7], "v": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]}, schema=events.schema))
    assert _rows(events, filter="id = 7") == {"id": [7], "v": ["c"], "x": [3.0]}


def test_delete_counts_live_keys_and_hides_rows(events):
    events.append(events_rows([1, 2, 3, 4]))
    events.flush()
    assert events.delete([2, 99]) == 1  # 99 never existed
    assert events.delete([2]) == 0  # already deleted
    assert _rows(events)["id"] == [1, 3, 4]
    events.flush()  # the tombstone goes into a segment and keeps masking
    assert _rows(events)["id"] == [1, 3, 4]
    assert events.delete(pa.table({"id": pa.array([3], pa.int64())})) == 1
    assert events.delete(events.scan(filter="id = 4")) == 1  # full rows: keys are picked out
    assert _rows(events)["id"] == [1]
    events.append(events_rows([2], tag="back"))  # a deleted key can come back
    assert _rows(events)["v"] == ["r1", "back2"]


def test_delete_with_composite_key(db):
    t = db.create_table(
        "kv",
        [pa.field("a", pa.utf8(), nullable=False), pa.field("b", pa.int32(), nullable=False), ("v", pa.int64())],
        primary_key=["a", "b"],
    )
    t.append({"a": ["x", "x", "y"], "b": pa.array([1, 2, 1], pa.int32()), "v": [10, 20, 30]})
    assert t.delete([("x", 2), ("y", 5)]) == 1
    assert _rows(t) == {"a": ["x", "y"], "b": [1, 1], "v": [10, 30]}
    with pytest.raises(ValueError, match="key columns are"):
        t.delete([("x",)])
    with pytest.raises(kalam.InvalidArgument):
        t.delete({"a": ["x"]})  # a key column is missing


def test_newer_version_that_fails_a_filter_hides_an_older_one_that_passes(events):
    events.append(events_rows([1, 2]))  # x = 0.5, 1.0
    events.flush()
    events.append(pa.table({"id": [1], "v": ["big"], "x": [50.0]}, schema=events.schema))
    assert _rows(events, filter="x < 10")["id"] == [2]
    events.flush()
    assert _rows(events, filter="x < 10")["id"] == [2]
    assert _rows(events, filter="x >= 10")["v"] == ["big"]


FILTER_CASES = [
    ("id = 3", [3]),
    ("id != 3 AND id < 5", [0, 1, 2, 4]),
    ("id <> 3 AND id <= 2", [0, 1, 2]),
    ("id > 7", [8, 9]),
    ("id >= 8 OR id < 1", [0, 8, 9]),
    ("NOT (id >= 2)", [0, 1]),
    ("id IN (1, 5, 42)", [1, 5]),
    ("id NOT IN (1, 2, 3, 4, 5, 6, 7)", [0, 8, 9]),
    ("id BETWEEN 4 AND 6", [4, 5, 6]),
    ("name IS NULL", [3, 7]),
    ("name IS NOT NULL AND id < 3", [0, 1, 2]),
    ("name = 'it''s'", [4]),
    ("name > 'n5'", [6, 8, 9]),
    ("score >= 2.5", [5, 6, 7, 8, 9]),
    ("score < 1 OR score IS NULL", [0, 1, 2]),
    ("ok = TRUE", [0, 2, 4, 6, 8]),
    ("ok = false AND id < 4", [1, 3]),
    ("ts >= '2024-05-01T05:00:00Z'", [5, 6, 7, 8, 9]),
    ("ts < '2024-05-01T02:00:00+00:00'", [0, 1]),
    ("ts BETWEEN '2024-05-01T03:00:00Z' AND '2024-05-01T04:00:00Z'", [3, 4]),
    ("day = '2024-05-03'", [2]),
    ('"id" = 9', [9]),
    ("ID = 1 and NAME = 'n1'", [1]),
    ("score = NULL", []),
]


@pytest.fixture
def filter_table(db):
    t = db.create_table(
        "f",
        [
            pa.field("id", pa.int64(), nullable=False),
            ("name", pa.utf8()),
            ("score", pa.float64()),
            ("ok", pa.bool_()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("day", pa.date32()),
        ],
        primary_key="id",
    )
    names = [f"n{i}" for i in range(10)]
    names[3] = None
    names[7] = None
    names[4] = "it's"
    scores = [i * 0.5 for i in range(10)]
    scores[2] = None
    base = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    t.append(
        pa.table(
            {
                "id": list(range(10)),
                "name": names,
                "score": scores,
                "ok": [i % 2 == 0 for i in range(10)],
                "ts": [base + datetime.timedelta(hours=i) for i in range(10)],
                "day": [datetime.date(2024, 5, 1 + i) for i in range(10)],
            },
            schema=t.schema,
        )
    )
    return t


@pytest.mark.parametrize("flushed", [False, True], ids=["hot", "segment"])
def test_filters(filter_table, flushed):
    if flushed:
        filter_table.flush()
    for flt, want in FILTER_CASES:
        got = sorted(filter_table.scan(columns=["id"], filter=flt).to_table().column("id").to_pylist())
        assert got == want, flt


@pytest.mark.parametrize(
    "flt,needle",
    [
        ("nope = 1", "nope"),
        ("id = ", "position"),
        ("id = 'abc'", "id"),
        ("ts > 'yesterday'", "ts"),
        ("(id = 1", "position"),
    ],
)
def test_bad_filters_are_invalid_argument_naming_the_problem(filter_table, flt, needle):
    with pytest.raises(kalam.InvalidArgument, match=needle):
        filter_table.scan(filter=flt).to_table()
    with pytest.raises(kalam.InvalidArgument):
        filter_table.scan(filter=flt).explain()


def test_append_matches_columns_by_name_and_checks_them(events):
    events.append(pa.table({"x": [1.5], "id": [1]}))  # order free, v missing -> null
    assert _rows(events) == {"id": [1], "v": [None], "x": [1.5]}
    with pytest.raises(kalam.InvalidArgument, match="extra"):
        events.append(pa.table({"id": [2], "extra": [1]}))
    with pytest.raises(kalam.InvalidArgument, match="id"):
        events.append(pa.table({"v": ["no key"]}))  # non-nullable id missing
    with pytest.raises(kalam.InvalidArgument, match="x"):
        events.append(pa.table({"id": [3], "x": ["not a float"]}))
    assert _rows(events)["id"] == [1]
