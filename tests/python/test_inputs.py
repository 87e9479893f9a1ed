"""What append and delete accept, and that readers are streamed through."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import kalam
from conftest import EVENTS_SCHEMA, events_rows


class StreamOnly:
    """Exposes only the Arrow PyCapsule stream protocol."""

    def __init__(self, table: pa.Table) -> None:
        self._t = table
        self.calls = 0

    def __arrow_c_stream__(self, requested_schema=None):
        self.calls += 1
        return self._t.__arrow_c_stream__(requested_schema)


class ArrayOnly:
    """Exposes only the Arrow PyCapsule array protocol (a struct array)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self._b = batch

    def __arrow_c_array__(self, requested_schema=None):
        return self._b.__arrow_c_array__(requested_schema)


def _ids(t: kalam.Table) -> list:
    return t.scan(columns=["id"]).to_table().column("id").to_pylist()


def test_append_accepts_every_input_kind(events):
    n = 0
    inputs = [
        events_rows([0, 1]),
        events_rows([2]).to_batches()[0],
        events_rows([3, 4]).to_reader(),
        pd.DataFrame({"id": [5, 6], "v": ["p5", "p6"], "x": [2.5, 3.0]}),
        pd.DataFrame({"id": [7], "v": ["p7"], "x": [3.5]}).set_index("id"),  # a named index is a column
        pd.DataFrame({"id": [8, 99], "v": ["p8", "x"], "x": [4.0, 0.0]}).iloc[:1],  # an unnamed index is not
        pl.DataFrame({"id": [9], "v": ["pl9"], "x": [4.5]}),
        pl.DataFrame({"id": [10], "v": ["lazy"], "x": [5.0]}).lazy(),
        StreamOnly(events_rows([11])),
        ArrayOnly(events_rows([12]).to_batches()[0]),
        {"id": [13], "v": ["dict"], "x": [6.5]},
        [{"id": 14, "v": "row", "x": 7.0}],
    ]
    for data in inputs:
        n += events.append(data)
    assert n == 15
    assert _ids(events) == list(range(15))
    assert events.scan(filter="id = 9").to_table().column("v").to_pylist() == ["pl9"]
    assert events.scan().to_table().schema == EVENTS_SCHEMA


def test_string_views_and_large_strings_are_cast(events):
    events.append(pa.table({"id": [1], "v": pa.array(["large"], pa.large_utf8())}))
    events.append(pa.table({"id": [2], "v": pa.array(["view"], pa.string_view())}))
    events.append(pa.table({"id": [3], "v": pa.array(["dict"]).dictionary_encode()}))
    assert events.scan(columns=["v"]).to_table().column("v").to_pylist() == ["large", "view", "dict"]


def test_a_reader_is_streamed_not_materialised(events):
    produced = []

    def batches():
        for i in range(20):
            produced.append(i)
            yield events_rows(list(range(i * 1000, (i + 1) * 1000))).to_batches()[0]

    reader = pa.RecordBatchReader.from_batches(EVENTS_SCHEMA, batches())
    assert produced == []  # nothing read before the library pulls
    assert events.append(reader) == 20_000
    assert produced == list(range(20))
    assert events.count_rows() == 20_000


def test_a_failing_input_stream_is_reported_with_its_message(events):
    def batches():
        yield events_rows([1]).to_batches()[0]
        raise RuntimeError("generator exploded")

    with pytest.raises(kalam.Error, match="generator exploded"):
        events.append(pa.RecordBatchReader.from_batches(EVENTS_SCHEMA, batches()))


def test_unsupported_inputs_raise_type_error(events):
    with pytest.raises(TypeError, match="cannot read rows"):
        events.append(42)
    with pytest.raises(TypeError):
        events.append("id,v\n1,a")


def test_delete_accepts_the_same_inputs(events):
    events.append(events_rows(list(range(10))))
    assert events.delete(pd.DataFrame({"id": [0]})) == 1
    assert events.delete(pl.DataFrame({"id": [1]})) == 1
    assert events.delete(StreamOnly(pa.table({"id": pa.array([2], pa.int64())}))) == 1
    assert events.delete(pa.record_batch({"id": pa.array([3], pa.int64())})) == 1
    assert events.delete({"id": [4]}) == 1
    assert events.delete((5, 6)) == 2
    assert events.delete(events_rows([7, 8])) == 2  # extra columns are dropped
    assert _ids(events) == [9]


