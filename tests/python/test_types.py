"""Every Arrow type the store holds comes back with exactly its type and
values, from hot rows and from a Parquet segment."""

from __future__ import annotations

import decimal
import os

import pyarrow as pa
import pytest

import kalam

N = 6
NULL_AT = 2  # every column has a null in this row


def _ints(ty: pa.DataType, scale: int = 1) -> pa.Array:
    vals = [None if i == NULL_AT else (i * scale if i % 2 == 0 else -i * scale) for i in range(N)]
    if pa.types.is_unsigned_integer(ty):
        vals = [None if v is None else abs(v) for v in vals]
    return pa.array(vals, pa.int64()).cast(ty)


def _column(ty: pa.DataType) -> pa.Array:
    if pa.types.is_integer(ty):
        hi = {8: 100, 16: 30000, 32: 2_000_000_000, 64: 9_000_000_000_000_000_000}[ty.bit_width]
        scale = hi // N
        if pa.types.is_unsigned_integer(ty):
            vals = [None if i == NULL_AT else [0, 1, 2, 3, hi, 2 * hi - 1 if ty.bit_width < 64 else 2**64 - 1][i] for i in range(N)]
            return pa.array(vals, ty)
        return _ints(ty, scale)
    if pa.types.is_floating(ty):
        import numpy as np

        vals = [None if i == NULL_AT else [0.0, -1.5, 0, 3.25, float("inf"), -1e30][i] for i in range(N)]
        if ty == pa.float16():
            return pa.array([None if v is None else np.float16(v if abs(v) < 6e4 else 6e4) for v in vals], ty)
        return pa.array(vals, ty)
    if pa.types.is_boolean(ty):
        return pa.array([True, False, None, True, False, True], ty)
    if pa.types.is_string(ty) or pa.types.is_large_string(ty):
        return pa.array(["", "a", None, "héllo ☃", "x" * 300, "it's"], ty)
    if pa.types.is_binary(ty) or pa.types.is_large_binary(ty):
        return pa.array([b"", b"\x00\xff", None, b"abc", bytes(range(256)), b"\x00"], ty)
    if pa.types.is_decimal(ty):
        vals = ["0", "-1.125", None, "123456789.999", "-99999999.001", "0.001"]
        if ty.scale == 0:
            vals = ["0", "-1", None, "12345678901234567890123456789012345678", "-99", "1"]
        elif ty.scale == 2:
            vals = ["0", "-1.12", None, "12345678.99", "-99.01", "0.01"]
        return pa.array([None if v is None else decimal.Decimal(v) for v in vals], ty)
    if pa.types.is_date32(ty):
        return pa.array([None if i == NULL_AT else i * 1000 - 2000 for i in range(N)], pa.int32()).cast(ty)
    if pa.types.is_date64(ty):
        return pa.array([None if i == NULL_AT else (i * 1000 - 2000) * 86_400_000 for i in range(N)], pa.int64()).cast(ty)
    if pa.types.is_time32(ty):
        per_day = 86_400 if ty.unit == "s" else 86_400_000
        return pa.array([None if i == NULL_AT else (per_day - 1) * i // N for i in range(N)], pa.int32()).cast(ty)
    if pa.types.is_time64(ty):
        per_day = 86_400 * (1_000_000 if ty.unit == "us" else 1_000_000_000)
        return pa.array([None if i == NULL_AT else (per_day - 1) * i // N for i in range(N)], pa.int64()).cast(ty)
    if pa.types.is_timestamp(ty) or pa.types.is_duration(ty):
        per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[ty.unit]
        vals = [None if i == NULL_AT else (1_714_000_000 + i * 3_600 - (i % 2) * 2_000_000_000) * per_s + i for i in range(N)]
        return pa.array(vals, pa.int64()).cast(ty)
    if pa.types.is_list(ty) or pa.types.is_large_list(ty):
        inner = _column(ty.value_type).to_pylist()
        return pa.array([None if i == NULL_AT else inner[: i % 4] for i in range(N)], ty)
    if pa.types.is_struct(ty):
        children = [_column(f.type) for f in ty]
        mask = pa.array([i == 4 for i in range(N)])
        return pa.StructArray.from_arrays(children, fields=list(ty), mask=mask)
    raise AssertionError(f"no data for {ty}")


TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.bool_(),
    pa.utf8(),
    pa.large_utf8(),
    pa.binary(),
    pa.large_binary(),
    pa.decimal128(18, 3),
    pa.decimal128(38, 0),
    pa.date32(),
    pa.date64(),
    pa.time32("s"),
    pa.time32("ms"),
    pa.time64("us"),
    pa.time64("ns"),
    *[pa.timestamp(u) for u in ("s", "ms", "us", "ns")],
    *[pa.timestamp(u, tz="UTC") for u in ("s", "ms", "us", "ns")],
    *[pa.timestamp(u, tz="Asia/Kolkata") for u in ("s", "ns")],
    *[pa.duration(u) for u in ("s", "ms", "us", "ns")],
    pa.list_(pa.int32()),
    pa.list_(pa.utf8()),
    pa.list_(pa.timestamp("ms", tz="UTC")),
    pa.struct([("a", pa.int16()), ("b", pa.utf8()), ("c", pa.decimal128(10, 2))]),
    pa.struct([("inner", pa.struct([("t", pa.time64("us"))])), ("l", pa.list_(pa.float64()))]),
    pa.list_(pa.struct([("k", pa.utf8()), ("v", pa.int64())])),
]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """One table holding every type: the input, the hot scan, the segment
    scan and the raw segment scan."""
    import kalam

    cols = {f"c{i}": _column(ty) for i, ty in enumerate(TYPES)}
    cols["id"] = pa.array(range(N), pa.int64())
    expected = pa.table(cols)
    for i, ty in enumerate(TYPES):
        assert expected.schema.field(f"c{i}").type == ty
    with kalam.open(str(tmp_path_factory.mktemp("types") / "store")) as db:
        t = db.create_table("all_types", expected.schema, primary_key=["id"])
        assert t.schema == expected.schema
        assert t.append(expected) == N
        hot = t.scan().to_table()
        hot_sliced = _validated(t.scan(batch_rows=4))
        assert t.flush() is not None
        assert t.scan().explain()["hot"] is False
        seg = t.scan().to_table()
        seg_sliced = _validated(t.scan(batch_rows=4))
        seg_id = t.segments().column("id")[0].as_py()
        raw = t.scan_segment(seg_id, columns=expected.schema.names).to_table()
    return {"expected": expected, "hot": hot, "segment": seg, "segment_file": raw,
            "hot_sliced": hot_sliced, "segment_sliced": seg_sliced}


def _validated(scan) -> pa.Table:
    """The scan's batches, each checked in full as a C consumer relies on
    (child lengths, offsets): batches of 4 of the 6 rows make the second
    one a slice at offset 4, which once reached pyarrow with struct
    children too short for their struct."""
    batches = list(scan.to_reader())
    assert [b.num_rows for b in batches] == [4, N - 4]
    for b in batches:
        b.validate(full=True)
    return pa.Table.from_batches(batches)


def _assert_column(out: pa.Table, expected: pa.Table, name: str) -> None:
    out = out.sort_by("id")
    assert out.schema.names == expected.schema.names
    want, got = expected.column(name).combine_chunks(), out.column(name).combine_chunks()
    assert got.type == want.type, f"{name}: {got.type} != {want.type}"
    assert got.equals(want), f"{name} ({want.type}): {got.to_pylist()} != {want.to_pylist()}"


def _params(phase: str):
    out = []
    for i, ty in enumerate(TYPES):
        out.append(pytest.param(i, phase, id=f"{phase}-{ty}"))
    return out


@pytest.mark.parametrize("index,phase", _params("hot") + _params("segment") + _params("segment_file")
                         + _params("hot_sliced") + _params("segment_sliced"))
def test_type_round_trips_with_exact_type(round_trip, index, phase):
    _assert_column(round_trip[phase], round_trip["expected"], f"c{index}")


def test_ids_and_row_count_round_trip(round_trip):
    for phase in ("hot", "segment", "segment_file", "hot_sliced", "segment_sliced"):
        _assert_column(round_trip[phase], round_trip["expected"], "id")


@pytest.mark.parametrize(
    "key_type,values",
    [
        (pa.int8(), [-128, -1, 0, 127]),
        (pa.uint64(), [0, 1, 2**63, 2**64 - 1]),
        (pa.float64(), [float("-inf"), -0.5, 0.25, 1e300]),
        (pa.utf8(), ["", "a", "a\x00b", "b"]),
        (pa.binary(), [b"", b"\x00", b"\x00\x01", b"\xff"]),
        (pa.bool_(), [False, True]),
        (pa.date32(), [-1000, 0, 1, 20000]),
        (pa.timestamp("us", tz="UTC"), [-(10**15), 0, 10**15, 2 * 10**15]),
        (pa.decimal128(10, 2), [decimal.Decimal("-5.50"), decimal.Decimal("0.00"), decimal.Decimal("7.25")]),
    ],
    ids=lambda v: str(v) if isinstance(v, pa.DataType) else None,
)
def test_key_types_sort_and_upsert(db, key_type, values):
    t = db.create_table("k", [pa.field("k", key_type, nullable=False), ("n", pa.int32())], primary_key="k")
    arr = pa.array(values, key_type)
    t.append(pa.table({"k": arr[::-1], "n": pa.array(range(len(values)), pa.int32())}))
    t.flush()
    t.append(pa.table({"k": arr[:1], "n": pa.array([99], pa.int32())}))  # upsert the smallest key
    out = t.scan().to_table()
    assert out.column("k").combine_chunks().equals(arr)  # merged in key order
    assert out.column("n").to_pylist()[0] == 99


def test_nested_is_not_null_after_flush(db):
    """A nested column's Parquet statistics are a leaf's: empty lists, null
    items and structs of null fields once made `IS NOT NULL` prune row
    groups of rows that are not null (found nothing after a flush, and a
    delete by it deleted nothing)."""
    sch = pa.schema([pa.field("k", pa.int64(), False), ("l", pa.list_(pa.int32())),
                     ("s", pa.struct([("a", pa.int32())]))])
    t = db.create_table("nested_nulls", sch, primary_key="k")
    t.append(pa.table({"k": [1, 2, 3], "l": [[1, None], [], [None, 5]], "s": [{"a": None}] * 3}, schema=sch))
    for phase in ("hot", "flushed"):
        for f in ("l IS NOT NULL", "s IS NOT NULL", "NOT (l IS NULL)"):
            assert t.scan(filter=f).to_table().column("k").to_pylist() == [1, 2, 3], (phase, f)
        assert t.scan(filter="l IS NULL").to_table().num_rows == 0
        t.flush()
    assert t.delete(filter="s IS NOT NULL") == 3
    assert t.scan().to_table().num_rows == 0


def test_list_null_slot_spanning_values_flushes(db):
    """A list whose null slot still spans values (valid Arrow) made every
    flush fail, leaving the rows hot for good."""
    sch = pa.schema([pa.field("k", pa.int64(), False), ("l", pa.list_(pa.int64()))])
    arr = pa.ListArray.from_arrays(pa.array([0, 1, 3, 4], pa.int32()), pa.array([1, 2, 3, 4]),
                                   mask=pa.array([False, True, False]))
    t = db.create_table("spanning", sch, primary_key="k")
    t.append(pa.table({"k": [1, 2, 3], "l": arr}, schema=sch))
    assert t.flush() is not None
    assert t.hot_rows == 0
    assert t.scan().to_table().column("l").to_pylist() == [[1], None, [4]]


def test_an_embedding_column_may_be_null_and_added_to_a_table(db):
    """An optional embedding (a fixed_size_list column that may be null, in
    a struct that may be) is stored and read back exactly, hot, flushed,
    compacted, by pyarrow from the segments and through a dataset; and an
    embedding column can be added to a table with segments (an added column
    must be nullable, and nullable ones were refused)."""
    import duckdb
    import pyarrow.parquet as pq

    fsl = pa.list_(pa.field("item", pa.float32(), nullable=False), 3)
    t = db.create_table("emb_opt", pa.table({"k": pa.array([1, 2], pa.int64()), "x": [1, 2]}), primary_key="k")
    t.flush()
    t.add_columns(pa.schema([pa.field("v", fsl), pa.field("s", pa.struct([pa.field("e", fsl), pa.field("n", pa.int32())]))]))
    sch = t.schema
    # Values hidden under the null slots, as hosts send them.
    v = pa.FixedSizeListArray.from_arrays(pa.array([float(i) for i in range(12)], pa.float32()), type=fsl,
                                          mask=pa.array([False, True, False, True]))
    e = pa.FixedSizeListArray.from_arrays(pa.array([float(-i) for i in range(12)], pa.float32()), type=fsl,
                                          mask=pa.array([False, False, True, False]))
    s = pa.StructArray.from_arrays([e, pa.array([1, 2, 3, 4], pa.int32())], fields=list(sch.field("s").type),
                                   mask=pa.array([False, False, False, True]))
    t.write(pa.table({"k": pa.array([2, 3, 4, 5], pa.int64()), "x": [20, 3, 4, 5], "v": v, "s": s}))
    want = [
        {"k": 1, "x": 1, "v": None, "s": None},
        {"k": 2, "x": 20, "v": [0.0, 1.0, 2.0], "s": {"e": [0.0, -1.0, -2.0], "n": 1}},
        {"k": 3, "x": 3, "v": None, "s": {"e": [-3.0, -4.0, -5.0], "n": 2}},
        {"k": 4, "x": 4, "v": [6.0, 7.0, 8.0], "s": {"e": None, "n": 3}},
        {"k": 5, "x": 5, "v": None, "s": None},
    ]
    assert t.scan().to_table().sort_by("k").to_pylist() == want
    t.flush()
    assert t.scan().to_table().sort_by("k").to_pylist() == want
    t.compact()
    got = t.scan().to_table().sort_by("k")
    assert got.to_pylist() == want and got.schema == sch
    (path,) = [p for p, dead in zip(t.segments().column("path").to_pylist(), t.segments().column("tombstone").to_pylist())
               if not dead]
    from_file = pq.read_table(os.path.join(t.storage_path, path)).select(["k", "x", "v", "s"]).sort_by("k")
    assert from_file.to_pylist() == want
    ds = t.to_pyarrow_dataset()
    assert ds.to_table().sort_by("k").to_pylist() == want
    assert duckdb.sql("select count(*), count(v), count(s) from ds").fetchall() == [(5, 2, 3)]


def test_embedding_input_with_nullable_values_appends_to_a_not_null_value_type(db):
    """pyarrow builds fixed_size_list arrays with nullable values whatever
    the table declares: appending one that holds no null value to a column
    of not-null values is a lossless cast (DESIGN §3) — it was refused —
    and one that holds a null value is refused, naming the column."""
    db.create_namespace("emb")
    item = pa.field("item", pa.float32(), nullable=False)
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.list_(item, 4), nullable=False)])
    t = db.create_table("emb.strict", schema, primary_key=["id"])
    values = pa.array([float(i) for i in range(12)], pa.float32())
    loose = pa.FixedSizeListArray.from_arrays(values, 4)  # item: nullable
    assert loose.type.value_field.nullable
    t.append(pa.table({"id": [1, 2, 3], "v": loose}))
    got = t.scan().to_table()
    assert got.schema == schema
    assert got.column("v").to_pylist() == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]
    with_null = pa.FixedSizeListArray.from_arrays(pa.array([1.0, None, 3.0, 4.0], pa.float32()), 4)
    with pytest.raises(kalam.InvalidArgument, match='"v"'):
        t.append(pa.table({"id": [9], "v": with_null}))
    assert t.scan().to_table().num_rows == 3


