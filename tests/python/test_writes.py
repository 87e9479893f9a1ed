"""Writes the way table users expect (DESIGN §3.1, §3.2, §7): create from
data, exist_ok, write modes, delete and update by filter, value-checked
narrowing, schema evolution, reading older versions with their schema."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import kalam


def rows(t: kalam.Table, **kw) -> dict:
    return t.scan(**kw).to_table().to_pydict()


def test_create_from_pandas_infers_the_schema_and_appends(db):
    df = pd.DataFrame({"id": [1, 2, 3], "kind": pd.Categorical(["a", "b", "a"]), "name": ["x", "y", None],
                       "score": [1.5, 2.5, None]})
    t = db.create_table("ev", df, primary_key=["id"])
    assert t.schema.field("kind").type == pa.string() and t.schema.field("name").type == pa.string()
    assert t.schema.field("id").type == pa.int64() and t.schema.field("score").type == pa.float64()
    assert rows(t) == {"id": [1, 2, 3], "kind": ["a", "b", "a"], "name": ["x", "y", None], "score": [1.5, 2.5, None]}
    with pytest.raises(kalam.AlreadyExists):
        db.create_table("ev", df, primary_key=["id"])
    t2 = db.create_table("ev", pd.DataFrame({"id": [3, 4], "kind": ["c", "d"]}), primary_key=["id"], exist_ok=True)
    assert rows(t2, columns=["id", "kind"]) == {"id": [1, 2, 3, 4], "kind": ["a", "b", "c", "d"]}


def test_create_from_polars_and_arrow_views(db):
    df = pl.DataFrame({"id": [1, 2], "s": ["p", "q"]})
    t = db.create_table("pl", df, primary_key="id")
    assert t.schema.field("s").type == pa.string()
    assert rows(t) == {"id": [1, 2], "s": ["p", "q"]}
    big = pa.table({"id": pa.array([5], pa.int64()), "s": pa.array(["v"], pa.large_string())})
    t3 = db.create_table("lg", big, primary_key="id")
    assert t3.schema.field("s").type == pa.string()


def test_create_namespace_exist_ok(db):
    db.create_namespace("app")
    with pytest.raises(kalam.AlreadyExists):
        db.create_namespace("app")
    db.create_namespace("app", exist_ok=True)


def test_write_modes(db):
    t = db.create_table("m", pa.schema([pa.field("id", pa.int64(), False), ("a", pa.int32()), ("s", pa.string())]),
                        primary_key="id")
    assert t.write(pa.table({"id": [1, 2], "a": pa.array([10, 20], pa.int32()), "s": ["x", "y"]})) == 2
    assert t.write({"id": [2, 3], "a": [21, 30]}, mode="insert") == 1  # int64 input narrowed into int32
    assert t.write({"id": [1, 9], "a": [11, 90]}, mode="update") == 1  # s kept; 9 skipped
    assert t.write({"id": [3, 4], "s": ["z", "w"]}, mode="merge") == 2
    assert rows(t) == {"id": [1, 2, 3, 4], "a": [11, 20, 30, None], "s": ["x", "y", "z", "w"]}
    with pytest.raises(kalam.InvalidArgument, match=r'column "a": row 1: value 5000000000 does not fit in int32'):
        t.write({"id": [7, 8], "a": [1, 5_000_000_000]})
    assert rows(t, filter="id >= 7") == {"id": [], "a": [], "s": []}
    with pytest.raises(kalam.InvalidArgument, match="mode"):
        t.write({"id": [1]}, mode="replace")


def test_schema_mode_merge_adds_columns(db):
    t = db.create_table("sm", {"id": pa.int64()}, primary_key="id")
    with pytest.raises(kalam.InvalidArgument, match='unknown column "tag"'):
        t.write({"id": [1], "tag": ["a"]})
    assert t.write({"id": [1], "tag": ["a"]}, schema_mode="merge") == 1
    assert t.schema.names == ["id", "tag"] and t.info["schema_version"] == 2
    assert rows(t) == {"id": [1], "tag": ["a"]}


def test_delete_and_update_by_filter(db):
    t = db.create_table("f", pa.table({"id": [1, 2, 3, 4], "status": ["new"] * 4, "score": [1.0, 2.0, 3.0, 4.0]}),
                        primary_key="id")
    t.flush()
    t.append({"id": [5], "status": ["new"], "score": [5.0]})
    with pytest.raises(TypeError):
        t.delete()
    with pytest.raises(TypeError):
        t.delete([1], filter="id = 1")
    assert t.delete(filter="score >= 4") == 2
    assert t.update({"status": "done", "score": None}, filter="id <= 2") == 2
    assert rows(t) == {"id": [1, 2, 3], "status": ["done", "done", "new"], "score": [None, None, 3.0]}
    with pytest.raises(kalam.InvalidArgument, match="key column"):
        t.update({"id": 9})
    with pytest.raises(kalam.InvalidArgument, match="nope"):
        t.update({"nope": 1})
    with pytest.raises(kalam.InvalidArgument, match="position"):
        t.delete(filter="id >>> 1")
    assert t.update({"status": "all"}) == 3
    assert t.delete(filter="TRUE") == 3
    assert t.count_rows() == 0


def test_schema_evolution_and_older_versions(db):
    t = db.create_table("e", pa.table({"id": [1, 2], "a": pa.array([1, 2], pa.int32()), "old": ["p", "q"]}),
                        primary_key="id")
    t.flush()
    v_before = t.version
    t.add_columns(pa.field("note", pa.string()))
    t.drop_columns("old")
    t.rename_column("a", "amount")
    t.rename_column("id", "key")
    t.widen_column("amount", pa.int64())
    t.add_columns([pa.field("old", pa.int64())])  # a new column with an old name shows none of the old values
    assert t.schema == pa.schema([pa.field("key", pa.int64(), False), ("amount", pa.int64()), ("note", pa.string()),
                                  ("old", pa.int64())])
    assert rows(t) == {"key": [1, 2], "amount": [1, 2], "note": [None, None], "old": [None, None]}
    assert rows(t, filter="amount > 1") == {"key": [2], "amount": [2], "note": [None], "old": [None]}
    # Statistics keep pruning across the rename.
    plan = t.scan(filter="amount > 100").explain()
    assert [p["reason"] for p in plan["pruned"]] == ["column_stats"]
    old = t.scan(version=v_before).to_table()
    assert old.schema.names == ["id", "a", "old"] and old.column("old").to_pylist() == ["p", "q"]
    ops = t.history().column("operation").to_pylist()
    assert ops.count("alter") == 6 and t.info["schema_version"] == 7
    with pytest.raises(kalam.InvalidArgument, match="key column"):
        t.drop_columns("key")
    with pytest.raises(kalam.InvalidArgument, match="cannot widen"):
        t.widen_column("amount", pa.int32())
    with pytest.raises(kalam.AlreadyExists):
        t.add_columns(pa.field("note", pa.string()))
    t.compact()
    assert rows(t, columns=["key", "amount"]) == {"key": [1, 2], "amount": [1, 2]}


def test_an_all_null_input_column_fills_nulls(db):
    t = db.create_table("nn", {"id": pa.int64(), "v": pa.string()}, primary_key="id")
    assert t.append(pa.table({"id": [1], "v": [None]})) == 1  # v is pa.null() as inferred
    assert rows(t) == {"id": [1], "v": [None]}


def test_python_values_take_the_current_column_types(db):
    """A write of Python values converts them to the column types the table
    has now, not to a schema this Table object cached before another one
    widened a column: 0.1 was stored through float32 (0.10000000149011612)
    and 2**40 refused as too large for int32 (a checker's pass,
    2026-12-06)."""
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("f", pa.float32()), ("n", pa.int32())])
    t = db.create_table("wid", schema, primary_key="id")
    assert t.schema.field("f").type == pa.float32()  # cached by this object
    other = db.table("wid")
    other.widen_column("f", pa.float64())
    other.widen_column("n", pa.int64())
    t.write({"id": [1], "f": [0.1], "n": [1]})
    t.append([{"id": 2, "f": 0.1, "n": 2}])
    assert t.update({"n": 2**40}, filter="id = 1") == 1
    got = t.scan(columns=["id", "f", "n"]).to_table().to_pydict()
    assert got == {"id": [1, 2], "f": [0.1, 0.1], "n": [2**40, 2]}
    assert t.delete([2]) == 1
    assert t.scan(columns=["id"]).to_table().to_pydict() == {"id": [1]}


def test_a_value_too_large_in_a_list_names_its_row(db):
    """A list or map value that does not fit names the row of its list, not
    its position among all the lists' values (row 3 and row 2 were named
    for rows 1 and 2; a checker's pass, 2026-12-06)."""
    t = db.create_table("lists", pa.schema([pa.field("id", pa.int64(), False), ("l", pa.list_(pa.int8())),
                                            ("m", pa.map_(pa.string(), pa.int8()))]), primary_key="id")
    lists = pa.array([[1, 2, 3], [4, 300]], pa.list_(pa.int64()))
    with pytest.raises(kalam.InvalidArgument, match=r'column "l": row 1: value 300 does not fit'):
        t.append(pa.table({"id": [0, 1], "l": lists}))
    maps = pa.array([[("a", 1), ("b", 2)], [], [("d", 500)]], pa.map_(pa.string(), pa.int64()))
    with pytest.raises(kalam.InvalidArgument, match=r'column "m": row 2: value 500 does not fit'):
        t.append(pa.table({"id": [0, 1, 2], "m": maps}))
    assert t.scan().count_rows() == 0


