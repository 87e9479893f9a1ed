"""Arrow PyCapsule streams: Table.__arrow_c_stream__ (a full scan) and
Scan.__arrow_c_stream__(requested_schema) — projection pushed into
libkalam, exact columns and order, lossless casts, errors naming the
column — read by DuckDB, pyarrow and Polars."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import kalam
from conftest import open_scans

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int32(), nullable=False),
        pa.field("name", pa.utf8()),
        pa.field("score", pa.float32()),
        pa.field("at", pa.timestamp("ms", tz="UTC")),
        pa.field("n", pa.int16()),
    ]
)


def batch(ids, tag=""):
    return pa.table(
        {
            "id": pa.array(ids, pa.int32()),
            "name": pa.array([None if i % 5 == 0 else f"{tag}n{i}" for i in ids], pa.utf8()),
            "score": pa.array([i / 4 for i in ids], pa.float32()),
            "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i) for i in ids], pa.timestamp("ms", tz="UTC")),
            "n": pa.array([i % 100 for i in ids], pa.int16()),
        },
        schema=SCHEMA,
    )


def make_table(db: kalam.Database) -> kalam.Table:
    """Two overlapping segments (upserts after a flush), tombstones, hot rows."""
    t = db.create_table("caps", SCHEMA, primary_key="id")
    t.append(batch(list(range(0, 300))))
    t.flush()
    t.append(batch(list(range(200, 400)), tag="u"))
    t.delete(list(range(0, 400, 9)))
    t.flush()
    t.append(batch(list(range(390, 420)), tag="h"))
    t.delete([1, 2])
    return t


@pytest.fixture(scope="module")
def caps_db(tmp_path_factory):
    """One store for this module's tests that only read (they check for open
    scans themselves through the ``db`` argument they get)."""
    d = kalam.open(str(tmp_path_factory.mktemp("caps") / "store"))
    make_table(d)
    yield d
    left = open_scans(d)
    d.close()
    assert left == []


@pytest.fixture
def t(caps_db) -> kalam.Table:
    return caps_db.table("caps")


@pytest.fixture
def db(caps_db) -> kalam.Database:  # overrides conftest's: the module's store
    return caps_db


def sql_labels(db):
    return [r["sql"] for r in open_scans(db)]


def test_table_is_a_stream_for_duckdb_pyarrow_and_polars(tmp_path):
    db = kalam.open(str(tmp_path / "own"))
    t = make_table(db)
    full = t.scan().to_table()
    assert pa.table(t).equals(full)
    assert pl.DataFrame(t).equals(pl.DataFrame(full))
    got = duckdb.sql("select count(*), max(id), sum(n), count(name) from t").fetchall()
    ids = full.column("id").to_pylist()
    names = [x for x in full.column("name").to_pylist() if x is not None]
    assert got == [(len(ids), max(ids), sum(full.column("n").to_pylist()), len(names))]
    # A fresh scan per query: a later write is seen.
    t.append(batch([5000]))
    assert duckdb.sql("select max(id) from t").fetchall() == [(5000,)]
    assert open_scans(db) == []
    db.close()


def test_duckdb_sql_over_a_scan(t, db):
    s = t.scan(columns=["id", "name"], filter="id >= 100 AND id < 250")
    want = s.to_table()
    rows = duckdb.sql("select id, name from s order by id").fetchall()
    assert rows == list(zip(want.column("id").to_pylist(), want.column("name").to_pylist()))
    assert all(100 <= i < 250 for i, _ in rows) and any(n is not None and n.startswith("u") for _, n in rows)
    assert open_scans(db) == []


def test_requested_schema_selects_and_orders_columns(t, db):
    s = t.scan(filter="id < 50")
    want = pa.schema([pa.field("n", pa.int16()), pa.field("id", pa.int32(), nullable=False)])
    reader = pa.RecordBatchReader.from_stream(s, schema=want)
    assert reader.schema == want
    # The projection reached libkalam: the open scan's generated SQL names
    # exactly the requested columns, in order.
    (label,) = sql_labels(db)
    assert label.startswith("SELECT n, id FROM default.caps")
    got = reader.read_all()
    reader.close()  # a pyarrow reader keeps its stream until closed or freed
    assert got.equals(s.to_table().select(["n", "id"]))
    assert open_scans(db) == []


def test_requested_schema_with_lossless_casts(t):
    s = t.scan()
    want = pa.schema(
        [
            pa.field("name", pa.large_utf8()),
            pa.field("id", pa.int64()),
            pa.field("score", pa.float64()),
            pa.field("at", pa.timestamp("us", tz="UTC")),
            pa.field("n", pa.float32()),  # int16 fits a float32 mantissa
        ]
    )
    got = pa.table(s, schema=want)
    assert got.schema == want
    base = s.to_table()
    for f in want:
        assert got.column(f.name).to_pylist() == base.column(f.name).cast(f.type).to_pylist()
    # Also through RecordBatchReader.from_stream, and with string_view.
    sv = pa.RecordBatchReader.from_stream(s, schema=pa.schema([("name", pa.string_view())])).read_all()
    assert sv.schema.field("name").type == pa.string_view()
    assert sv.column("name").to_pylist() == base.column("name").to_pylist()


def test_system_columns_can_be_requested(t):
    got = pa.table(t.scan(filter="id = 10"), schema=pa.schema([("_seq", pa.int64()), ("id", pa.int32())]))
    assert got.column_names == ["_seq", "id"] and got.column("id").to_pylist() == [10]
    assert got.column("_seq")[0].as_py() > 0


@pytest.mark.parametrize(
    "schema, message",
    [
        (pa.schema([("nope", pa.int32())]), "nope"),
        (pa.schema([("ID", pa.int32())]), "'ID'"),
        (pa.schema([("id", pa.int16())]), "'id' of type int32 cannot be cast losslessly to int16"),
        (pa.schema([("score", pa.int64())]), "'score' of type float cannot be cast losslessly to int64"),
        (pa.schema([("at", pa.timestamp("ms"))]), "'at'"),  # dropping the time zone
        (pa.schema([("id", pa.int32()), ("id", pa.int32())]), "'id' is requested twice"),
    ],
)
def test_requested_schema_errors_name_the_column(t, db, schema, message):
    s = t.scan()
    with pytest.raises(kalam.InvalidArgument, match=message.replace("(", r"\(")):
        s.__arrow_c_stream__(schema.__arrow_c_schema__())
    with pytest.raises(kalam.InvalidArgument, match=message.replace("(", r"\(")):
        t.__arrow_c_stream__(schema.__arrow_c_schema__())
    assert open_scans(db) == []


def test_requested_columns_must_be_in_the_scan_projection(t):
    s = t.scan(columns=["id", "name"])
    with pytest.raises(kalam.InvalidArgument, match="'n' is not in the scan's columns"):
        s.__arrow_c_stream__(pa.schema([("n", pa.int16())]).__arrow_c_schema__())
    assert pa.table(s, schema=pa.schema([("name", pa.utf8())])).column_names == ["name"]


def test_non_nullable_request_over_nulls_fails_naming_the_column(t, db):
    s = t.scan(filter="id < 20")  # ids divisible by 5 have a null name
    want = pa.schema([pa.field("name", pa.utf8(), nullable=False)])
    with pytest.raises(pa.ArrowInvalid, match="'name' is requested non-nullable but holds a null"):
        pa.RecordBatchReader.from_stream(s, schema=want).read_all()
    ok = t.scan(filter="id = 11")
    assert pa.RecordBatchReader.from_stream(ok, schema=want).read_all().column("name").to_pylist() == ["n11"]
    assert open_scans(db) == []


def test_polars_reads_scan_and_table_through_the_capsule(t):
    s = t.scan(columns=["id", "score"], filter="id > 380")
    assert pl.DataFrame(s).equals(pl.DataFrame(s.to_table()))
    # pl.from_arrow on a stream object gives a struct Series in Polars 2.1.
    assert pl.from_arrow(s).struct.unnest().equals(pl.DataFrame(s.to_table()))


def test_lossless_cast_rules():
    from kalam._scan import lossless_cast

    assert lossless_cast(pa.int32(), pa.int64()) and not lossless_cast(pa.int64(), pa.int32())
    assert lossless_cast(pa.uint32(), pa.int64()) and not lossless_cast(pa.uint32(), pa.int32())
    assert lossless_cast(pa.int32(), pa.float64()) and not lossless_cast(pa.int64(), pa.float64())
    assert lossless_cast(pa.utf8(), pa.large_utf8()) and lossless_cast(pa.large_binary(), pa.binary_view())
    assert lossless_cast(pa.decimal128(10, 2), pa.decimal128(12, 3)) and not lossless_cast(pa.decimal128(10, 2), pa.decimal128(10, 3))
    assert lossless_cast(pa.date32(), pa.date64()) and not lossless_cast(pa.date64(), pa.date32())
    assert lossless_cast(pa.list_(pa.int8()), pa.large_list(pa.int16()))
    assert not lossless_cast(pa.list_(pa.int8()), pa.list_view(pa.int8()))  # pyarrow cannot cast it
    assert not lossless_cast(pa.utf8(), pa.binary())
    assert lossless_cast(pa.utf8(), pa.dictionary(pa.int32(), pa.utf8()))
