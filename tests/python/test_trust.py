"""Python sides of the trust fixes: table metadata from the library
(kalam_table_info) rather than re-derived in Python, integer arguments
checked before ctypes could wrap them, URL roots refused, time travel by
datetime, the same store through a symlink."""

from __future__ import annotations

import datetime
import os
import time

import pyarrow as pa
import pytest

import kalam

from conftest import events_rows


def test_delete_from_user_table_whose_key_repeats_the_user_column(db):
    schema = pa.schema([pa.field("user_id", pa.utf8(), nullable=False), pa.field("n", pa.int64(), nullable=False),
                        ("note", pa.utf8())])
    t = db.create_table("notes", schema, type="user", primary_key=["user_id", "n"])
    assert t.key_columns == ["user_id", "n"]
    t.append(pa.table({"user_id": ["a", "a", "b"], "n": [1, 2, 1], "note": ["x", "y", "z"]}, schema=schema))
    assert t.delete([("a", 2), ("b", 1)]) == 2
    assert t.scan().to_table().to_pydict() == {"user_id": ["a"], "n": [1], "note": ["x"]}


def test_info_is_the_library_snapshot_and_refresh_rereads_it(db, events):
    info = events.info
    assert info["key_columns"] == ["id"] and info["primary_key"] == ["id"]
    assert info["version"] == 1 and info["hot_rows"] == 0 and info["background_error"] is None
    assert [(c["name"], c["field_id"], c["type"], c["key"]) for c in info["columns"]] == [
        ("id", 1, "l", True), ("v", 2, "u", False), ("x", 3, "g", False)]
    events.append(events_rows([1, 2]))
    assert events.hot_rows == 2  # this Table's own write refreshed it
    events.flush()
    assert events.version == 2 and events.hot_rows == 0
    # A change through another Table object is seen after refresh().
    other = db.table("app.events")
    other.append(events_rows([3]))
    assert events.hot_rows == 0
    assert events.refresh().hot_rows == 1
    db.drop_table("app.events")
    with pytest.raises(kalam.NotFound):
        events.refresh()


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 2**64}, {"limit": -1}, {"version": 2**64 + 1}, {"version": 0}, {"batch_rows": 2**63}, {"batch_rows": 0}],
)
def test_integer_arguments_out_of_range_are_refused(events, kwargs):
    events.append(events_rows([1, 2, 3]))
    name = next(iter(kwargs))
    with pytest.raises(kalam.InvalidArgument, match=name):
        events.scan(**kwargs).to_table()


@pytest.mark.parametrize("value", [1.5, "3", True, None.__class__])
def test_integer_arguments_of_the_wrong_type_are_refused(events, value):
    with pytest.raises(TypeError, match="limit"):
        events.scan(limit=value).to_table()


def test_url_root_is_refused_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kalam.InvalidArgument, match="storage"):
        kalam.open("s3://bucket/x")
    assert os.listdir(tmp_path) == []


def test_version_as_datetime(events):
    events.append(events_rows([1]))
    events.flush()
    time.sleep(0.01)
    between = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.01)
    events.append(events_rows([2]))
    events.flush()
    assert events.scan(version=between).to_table().column("id").to_pylist() == [1]
    naive_utc = between.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    assert events.scan(version=naive_utc).to_table().column("id").to_pylist() == [1]
    with pytest.raises(kalam.NotFound, match="created at"):
        events.scan(version=datetime.datetime(2001, 1, 1)).to_table()


def test_same_store_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with kalam.open(str(real)) as a, kalam.open(str(link)) as b:
        ta = a.create_table("t", {"id": pa.int64()}, primary_key=["id"])
        ta.append({"id": [1]})
        b.table("t").append({"id": [2]})
        assert sorted(ta.scan().to_table().column("id").to_pylist()) == [1, 2]
    with kalam.open(str(link)) as c:
        assert sorted(c.table("t").scan().to_table().column("id").to_pylist()) == [1, 2]


def test_open_reader_survives_a_drop(db):
    """kalam.h: open streams of a dropped table finish reading. The drop
    removed the files at once: a reader made before it failed with 0 rows."""
    t = db.create_table("dropped", pa.schema([pa.field("id", pa.int64(), nullable=False)]), primary_key=["id"])
    for i in range(3):
        t.append({"id": list(range(i * 1000, (i + 1) * 1000))})
        t.flush()
    reader = t.scan(batch_rows=100).to_reader()
    first = reader.read_next_batch()
    db.drop_table("dropped")
    ids = first.column(0).to_pylist() + [v for b in reader for v in b.column(0).to_pylist()]
    assert ids == list(range(3000))


