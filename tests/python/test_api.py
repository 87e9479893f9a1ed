"""Database, Table and Scan API (DESIGN §7)."""

from __future__ import annotations

import json

import os

import pyarrow as pa
import pytest

import kalam
from conftest import EVENTS_SCHEMA, events_rows, open_scans


def test_open_is_a_context_manager_and_close_is_idempotent(store_path):
    with kalam.open(store_path) as db:
        assert not db.closed
        assert "open" in repr(db)
        assert db.path == store_path
    assert db.closed
    db.close()
    assert "closed" in repr(db)
    assert os.path.isdir(os.path.join(store_path, "rocksdb"))


def test_open_passes_options_and_rejects_unknown_ones(store_path):
    with pytest.raises(kalam.InvalidArgument, match="no_such_option"):
        kalam.open(store_path, no_such_option=True)
    with pytest.raises(kalam.NotFound, match="create_if_missing"):
        kalam.open(os.path.join(store_path, "missing"), create_if_missing=False)


def test_session_id_is_shown_in_live_queries(store_path):
    with kalam.open(store_path, session_id="notebook-42") as db:
        t = db.create_table("t", {"id": pa.int64()})
        t.append({"id": [1, 2]})
        reader = t.scan(sql="held open").to_reader()
        reader.read_next_batch()
        rows = open_scans(db)
        assert [(r["session_id"], r["sql"], r["state"]) for r in rows] == [("notebook-42", "held open", "Running")]
        reader.close()
        assert open_scans(db) == []


def test_namespaces_and_table_listing(db):
    db.create_namespace("app")
    db.create_namespace("Metrics")  # names are lower-cased
    with pytest.raises(kalam.AlreadyExists, match="app"):
        db.create_namespace("app")
    db.create_table("app.b", EVENTS_SCHEMA, primary_key=["id"])
    db.create_table("app.a", EVENTS_SCHEMA)
    db.create_table("metrics.cpu", {"host": pa.utf8(), "v": pa.float64()})
    db.create_table("plain", {"id": pa.int64()})
    assert db.tables() == ["app.a", "app.b", "default.plain", "metrics.cpu"]
    assert [n for n in db.namespaces() if n != "system"] == ["app", "default", "metrics"]
    assert "app.a" in db and "plain" in db and "app.zzz" not in db and 3 not in db


def test_create_table_metadata(db):
    db.create_namespace("app")
    t = db.create_table(
        "app.Events",
        EVENTS_SCHEMA,
        primary_key=["id", "v"],
        options={"row_group_rows": 1000, "flush_rows": 0, "note": "kept as given", "on": True},
    )
    assert (t.name, t.namespace, t.qualified_name) == ("events", "app", "app.events")
    assert t.type == "shared"
    assert t.options == {
        "primary_key": "id,v",
        "row_group_rows": "1000",
        "flush_rows": "0",
        "note": "kept as given",
        "on": "true",
    }
    assert t.primary_key == ["id", "v"]
    assert t.key_columns == ["id", "v"]
    assert t.schema == EVENTS_SCHEMA
    assert t.version == 1
    assert t == db.table("APP.EVENTS")
    with pytest.raises(kalam.AlreadyExists):
        db.create_table("app.events", EVENTS_SCHEMA)
    with pytest.raises(kalam.InvalidArgument, match="conflicts"):
        db.create_table("app.other", EVENTS_SCHEMA, primary_key="id", options={"primary_key": "v"})


def test_schema_inputs(db):
    fields = [pa.field("a", pa.int32()), pa.field("b", pa.utf8())]
    assert db.create_table("s1", pa.schema(fields)).schema == pa.schema(fields)
    assert db.create_table("s2", fields).schema == pa.schema(fields)
    assert db.create_table("s3", {"a": pa.int32(), "b": pa.utf8()}).schema == pa.schema(fields)
    with pytest.raises(TypeError):
        db.create_table("s4", 42)


def test_table_without_primary_key_uses_seq(db):
    t = db.create_table("log", {"msg": pa.utf8()})
    assert t.primary_key == [] and t.key_columns == ["_seq"]
    t.append({"msg": ["a", "b", "a"]})  # no key: every row is its own version
    rows = t.scan(columns=["msg", "_seq"]).to_table()
    assert sorted(rows.column("msg").to_pylist()) == ["a", "a", "b"]
    first = rows.sort_by("_seq").slice(0, 1)
    assert t.delete(first.select(["_seq"])) == 1
    assert sorted(t.scan().to_table().column("msg").to_pylist()) == ["a", "b"]