def test_timestamps_and_decimals_append_when_every_value_is_the_same(db):
    """Timestamps of another unit or zone and decimals of another precision
    or scale append when every value is the same there, as REFERENCE says
    pandas and Polars frames do: pandas' nanosecond timestamps and its
    Decimal objects (decimal(3, 2) for 1.25) were refused by a table made
    with microseconds or by Polars (decimal(38, 2)); a checker's pass,
    2026-12-06. A value that would change is refused, naming its row."""
    import datetime as dt
    import decimal

    t = db.create_table("tsdec", pa.schema([pa.field("id", pa.int64(), False), ("at", pa.timestamp("us", tz="UTC")),
                                            ("d", pa.decimal128(38, 2))]), primary_key="id")
    when = dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone.utc)
    t.append(pa.table({"id": [1], "at": pa.array([when], pa.timestamp("ns", tz="UTC"))}))
    t.append(pa.table({"id": [2], "at": pa.array([when], pa.timestamp("s", tz="UTC"))}))
    berlin = pa.array([when], pa.timestamp("ms", tz="UTC")).cast(pa.timestamp("ms", tz="Europe/Berlin"))
    t.append(pa.table({"id": [3], "at": berlin}))
    t.append(pd.DataFrame({"id": [4], "d": [decimal.Decimal("1.25")]}))
    t.append(pa.table({"id": [5], "d": pa.array([decimal.Decimal("-7.500")], pa.decimal128(5, 3))}))
    got = t.scan().to_table().to_pydict()
    assert got["at"][:3] == [when, when, when]
    assert got["d"][3:] == [decimal.Decimal("1.25"), decimal.Decimal("-7.50")]
    with pytest.raises(kalam.InvalidArgument, match=r'column "at": row 1'):
        t.append(pa.table({"id": [6, 7], "at": pa.array([0, 1_000_000_001], pa.timestamp("ns", tz="UTC"))}))
    with pytest.raises(kalam.InvalidArgument, match=r'column "at"'):
        t.append(pa.table({"id": [6], "at": pa.array([when.replace(tzinfo=None)], pa.timestamp("us"))}))
    with pytest.raises(kalam.InvalidArgument, match=r'column "d": row 0'):
        t.append(pa.table({"id": [6], "d": pa.array([decimal.Decimal("1.255")], pa.decimal128(5, 3))}))
    assert t.scan().count_rows() == 5