def test_a_null_in_a_nested_not_null_field_is_refused_and_the_table_stays_readable(db):
    # pyarrow builds such arrays without complaint. The write was taken,
    # and the flush wrote a segment no scan could read again.
    t = db.create_table("nested_required", pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("s", pa.struct([pa.field("x", pa.int32(), nullable=False)])),
        pa.field("l", pa.list_(pa.field("item", pa.int32(), nullable=False))),
    ]), primary_key="id")
    s = pa.StructArray.from_arrays([pa.array([1, None], pa.int32())], fields=[pa.field("x", pa.int32(), nullable=False)])
    l_ok = pa.array([[1], [2]], t.schema.field("l").type)
    with pytest.raises(kalam.InvalidArgument, match=r'column "s": row 1: null in x'):
        t.write(pa.table({"id": pa.array([1, 2], pa.int64()), "s": s, "l": l_ok}))
    items = pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), pa.array([1, 2, None], pa.int32()))
    with pytest.raises(kalam.InvalidArgument, match=r'column "l": row 1: null in item'):
        t.write(pa.table({"id": pa.array([1, 2], pa.int64()), "l": items.cast(t.schema.field("l").type)}))
    assert t.count_rows() == 0
    # Nulls above the not-null fields are fine, hot and flushed.
    sch = t.schema
    t.write(pa.table({"id": pa.array([1, 2], pa.int64()), "s": pa.array([{"x": 5}, None], sch.field("s").type),
                      "l": pa.array([None, [3, 4]], sch.field("l").type)}))
    t.flush()
    assert t.scan().to_table().sort_by("id").to_pylist() == [
        {"id": 1, "s": {"x": 5}, "l": None}, {"id": 2, "s": None, "l": [3, 4]}]


def test_an_empty_filter_deletes_or_updates_nothing(db):
    # "" and "   " deleted (or rewrote) every row: only TRUE (or None) says so.
    t = db.create_table("empty_filter", pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": [1, 2, 3]}), primary_key="id")
    for flt in ("", "   "):
        with pytest.raises(kalam.InvalidArgument, match="empty filter"):
            t.delete(filter=flt)
        with pytest.raises(kalam.InvalidArgument, match="empty filter"):
            t.update({"v": 9}, filter=flt)
    assert t.scan().to_table().sort_by("id").column("v").to_pylist() == [1, 2, 3]
    assert t.update({"v": 7}) == 3  # None: every row
    assert t.delete(filter="TRUE") == 3
    assert t.count_rows() == 0


def test_segment_statistics_follow_renames_and_never_go_to_a_new_column(db):
    # segments() looked statistics up by the current name: a renamed
    # column lost them, and a new column taking the old name showed them.
    t = db.create_table("seg_stats", pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": ["a", "b", "c"]}),
                        primary_key="id")
    t.flush()
    t.rename_column("v", "w")
    t.add_columns(pa.field("v", pa.int64()))
    t.write(pa.table({"id": pa.array([4], pa.int64()), "w": ["d"], "v": pa.array([7], pa.int64())}))
    t.flush()
    seg = t.segments().sort_by("path")
    assert seg.column("w_min").to_pylist() == ["a", "d"]
    assert seg.column("w_max").to_pylist() == ["c", "d"]
    assert seg.column("v_min").to_pylist() == [None, 7]
    assert seg.column("v_null_count").to_pylist() == [None, 0]


def test_a_second_store_given_anothers_storage_is_refused(tmp_path):
    """Two stores on one storage overwrote each other's segment_001: the
    second is refused at open, before either has a table; the first's rows
    stay; a recover takes the storage over once the first is gone."""
    shared = str(tmp_path / "shared")
    a = kalam.open(str(tmp_path / "a"), storage=shared)
    with pytest.raises(kalam.Corruption, match="another store"):
        kalam.open(str(tmp_path / "b"), storage=shared)
    (tmp_path / "c").mkdir()
    os.symlink(shared, tmp_path / "c" / "storage")
    with pytest.raises(kalam.Corruption, match="another store"):
        kalam.open(str(tmp_path / "c"))
    with pytest.raises(kalam.Busy, match="open"):
        kalam.open(str(tmp_path / "d"), storage=shared, recover=True)
    t = a.create_table("t", pa.schema([("id", pa.int64())]), primary_key="id")
    t.append(pa.table({"id": [1, 2, 3]}))
    t.flush()
    a.close()
    b = kalam.open(str(tmp_path / "e"), storage=shared, recover=True)
    try:
        assert b.table("t").scan().to_table().column("id").to_pylist() == [1, 2, 3]
    finally:
        b.close()


def _sleep_in_child(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_reopen_while_a_forked_child_lives(tmp_path):
    # A store holds its storage root with a lock its process owns. With a
    # lock that belonged to the open file instead (flock), workers forked
    # after the open (multiprocessing's "fork") kept the closed store's
    # storage held, and its next open was refused as "in use by another
    # store" until they exited.
    import multiprocessing

    root, storage = str(tmp_path / "root"), str(tmp_path / "storage")
    db = kalam.open(root, storage=storage)
    db.create_table("t", pa.schema([("id", pa.int64())]), primary_key="id")
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        pending = pool.map_async(_sleep_in_child, [3.0])
        db.close()
        db = kalam.open(root, storage=storage)
        assert db.tables() == ["default.t"]
        assert pending.get(timeout=60) == [3.0]
    finally:
        pool.close()
        pool.join()
        db.close()
    # And the hold is still a hold: with the storage's record removed by
    # hand, another store's read-write open is refused while this one is
    # open, by the hold alone.
    db = kalam.open(root, storage=storage)
    try:
        os.remove(os.path.join(storage, "_kalam_store.json"))
        with pytest.raises(kalam.Busy, match="in use by another store"):
            kalam.open(str(tmp_path / "other"), storage=storage)
    finally:
        db.close()