def test_a_raising_input_source_is_invalid_argument_saying_what_stays(db):
    """A reader whose Python source raises mid-stream fails the write as
    InvalidArgument (it was StorageError: a storage failure), saying that the
    batches before it were written; they are."""
    t = db.create_table("r", {"id": pa.int64()}, primary_key="id")
    schema = pa.schema([("id", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1, 2], pa.int64())], schema=schema)
        raise ValueError("the source broke")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(kalam.InvalidArgument, match=r"2 rows were written \(they stay\)"):
        t.append(reader)
    assert t.scan().count_rows() == 2


def test_ctrl_c_in_an_input_source_is_keyboard_interrupt(db):
    """A KeyboardInterrupt raised in a Python source the library reads comes
    back as itself (it was a kalam error, "Unknown error"); a source's
    other exceptions are the cause of the library's error. Rows of the
    batches before stay written."""
    t = db.create_table("c", {"id": pa.int64()}, primary_key="id")
    schema = pa.schema([("id", pa.int64())])

    def source(exc):
        yield pa.record_batch([pa.array([1, 2], pa.int64())], schema=schema)
        raise exc

    with pytest.raises(KeyboardInterrupt):
        t.append(pa.RecordBatchReader.from_batches(schema, source(KeyboardInterrupt())))
    assert t.scan().count_rows() == 2
    with pytest.raises(kalam.InvalidArgument) as info:
        t.append(pa.RecordBatchReader.from_batches(schema, source(LookupError("no such row"))))
    assert isinstance(info.value.__cause__, LookupError)
    t.append({"id": [3]})
    assert t.scan().count_rows() == 3


def test_a_write_the_library_stops_reports_the_library_error(db):
    """A batch the library refuses mid-stream fails the write with the
    library's error naming the column, not with anything of the source's;
    the batches before it stay written."""
    t = db.create_table("s", {"id": pa.int64(), "small": pa.int8()}, primary_key="id")
    schema = pa.schema([("id", pa.int64()), ("small", pa.int64())])

    def source():
        yield pa.record_batch([pa.array([1]), pa.array([5])], schema=schema)
        yield pa.record_batch([pa.array([2]), pa.array([1000])], schema=schema)  # out of int8's range
        yield pa.record_batch([pa.array([3]), pa.array([6])], schema=schema)

    with pytest.raises(kalam.InvalidArgument, match="small") as info:
        t.append(pa.RecordBatchReader.from_batches(schema, source()))
    assert info.value.__cause__ is None
    assert t.scan().to_table().column("id").to_pylist() == [1]


def test_a_polars_frame_with_struct_and_nested_string_columns_makes_a_table(db):
    # Polars hands its strings over as large_utf8/string_view inside structs
    # too; the table's inferred columns are utf8. The append was refused
    # ("cannot cast struct<name: large_utf8> to struct<name: utf8>") and an
    # empty table was left behind.
    df = pl.DataFrame({"id": [1, 2, 3], "st": [{"name": "a", "n": 1}, None, {"name": "ü", "n": None}],
                       "tags": [["x"], [], None]})
    t = db.create_table("polars_struct", df, primary_key=["id"])
    t.flush()
    assert t.scan().to_table().sort_by("id").to_pylist() == [
        {"id": 1, "st": {"name": "a", "n": 1}, "tags": ["x"]},
        {"id": 2, "st": None, "tags": []},
        {"id": 3, "st": {"name": "ü", "n": None}, "tags": None},
    ]


def test_create_table_from_rows_it_cannot_append_leaves_no_table(db):
    # A null key: the inferred key column is not null, so the rows are
    # refused; the table the call made goes with them.
    with pytest.raises(kalam.InvalidArgument, match="id"):
        db.create_table("half_made", pa.table({"id": pa.array([1, None], pa.int64()), "v": [1.0, 2.0]}), primary_key="id")
    assert "default.half_made" not in db.tables()
    t = db.create_table("half_made", pa.table({"id": pa.array([1, 2], pa.int64()), "v": [1.0, 2.0]}), primary_key="id")
    assert t.count_rows() == 2


def test_create_table_whose_cleanup_fails_says_the_table_stays(db, monkeypatch):
    """When the drop after refused rows fails too (a full disk refuses it;
    found by a full-disk pass), the error says the table stays, empty,
    instead of a retry meeting AlreadyExists unexplained."""
    import sys

    def refuse(self, name):
        raise kalam.StorageError("disk full: free some space and retry")

    monkeypatch.setattr(kalam.Database, "drop_table", refuse)
    with pytest.raises(kalam.InvalidArgument) as info:
        db.create_table("stays", pa.table({"id": pa.array([1, None], pa.int64())}), primary_key="id")
    monkeypatch.undo()
    assert "default.stays" in db.tables()
    assert db.table("stays").count_rows() == 0
    if sys.version_info >= (3, 11):
        notes = getattr(info.value, "__notes__", [])
        assert any("'default.stays' was created" in n and "disk full" in n for n in notes), notes