def test_user_table(db):
    t = db.create_table(
        "inbox",
        [pa.field("user_id", pa.utf8(), nullable=False), ("msg_id", pa.int64()), ("body", pa.utf8())],
        type="user",
        primary_key="msg_id",
    )
    assert t.type == "user"
    assert t.key_columns == ["user_id", "msg_id"]
    t.append({"user_id": ["u1", "u1", "u2"], "msg_id": [1, 2, 1], "body": ["a", "b", "c"]})
    mine = t.scan(filter="user_id = 'u1'").to_table().sort_by("msg_id")
    assert mine.column("body").to_pylist() == ["a", "b"]
    assert t.delete([("u2", 1)]) == 1
    assert t.scan().count_rows() == 2
    with pytest.raises(kalam.InvalidArgument):
        db.create_table("bad_type", {"a": pa.int64()}, type="stream")


def test_table_lookup_missing_is_not_found_and_key_error(db):
    with pytest.raises(kalam.NotFound) as ei:
        db.table("app.nope")
    assert isinstance(ei.value, KeyError)
    assert str(ei.value) == 'table "app.nope" not found'
    with pytest.raises(KeyError):
        db["nope"]


def test_drop_table_removes_it_and_its_files(db, events):
    events.append(events_rows([1, 2]))
    events.flush()
    path = events.storage_path
    assert os.listdir(os.path.join(path, "data"))
    db.drop_table("app.events")
    assert db.tables() == []
    assert not os.path.exists(path)
    with pytest.raises(kalam.NotFound):
        db.table("app.events")
    with pytest.raises(kalam.NotFound):
        db.drop_table("app.events")


def test_flush_versions_manifest_and_segments(db, events):
    assert events.flush() is None  # nothing to flush
    assert events.version == 1
    assert events.append(events_rows(list(range(10)))) == 10
    seg = events.flush()
    assert isinstance(seg, str) and len(seg) == 36
    assert events.version == 2
    man = events.manifest()
    assert man["table_id"] == {"namespace_id": "app", "table_name": "events"}
    assert [s["id"] for s in man["segments"]] == [seg]
    assert man["segments"][0]["path"] == "data/segment_001.parquet"
    assert man["segments"][0]["row_count"] == 10
    assert os.path.isfile(os.path.join(events.storage_path, "data", "segment_001.parquet"))
    segs = events.segments()
    assert segs.column("id").to_pylist() == [seg]
    assert segs.column("row_count").to_pylist() == [10]
    assert segs.column("tombstone").to_pylist() == [False]
    assert bytes(segs.column("min_key")[0].as_py()) == bytes(man["segments"][0]["min_key"])
    events.append(events_rows([10]))
    seg2 = events.flush()
    assert seg2 != seg and events.version == 3
    assert events.segments().column("path").to_pylist() == ["data/segment_001.parquet", "data/segment_002.parquet"]


def test_scan_projection_limit_and_batches(events):
    events.append(events_rows(list(range(100))))
    s = events.scan(columns=["x", "id"], filter="id >= 10", batch_rows=7)
    assert s.schema == pa.schema([pa.field("x", pa.float64()), pa.field("id", pa.int64(), nullable=False)])
    assert pa.schema(s) == s.schema  # __arrow_c_schema__
    batches = s.to_batches()
    assert [b.num_rows for b in batches] == [7] * 12 + [6]
    t = s.to_table()
    assert t.column("id").to_pylist() == list(range(10, 100))
    assert t.column("x").to_pylist() == [i / 2 for i in range(10, 100)]
    assert [b.num_rows for b in s] == [7] * 12 + [6]
    assert s.to_reader().read_all().equals(t)
    assert s.count_rows() == 90
    limited = events.scan(limit=5).to_table()
    assert limited.num_rows == 5 and limited.schema == EVENTS_SCHEMA
    sys_cols = events.scan(columns=["id", "_seq", "_deleted"], limit=3).to_table()
    assert sys_cols.schema.names == ["id", "_seq", "_deleted"]
    assert sys_cols.column("_deleted").to_pylist() == [False] * 3
    seqs = sys_cols.column("_seq").to_pylist()
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with pytest.raises(TypeError):
        events.scan(columns="id")
    with pytest.raises(kalam.InvalidArgument, match="nope"):
        events.scan(columns=["nope"]).to_table()
    assert "filter='id >= 10'" in repr(s)


def test_scan_converters(events):
    events.append(events_rows([3, 1, 2]))
    df = events.scan().to_pandas()
    assert list(df.columns) == ["id", "v", "x"]
    assert df["id"].tolist() == [1, 2, 3]
    pl_df = events.scan(columns=["v"]).to_polars()
    assert pl_df.columns == ["v"] and pl_df["v"].to_list() == ["r1", "r2", "r3"]
    assert events.count_rows() == 3 and events.count_rows(filter="id > 1") == 2


