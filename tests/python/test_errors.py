"""Every libkalam status maps to its exception class and keeps the library's message."""

from __future__ import annotations

import glob
import os
import re
import threading
import time

import pyarrow as pa
import pytest

import kalam
from kalam.errors import STATUS_CLASSES, error_for_status
from conftest import events_rows

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "kalam.h")

EXPECTED = {
    "KALAM_INVALID_ARGUMENT": kalam.InvalidArgument,
    "KALAM_NOT_FOUND": kalam.NotFound,
    "KALAM_ALREADY_EXISTS": kalam.AlreadyExists,
    "KALAM_IO": kalam.StorageError,
    "KALAM_CORRUPTION": kalam.Corruption,
    "KALAM_CANCELLED": kalam.Cancelled,
    "KALAM_CLOSED": kalam.Closed,
    "KALAM_READ_ONLY": kalam.ReadOnly,
    "KALAM_BUSY": kalam.Busy,
    "KALAM_INTERNAL": kalam.InternalError,
}


def test_status_map_matches_the_header():
    with open(HEADER) as f:
        codes = dict(re.findall(r"#define (KALAM_[A-Z_]+) (\d+)", f.read()))
    for name, cls in EXPECTED.items():
        code = int(codes[name])
        assert STATUS_CLASSES[code] is cls, name
        err = error_for_status(code, f"message of {name}")
        assert type(err) is cls and err.code == code and str(err) == f"message of {name}"
        assert isinstance(err, kalam.Error)
    assert set(STATUS_CLASSES) == {int(codes[n]) for n in EXPECTED}
    assert type(error_for_status(1234, "")) is kalam.InternalError


def test_python_base_classes():
    assert issubclass(kalam.NotFound, KeyError)
    assert issubclass(kalam.InvalidArgument, ValueError)
    assert issubclass(kalam.StorageError, OSError)
    assert str(kalam.NotFound('table "x" not found')) == 'table "x" not found'


def test_invalid_argument(events):
    with pytest.raises(kalam.InvalidArgument) as ei:
        events.scan(filter="nope = 1").to_table()
    assert ei.value.code == 1
    assert str(ei.value) == "scan app.events: filter: unknown column `nope`"


def test_not_found(db):
    with pytest.raises(kalam.NotFound) as ei:
        db.table("app.missing")
    assert ei.value.code == 2 and "app.missing" in str(ei.value)


def test_already_exists(db):
    with pytest.raises(kalam.AlreadyExists) as ei:
        db.create_namespace("default")
    assert ei.value.code == 3 and str(ei.value) == 'namespace "default" already exists'


def test_storage_error(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("not a directory")
    with pytest.raises(kalam.StorageError) as ei:
        kalam.open(str(f))
    assert ei.value.code == 4 and isinstance(ei.value, OSError)
    assert str(f) in str(ei.value) and "not a directory" in str(ei.value).lower()


def test_corruption(events):
    events.append(events_rows(list(range(100))))
    events.flush()
    (path,) = glob.glob(os.path.join(events.storage_path, "data", "*.parquet"))
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size - 64)
        fh.write(b"\xff" * 64)  # the footer
    with pytest.raises(kalam.Corruption) as ei:
        events.scan().to_table()
    assert ei.value.code == 5 and "segment_001.parquet" in str(ei.value)


def test_cancelled_when_a_queued_scan_is_released(store_path):
    with kalam.open(store_path, max_concurrent_scans=1) as db:
        t = db.create_table("t", {"id": pa.int64()})
        t.append({"id": list(range(100))})
        holder = t.scan(batch_rows=10)._start()
        assert holder.next().num_rows == 10  # holds the only slot
        waiting = t.scan()._start()
        result = {}

        def read():
            try:
                result["batch"] = waiting.next()
            except kalam.Error as e:
                result["error"] = e

        th = threading.Thread(target=read)
        th.start()
        time.sleep(0.2)
        states = sorted(r["state"] for r in db.system("live_queries").to_pylist())
        assert states == ["Queued", "Running", "Running"]  # the holder, the waiter, this query
        waiting.release()
        th.join(10)
        assert not th.is_alive()
        assert isinstance(result.get("error"), kalam.Cancelled), result
        assert result["error"].code == 6 and "cancel" in str(result["error"])
        holder.release()


def test_closed(store_path):
    db = kalam.open(store_path)
    t = db.create_table("t", {"id": pa.int64()})
    db.close()
    for call in (t.scan().to_table, lambda: t.append({"id": [1]}), lambda: db.table("t"), db.tables):
        with pytest.raises(kalam.Closed) as ei:
            call()
        assert ei.value.code == 7 and store_path in str(ei.value)


def test_read_only(store_path):
    kalam.open(store_path).close()
    with kalam.open(store_path, read_only=True) as ro:
        with pytest.raises(kalam.ReadOnly) as ei:
            ro.create_table("t", {"id": pa.int64()})
        assert ei.value.code == 8 and "read-only" in str(ei.value)