def test_strings_are_not_columns_and_floats_are_not_truncated(db):
    # {"v": "abc"} made three rows of characters, {"id": "int64"} (a schema
    # meant) a five-row table; update() stored 2 for 2.5 in an int column;
    # scan_segment(None) scanned the whole table.
    with pytest.raises(TypeError, match="column 'id'"):
        db.create_table("str_schema", {"id": "int64"})
    assert "default.str_schema" not in db.tables()
    t = db.create_table("no_trunc", pa.schema([pa.field("id", pa.int64(), False), ("n", pa.int32()), ("v", pa.utf8())]),
                        primary_key="id")
    with pytest.raises(TypeError, match="column 'v'"):
        t.write({"id": [1, 2, 3], "v": "abc"})
    t.write({"id": [1], "n": pa.array([1], pa.int32())})
    with pytest.raises(kalam.InvalidArgument, match="not a whole number"):
        t.update({"n": 2.5})
    assert t.update({"n": 2.0}) == 1
    assert t.scan().to_table().column("n").to_pylist() == [2]
    with pytest.raises(TypeError, match="segment_id"):
        t.scan_segment(None)


def test_python_values_take_the_columns_types(db):
    """A dict of Python lists (or row dicts) written to a table took
    pyarrow's inferred types: an embedding written as lists of floats was
    list<double> and refused for a fixed_size_list<float32> column, and
    [0.5] for a float32 column was refused as double. Python values now take
    the table's column types where they are the same kind of value; a bool
    for an int, a float for an int, an int too wide and a list of the wrong
    length are still refused, naming the column."""
    t = db.create_table("py_types", pa.schema([pa.field("id", pa.int64(), False), ("v", pa.list_(pa.float32(), 4)),
                                               ("x", pa.float32()), ("n", pa.int8()), ("b", pa.bool_())]),
                        primary_key="id")
    assert t.append({"id": [1, 2], "v": [[1.0, 2.0, 3.0, 4.0], [0.5, 0.25, 0.125, 2.0]], "x": [0.5, 2], "n": [1, 2],
                     "b": [True, False]}) == 2
    assert t.write([{"id": 3, "v": None, "x": 1.5}, {"id": 4, "v": [1, 2, 3, 4], "n": 5}]) == 2
    got = t.scan().to_table()
    assert got.schema.field("v").type == pa.list_(pa.float32(), 4)
    assert got.to_pylist() == [
        {"id": 1, "v": [1.0, 2.0, 3.0, 4.0], "x": 0.5, "n": 1, "b": True},
        {"id": 2, "v": [0.5, 0.25, 0.125, 2.0], "x": 2.0, "n": 2, "b": False},
        {"id": 3, "v": None, "x": 1.5, "n": None, "b": None},
        {"id": 4, "v": [1.0, 2.0, 3.0, 4.0], "x": None, "n": 5, "b": None},
    ]
    for bad, says in ([{"id": [5], "v": [[1.0, 2.0]]}, 'column "v"'], [{"id": [5], "n": [300]}, "300 does not fit in int8"],
                      [{"id": [5], "n": [True]}, 'column "n"'], [{"id": [5], "b": [1]}, 'column "b"'],
                      [{"id": [5], "n": [2.5]}, 'column "n"']):
        with pytest.raises(kalam.InvalidArgument, match=says):
            t.append(bad)
    assert t.count_rows() == 4


def test_dicts_and_pairs_take_struct_and_map_columns(db):
    """Python dicts for a struct column (keys in any order, a key missing)
    and key-value pairs for a map column take the column's type; they were
    refused ("cannot cast struct<…>") or failed in pyarrow naming no column
    (a checker's pass, 2026-12-06)."""
    st = pa.struct([("a", pa.int64()), ("b", pa.string())])
    t = db.create_table("nested_in", pa.schema([pa.field("id", pa.int64(), False), ("st", st),
                                                ("m", pa.map_(pa.string(), pa.int64()))]), primary_key="id")
    t.append({"id": [1, 2], "st": [{"b": "x", "a": 5}, {"a": 1}], "m": [[("k", 1), ("k2", None)], []]})
    t.append([{"id": 3, "st": {"b": "y"}, "m": [("z", 7)]}])
    got = t.scan().to_table()
    assert got.column("st").to_pylist() == [{"a": 5, "b": "x"}, {"a": 1, "b": None}, {"a": None, "b": "y"}]
    assert got.column("m").to_pylist() == [[("k", 1), ("k2", None)], [], [("z", 7)]]
    with pytest.raises(kalam.InvalidArgument, match='column "st"'):
        t.append({"id": [4], "st": [{"a": "not a number"}]})