def test_map_values_declared_not_null_stay_so(db):
    """A map whose values are declared not null keeps that through the C
    import (arrow-go made every map's values nullable): the column's type
    round-trips, and a map of embeddings — values that must not be null —
    is taken instead of refused as a fixed_size_list that may be null."""
    db.create_namespace("maps")
    ints = pa.map_(pa.string(), pa.field("value", pa.int64(), nullable=False))
    embs = pa.map_(pa.string(), pa.field("value", pa.list_(pa.float32(), 2), nullable=False))
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("m", ints), pa.field("e", embs)])
    t = db.create_table("maps.t", schema, primary_key=["id"])
    assert t.schema.field("m").type.item_field.nullable is False
    assert t.schema.field("e").type.item_field.nullable is False
    vec = pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0, 3.0, 4.0], pa.float32()), 2)
    rows = pa.table(
        {
            "id": [1, 2],
            "m": pa.array([[("a", 1)], [("b", 2), ("c", 3)]], ints),
            "e": pa.MapArray.from_arrays([0, 1, 2], pa.array(["x", "y"]), vec).cast(embs),
        },
        schema=schema,
    )
    t.append(rows)
    t.flush()
    got = t.scan().to_table()
    assert got.schema == schema
    assert got.to_pylist() == rows.to_pylist()