def test_busy(store_path):
    kalam.open(store_path).close()
    with kalam.open(store_path, read_only=True):
        with pytest.raises(kalam.Busy) as ei:
            kalam.open(store_path)
        assert ei.value.code == 9 and store_path in str(ei.value)


def test_stream_errors_carry_status_and_message(events):
    """A failure inside get_next is raised with the library's status (via
    kalam_stream_error), not a bare errno."""
    events.append(events_rows(list(range(50))))
    events.flush()
    (path,) = glob.glob(os.path.join(events.storage_path, "data", "*.parquet"))
    with open(path, "r+b") as fh:
        fh.seek(4)
        fh.write(b"\x00" * 512)  # a data page, not the footer: fails while reading
    with pytest.raises(kalam.Corruption, match="segment_001.parquet"):
        list(events.scan(batch_rows=5))


def test_system_tables_refuse_writes_as_read_only(db):
    """A system table can be scanned; writing, flushing or dropping it is
    ReadOnly saying so (it was NotFound: "table not found")."""
    t = db.table("system.tables")
    assert t.scan().to_table().num_rows >= 5
    for call in (lambda: t.append({"x": [1]}), t.flush, lambda: db.drop_table("system.tables")):
        with pytest.raises(kalam.ReadOnly, match="system table"):
            call()


def test_delete_keys_of_the_wrong_type_name_the_key_column(db):
    """Keys that do not convert to the key column's type are InvalidArgument
    naming the column, as for update (it was pyarrow's ArrowInvalid)."""
    t = db.create_table("k", {"id": pa.int64(), "v": pa.utf8()}, primary_key="id")
    t.append({"id": [1, 2], "v": ["a", "b"]})
    with pytest.raises(kalam.InvalidArgument, match="'id'"):
        t.delete(["abc"])
    assert t.scan().count_rows() == 2


def test_wrong_argument_types_are_type_errors_naming_what_was_expected(db):
    # They were AttributeErrors from inside the package ('NoneType' object
    # has no attribute 'lower', ... 'items', ... 'db').
    import datafusion
    import duckdb

    import kalam.duckdb
    import kalam.polars

    t = db.create_table("argtypes", pa.schema([pa.field("id", pa.int64(), False)]), primary_key="id")
    for call, match in (
        (lambda: db.system(None), "system table name is a str"),
        (lambda: db.create_table("x", pa.schema([("a", pa.int8())]), options=["a"]), "options must be a mapping"),
        (lambda: db.create_table("x", pa.schema([("a", pa.int8())]), primary_key=5), "primary_key must be"),
        (lambda: kalam.polars.scan_table("argtypes"), "scan_table takes a kalam.Table"),
        (lambda: kalam.duckdb.source("argtypes"), "source takes a kalam.Table or kalam.Scan"),
        (lambda: kalam.duckdb.register(duckdb.connect(), None), "register takes a kalam.Database"),
        (lambda: kalam.register_datafusion(datafusion.SessionContext(), None), "takes a kalam.Database"),
    ):
        with pytest.raises(TypeError, match=match):
            call()
    assert "default.x" not in db.tables()
    with pytest.raises(kalam.InvalidArgument, match="at least one column"):
        t.drop_columns([])


def test_more_wrong_arguments_name_what_was_expected(db, tmp_path):
    t = db.create_table("argtypes2", pa.schema([pa.field("id", pa.int64(), False)]), primary_key="id")
    with pytest.raises(TypeError, match="reader_for_schema takes a pyarrow Schema"):
        t.scan().reader_for_schema(["id"])
    with pytest.raises(TypeError, match="storage_options must be a mapping"):
        kalam.open(str(tmp_path / "s"), storage_options="x")
    with pytest.raises(kalam.InvalidArgument, match="not a scan split"):
        kalam.ScanSplit("{}")
    with pytest.raises(TypeError, match="columns must be a list of column names"):
        t.scan(columns=[None])
    with pytest.raises(TypeError, match="filter must be a str"):
        t.scan(filter=b"id > 1")


def test_bad_open_and_add_columns_arguments_are_named(tmp_path, db):
    """A non-bool read_only ("no" opened the store read-only) and
    add_columns given None or a dict are TypeErrors saying what is
    expected (a checker's pass, 2026-12-06)."""
    with pytest.raises(TypeError, match="read_only must be True or False"):
        kalam.open(str(tmp_path / "s"), read_only="no")
    import datetime

    with pytest.raises(TypeError, match="open option node_id="):
        kalam.open(str(tmp_path / "s"), node_id=datetime.datetime(2024, 1, 1))
    t = db.create_table("ac", pa.schema([pa.field("id", pa.int64(), nullable=False)]), primary_key="id")
    for bad in (None, {"x": pa.int64()}, "x", [pa.int64()]):
        with pytest.raises(TypeError, match="add_columns takes a pyarrow Field"):
            t.add_columns(bad)
    t.add_columns([pa.field("x", pa.int64())])
    assert t.refresh().schema.names == ["id", "x"]