def test_explain_reports_pruning(events):
    events.append(events_rows(list(range(0, 100))))
    s1 = events.flush()
    events.append(events_rows(list(range(100, 200))))
    s2 = events.flush()
    plan = events.scan(filter="id >= 150").explain()
    assert plan["table"] == "app.events"
    assert plan["version"] == 3
    assert plan["hot"] is False
    assert [r["segment_id"] for r in plan["read"]] == [s2]
    assert [(p["segment_id"], p["reason"]) for p in plan["pruned"]] == [(s1, "key_range")]
    assert plan["merge"] == "concat"
    events.append(events_rows([5]))
    assert events.scan().explain()["hot"] is True
    with pytest.raises(TypeError):
        events.scan_segment(s1).explain()


def test_explain_names_the_segment_reader(db):
    """Each segment read says which reader decodes it: the narrow segment
    reader, or pqarrow for the columns it does not take (with why)."""
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("v", pa.utf8()), ("tags", pa.list_(pa.int32()))])
    db.create_namespace("app")
    t = db.create_table("app.readers", schema, primary_key=["id"])
    t.append(pa.table({"id": [1, 2], "v": ["a", "b"], "tags": [[1], [2, 3]]}, schema=schema))
    t.flush()
    (flat,) = t.scan(columns=["id", "v"]).explain()["read"]
    assert flat["reader"] == "narrow" and "pqarrow_columns" not in flat
    (mixed,) = t.scan().explain()["read"]
    assert mixed["reader"] == "mixed" and list(mixed["pqarrow_columns"]) == ["tags"]
    assert "nested" in mixed["pqarrow_columns"]["tags"]
    assert t.scan().to_table().column("tags").to_pylist() == [[1], [2, 3]]


def test_time_travel_reads_a_manifest_version(events):
    events.append(events_rows([1, 2]))
    events.flush()  # version 2
    events.append(events_rows([2, 3], tag="new"))
    events.flush()  # version 3
    old = events.scan(version=2).to_table()
    assert old.column("v").to_pylist() == ["r1", "r2"]
    new = events.scan().to_table()
    assert new.column("v").to_pylist() == ["r1", "new2", "new3"]
    with pytest.raises(kalam.NotFound, match="version 99"):
        events.scan(version=99).to_table()


def test_scan_segment_returns_rows_as_stored(events):
    events.append(events_rows([1, 2]))
    first = events.flush()
    events.append(events_rows([1], tag="upd"))
    events.delete([2])
    second = events.flush()
    seg1 = events.scan_segment(first).to_table()
    assert seg1.schema.names == ["id", "v", "x", "_seq", "_deleted"]
    assert seg1.column("v").to_pylist() == ["r1", "r2"]
    seg2 = events.scan_segment(second, columns=["id", "_deleted"]).to_table()
    assert seg2.to_pydict() == {"id": [1, 2], "_deleted": [False, True]}
    assert events.scan().to_table().to_pydict() == {"id": [1], "v": ["upd1"], "x": [0.5]}
    with pytest.raises(kalam.NotFound, match="nope"):
        events.scan_segment("nope").to_table()
    with pytest.raises(TypeError):
        kalam.Scan(events.db, "app.events", segment_id=first, filter="id = 1")


def test_system_tables(db, events):
    events.append(events_rows([1]))
    events.flush()
    expected = {
        "tables": ["table_name", "namespace", "type", "created_at", "options"],
        "live_queries": ["query_id", "session_id", "sql", "start_time", "duration_ms", "state"],
        "namespaces": ["namespace", "created_at", "table_count"],
        "manifests": [
            "namespace",
            "table_name",
            "version",
            "created_at",
            "updated_at",
            "segment_count",
            "live_segment_count",
            "last_sequence_number",
            "manifest_json",
        ],
        "segments": [
            "namespace",
            "table_name",
            "id",
            "path",
            "min_key",
            "max_key",
            "row_count",
            "size_bytes",
            "created_at",
            "tombstone",
            "min_seq",
            "max_seq",
        ],
    }
    for name, cols in expected.items():
        t = db.system(name)
        assert t.schema.names == cols, name
        assert db.system("system." + name).schema == t.schema
    assert db.system("tables").schema.field("created_at").type == pa.timestamp("ms", tz="UTC")

    tables = db.system("tables", filter="type = 'system'", columns=["table_name"])
    assert sorted(tables.column("table_name").to_pylist()) == sorted(expected)
    man = db.system("manifests", filter="table_name = 'events'").to_pylist()[0]
    assert (man["version"], man["segment_count"], man["live_segment_count"]) == (2, 1, 1)
    assert db.system("namespaces", filter="namespace = 'app'").column("table_count").to_pylist() == [1]
    assert db.scan("system.tables", limit=2).to_table().num_rows == 2
    with pytest.raises(kalam.NotFound):
        db.system("nope")
    with pytest.raises(kalam.InvalidArgument):
        db.scan_system("tables").explain()