def test_maps_of_types_segments_store_under_another_type(db):
    """A map whose values are duration, date64, timestamp[s] or time32[s]
    (types Parquet holds under another type) flushes and reads back: the
    storage rule walks maps as it walks lists and structs. Every flush of
    such a table failed ("support for DURATION"), its rows stayed hot."""
    db.create_namespace("mt")
    types = [pa.duration("s"), pa.date64(), pa.timestamp("s", tz="UTC"), pa.time32("s")]
    fields = [pa.field("id", pa.int64(), nullable=False)]
    fields += [pa.field(f"m{i}", pa.map_(pa.string(), ty)) for i, ty in enumerate(types)]
    schema = pa.schema(fields)
    t = db.create_table("mt.t", schema, primary_key=["id"])
    cols = {"id": [1, 2, 3]}
    for i, ty in enumerate(types):
        unit = 86400000 if ty == pa.date64() else 1
        cols[f"m{i}"] = pa.array([[("a", 5 * unit), ("b", 7 * unit)], None, [("c", 9 * unit)]], pa.map_(pa.string(), ty))
    rows = pa.table(cols, schema=schema)
    t.append(rows)
    t.flush()
    got = t.scan().to_table()
    assert got.schema == schema
    assert got.equals(rows)
    t.compact()
    assert t.scan().to_table().equals(rows)