def test_system_tables_shows_schema_and_schema_version_on_request(db, events):
    events.add_columns(pa.field("extra", pa.int32()))
    events.rename_column("v", "label")
    rows = db.system("tables", columns=["table_name", "schema_version", "schema"], filter="namespace = 'app'").to_pylist()
    assert len(rows) == 1 and rows[0]["table_name"] == "events"
    assert rows[0]["schema_version"] == events.info["schema_version"] == 3
    cols = json.loads(rows[0]["schema"])
    assert [(c["name"], c["type"], c["key"]) for c in cols] == [
        ("id", "int64", True),
        ("label", "utf8", False),
        ("x", "float64", False),
        ("extra", "int32", False),
    ]
    assert [c["field_id"] for c in cols] == [c["field_id"] for c in events.info["columns"]]
    sys_row = db.system("tables", columns=["schema_version", "schema"], filter="table_name = 'segments'").to_pylist()[0]
    assert sys_row["schema_version"] is None and json.loads(sys_row["schema"])[0]["name"] == "namespace"


def test_read_only_database(store_path):
    with kalam.open(store_path) as db:
        db.create_table("t", {"id": pa.int64()}, primary_key="id").append({"id": [1, 2]})
    with kalam.open(store_path, read_only=True) as ro:
        assert ro.read_only
        t = ro.table("t")
        assert t.scan().count_rows() == 2
        with pytest.raises(kalam.ReadOnly):
            t.append({"id": [3]})
        with pytest.raises(kalam.ReadOnly):
            ro.create_namespace("x")
        with pytest.raises(kalam.ReadOnly):
            t.flush()


def test_open_takes_bytes_and_pathlib_paths(tmp_path):
    """Any os.PathLike or bytes path opens the store (bytes was a TypeError)."""
    p = tmp_path / "store"
    with kalam.open(p) as db:
        db.create_table("t", {"id": pa.int64()}).append({"id": [1]})
    with kalam.open(os.fsencode(p)) as db:
        assert db.path == str(p)
        assert db.table("t").scan().count_rows() == 1


def test_time_travel_before_1970_is_not_found_naming_the_time(events):
    """A datetime at or before the epoch is NotFound naming it (it was
    InvalidArgument about an as_of_time_ms the caller never passed)."""
    import datetime

    events.append(events_rows([1]))
    events.flush()
    for when in (datetime.datetime(1970, 1, 1), datetime.datetime(1969, 7, 20, tzinfo=datetime.timezone.utc)):
        with pytest.raises(kalam.NotFound, match=when.isoformat().replace("+", r"\+")):
            events.scan(version=when).to_table()


def test_scan_columns_from_a_generator(db):
    """A generator of column names is read once: the type check used it up
    and the scan had no columns (a checker's pass, 2026-12-06)."""
    t = db.create_table("gen", pa.schema([pa.field("id", pa.int64(), nullable=False), ("v", pa.int64())]),
                        primary_key="id")
    t.append({"id": [1, 2], "v": [10, 20]})
    got = t.scan(columns=(c for c in ["v", "id"])).to_table()
    assert got.schema.names == ["v", "id"] and got.to_pydict() == {"v": [10, 20], "id": [1, 2]}


def test_scan_schema_follows_the_table(db):
    """A Scan's schema is the table's as it is now, like its data: after a
    column was added or widened it showed the old one (a checker's pass,
    2026-12-06). A scan of a version keeps that version's schema."""
    t = db.create_table("sch", pa.schema([pa.field("id", pa.int64(), nullable=False), ("v", pa.int32())]),
                        primary_key="id")
    t.append({"id": [1], "v": [1]})
    s = t.scan()
    old = t.scan(version=t.refresh().info["version"])
    assert s.schema.names == ["id", "v"] and old.schema.names == ["id", "v"]
    t.add_columns(pa.field("w", pa.string()))
    t.widen_column("v", pa.int64())
    assert s.schema.names == ["id", "v", "w"] and s.schema.field("v").type == pa.int64()
    assert pa.schema(s) == s.schema and s.to_table().schema.names == ["id", "v", "w"]
    assert old.schema.names == ["id", "v"] and old.schema.field("v").type == pa.int32()
    assert db.system("tables").num_rows >= 1 and db.table("system.tables").scan().schema.names[0] == "table_name"
