"""Table.to_pyarrow_dataset (DESIGN §11): exact in every state, read by
DuckDB, DataFusion and Polars with the filter pushed into the dataset, kept
readable across compaction and vacuum, cleaned up when collected."""

from __future__ import annotations

import datetime
import gc
import glob
import os

import datafusion
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import kalam
from conftest import events_rows


def _files(dataset):
    return list(dataset.files)


def _is_segment(path):
    """A segment handed out as it is (a link of the dataset's own,
    segment-<id>.parquet), not a merged file (part_*.parquet)."""
    return os.path.basename(path).startswith("segment")


def _merged(dataset):
    # Merged files are part_*.parquet in the dataset's directory; segments
    # handed out as they are sit there too, as links (segment-<id>.parquet).
    return [f for f in dataset.files if "/tmp/datasets/" in f and os.path.basename(f).startswith("part_")]


def _states(events):
    """Yields (name, table) after each step that makes a harder state."""
    events.append(events_rows(list(range(0, 300))))
    events.flush()
    yield "one segment"
    events.append(events_rows(list(range(1000, 1100))))
    events.flush()
    yield "two disjoint segments"
    events.append(events_rows([10, 20, 2000], tag="hot"))
    yield "hot rows inside and outside segments"
    events.flush()
    events.append(events_rows(list(range(250, 350)), tag="ov"))
    events.flush()
    yield "overlapping segments"
    events.delete([0, 1, 2, 260, 1050])
    yield "hot tombstones"
    events.flush()
    yield "tombstones in segments"


QUERIES = [
    ("id >= 240 AND id < 400", "select id, v, x from {t} where id >= 240 and id < 400 order by id"),
    ("v = 'hot10' OR id = 1050", "select id, v, x from {t} where v = 'hot10' or id = 1050 order by id"),
    ("x > 600", "select id, v, x from {t} where x > 600 order by id"),
]


def test_dataset_is_exact_in_every_state_for_duckdb_datafusion_polars(events):
    for state in _states(events):
        d = events.to_pyarrow_dataset()
        assert d.schema == events.schema, state
        whole = events.scan().to_table()
        assert d.to_table().sort_by("id").equals(whole), state
        ctx = datafusion.SessionContext()
        ctx.register_dataset("t", d)
        for filt, sql in QUERIES:
            want = events.scan(filter=filt).to_table().to_pylist()
            got_duck = duckdb.sql(sql.format(t="d")).to_arrow_table().to_pylist()
            got_df = ctx.sql(sql.format(t="t")).to_arrow_table().to_pylist()
            got_pl = (
                pl.scan_pyarrow_dataset(d)
                .filter(pl.sql_expr(filt.replace("<>", "!=")))
                .sort("id")
                .collect()
                .to_arrow()
                .to_pylist()
            )
            assert got_duck == want, (state, filt)
            assert got_df == want, (state, filt)
            assert got_pl == want, (state, filt)
        del d, ctx
        gc.collect()


def test_dataset_hands_out_segments_and_merges_only_what_needs_it(events):
    events.append(events_rows(list(range(0, 100))))
    events.flush()
    events.append(events_rows(list(range(200, 300))))
    events.flush()
    d = events.to_pyarrow_dataset()
    assert len(_files(d)) == 2 and _merged(d) == []  # both segments as they are
    # Each is the segment file itself, as a link of the dataset's own (a
    # dropped and re-created table writes other files under those names).
    storage = os.path.join(events._db.path, "storage")
    segs = glob.glob(os.path.join(storage, "**", "segment_*.parquet"), recursive=True)
    assert segs and all(any(os.path.samefile(f, s) for s in segs) for f in _files(d)), (segs, _files(d))
    events.append(events_rows([50], tag="hot"))
    d2 = events.to_pyarrow_dataset()
    files = _files(d2)
    assert len(files) == 2 and len(_merged(d2)) == 1  # the segment holding key 50 is merged
    assert sum(any(os.path.samefile(f, s) for s in segs) for f in files) == 1


def test_filters_reach_the_dataset_scan(events):
    events.append(events_rows(list(range(0, 1000))))
    events.flush()
    events.append(events_rows([5], tag="hot"))
    d = events.to_pyarrow_dataset()
    plan = duckdb.sql("explain select v from d where id > 990").fetchall()
    text = "\n".join(r[1] for r in plan)
    assert 'Filters: "id" > 990' in text and "Projections: v" in text, text
    ctx = datafusion.SessionContext()
    ctx.register_dataset("t", d)
    plan = "\n".join(ctx.sql("explain select v from t where id > 990").to_pydict()["plan"])
    assert "filter_expr" in plan and "990" in plan
    # pyarrow prunes row groups by the files' statistics with it.
    frags = list(d.get_fragments(filter=pc.field("id") > 990))
    assert 1 <= len(frags) <= len(d.files)
    assert d.to_table(filter=pc.field("id") > 990).num_rows == 9


def test_dataset_survives_compaction_and_vacuum(events):
    events.append(events_rows(list(range(0, 100))))
    events.flush()
    events.append(events_rows(list(range(200, 300))))
    events.flush()
    d = events.to_pyarrow_dataset()
    before = d.to_table().sort_by("id")
    events.append(events_rows(list(range(50, 60)), tag="new"))
    events.delete([0, 250])
    events.flush()
    events.compact()
    removed = events.vacuum(retention_ms=0)
    assert d.to_table().sort_by("id").equals(before)  # its segments were pinned
    ctx = datafusion.SessionContext()
    ctx.register_dataset("d", d)
    assert ctx.sql("select count(*) as n from d").to_pydict() == {"n": [200]}
    del d, ctx
    gc.collect()
    # Unpinned now: the next vacuum removes what the first one left.
    assert removed + events.vacuum(retention_ms=0) >= 2
    assert events.to_pyarrow_dataset().to_table().num_rows == 198


def test_dataset_time_travel_and_renamed_columns(db):
    t = db.create_table("tt", {"id": pa.int64(), "a": pa.int32(), "d": pa.duration("us")}, primary_key="id")
    t.append({"id": [1, 2], "a": pa.array([1, 2], pa.int32()), "d": pa.array([5, 6], pa.duration("us"))})
    t.flush()
    v = t.info["version"]
    t.rename_column("a", "b")
    t.widen_column("b", pa.int64())
    t.append({"id": [3], "b": [30], "d": pa.array([7], pa.duration("us"))})
    d = t.to_pyarrow_dataset()
    assert d.schema.names == ["id", "b", "d"] and d.schema.field("b").type == pa.int64()
    assert d.to_table().sort_by("id").equals(t.scan().to_table())
    old = t.to_pyarrow_dataset(version=v)
    assert old.schema.names == ["id", "a", "d"]
    assert old.to_table().sort_by("id").equals(t.scan(version=v).to_table())
    when = datetime.datetime.now(datetime.timezone.utc)
    assert t.to_pyarrow_dataset(version=when).to_table().num_rows == 2  # hot row 3 is not in a version


def test_release_dataset_frees_files_at_once(events):
    # DuckDB's replacement scan keeps a copy of the calling frame's
    # variables, so a dataset it queried by name may never be collected.
    events.append(events_rows(list(range(10))))
    d = events.to_pyarrow_dataset()
    assert duckdb.sql("select count(*) from d").fetchall() == [(10,)]
    (tmp,) = {os.path.dirname(f) for f in _merged(d)}
    kalam.release_dataset(d)
    assert not os.path.exists(tmp)
    with pytest.raises(OSError):
        d.to_table()
    kalam.release_dataset(d)  # twice is fine
    with pytest.raises(TypeError, match="to_pyarrow_dataset"):
        kalam.release_dataset(pads.dataset(pa.table({"a": [1]})))


def test_dataset_files_are_removed_when_collected_even_when_derived(events):
    events.append(events_rows(list(range(10))))
    d = events.to_pyarrow_dataset()
    (tmp,) = {os.path.dirname(f) for f in _merged(d)}
    derived = d.filter(pc.field("id") > 5)
    del d
    gc.collect()
    assert os.path.isdir(tmp)  # the derived dataset still reads the files
    assert derived.to_table().num_rows == 4
    del derived
    gc.collect()
    assert not os.path.exists(tmp)


def test_dataset_outlives_the_database_handle(store_path):
    db = kalam.open(store_path)
    t = db.create_table("o", {"id": pa.int64()}, primary_key="id")
    t.append({"id": [1, 2, 3]})
    d = t.to_pyarrow_dataset()
    db.close()
    assert d.to_table().column("id").to_pylist() == [1, 2, 3]
    (tmp,) = {os.path.dirname(f) for f in d.files}
    del d
    gc.collect()
    assert not os.path.exists(tmp)


def test_dataset_errors(events, db):
    with pytest.raises(kalam.InvalidArgument, match="system"):
        db.table("system.tables").to_pyarrow_dataset()
    with pytest.raises(kalam.NotFound):
        events.to_pyarrow_dataset(version=99)


def test_stale_dataset_files_are_removed_at_open(store_path):
    db = kalam.open(store_path)
    t = db.create_table("s", {"id": pa.int64()}, primary_key="id")
    t.append({"id": [1]})
    db.close()
    stale = os.path.join(store_path, "tmp", "datasets", "1-1-crashed")
    os.makedirs(stale)
    open(os.path.join(stale, ".lock"), "w").close()
    open(os.path.join(stale, "part_000000.parquet"), "w").close()
    kalam.open(store_path, read_only=True).close()
    assert not os.path.exists(stale)


@pytest.mark.parametrize("key", ["int", "compound"])
def test_hot_keys_merge_only_the_row_groups_they_fall_in(db, key):
    """A few hot keys inside a segment: the dataset lists the segment with
    the row groups none of them can fall in, and merges only the others
    with the hot rows (updates, a new key between groups, a delete)."""
    if key == "int":
        schema = pa.schema([("id", pa.int64()), ("v", pa.string())])
        pk = ["id"]
        base = pa.table({"id": list(range(64)), "v": [f"r{i}" for i in range(64)]}, schema=schema)
        hot = pa.table({"id": [9, 10, 41], "v": ["hot9", "hot10", "hot41"]}, schema=schema)
        gone = pa.table({"id": [50]}, schema=pa.schema([("id", pa.int64())]))
        new_between = None
    else:
        schema = pa.schema([("k", pa.string()), ("n", pa.int32()), ("v", pa.string())])
        pk = ["k", "n"]
        ks = [f"k{i // 2:03d}" for i in range(64)]
        base = pa.table({"k": ks, "n": [i % 2 for i in range(64)], "v": [f"r{i}" for i in range(64)]}, schema=schema)
        hot = pa.table({"k": ["k004", "k020"], "n": [1, 0], "v": ["hot-a", "hot-b"]}, schema=schema)
        gone = pa.table({"k": ["k025"], "n": [1]}, schema=pa.schema([("k", pa.string()), ("n", pa.int32())]))
        # Between two row groups' key ranges: in no group, merged anyway.
        new_between = pa.table({"k": ["k0075"], "n": [0], "v": ["between"]}, schema=schema)
    t = db.create_table("rg", schema, primary_key=pk, options={"row_group_rows": "8"})
    t.append(base)
    t.flush()
    t.append(hot)
    if new_between is not None:
        t.append(new_between)
    t.delete(gone)
    d = t.to_pyarrow_dataset()
    frags = list(d.get_fragments())
    kept = [f for f in frags if _is_segment(f.path)]
    assert len(kept) == 1
    kept_groups = [rg.id for rg in kept[0].row_groups]
    # 8 groups of 8 rows; the hot keys and the delete touch 3 of them.
    assert len(kept_groups) == 5 and set(kept_groups) < set(range(8)), kept_groups
    merged_rows = sum(f.count_rows() for f in frags if f is not kept[0])
    # Merged files are written without dictionaries (cheaper to write and
    # to read for a file read once; see engine/dataset.go).
    for f in frags:
        if f is not kept[0]:
            md = pq.ParquetFile(f.path).metadata
            assert not any(md.row_group(0).column(c).has_dictionary_page for c in range(md.num_columns))
    assert merged_rows == 3 * 8 - 1 + (1 if new_between is not None else 0)
    want = t.scan().to_table().sort_by([(c, "ascending") for c in pk])
    got = d.to_table().sort_by([(c, "ascending") for c in pk])
    assert got.equals(want)
    flt = pc.field("v").isin(["hot-a", "hot9", "between", "r3"])
    assert d.to_table(filter=flt).num_rows == t.scan(filter="v = 'hot-a' OR v = 'hot9' OR v = 'between' OR v = 'r3'").count_rows()
    # count_rows counts the listed row groups of the kept segment, not its
    # whole file (pyarrow's own answer from the footer counts the 3 groups
    # that are merged elsewhere twice).
    assert d.count_rows() == want.num_rows
    assert pads.Scanner.from_dataset(d).count_rows() == want.num_rows + 3 * 8, (
        "pyarrow's count no longer overcounts: drop KalamDataset.count_rows and .scanner"
    )
    # The dataset's scanners count right too (they filter on an expression
    # every row satisfies, which makes pyarrow count the listed row groups).
    assert d.scanner().count_rows() == want.num_rows
    assert d.scanner(columns=[pk[0]]).count_rows() == want.num_rows
    assert d.scanner().to_table().sort_by([(c, "ascending") for c in pk]).equals(want)
    assert d.count_rows(filter=flt) == d.to_table(filter=flt).num_rows
    assert isinstance(d, pads.FileSystemDataset)
    del d
    gc.collect()


def test_scanner_counts_a_key_only_table(db):
    """A table whose only column is its key: the guarantees bound that
    column, and the scanner's every-row filter must still name it in a way
    pyarrow cannot fold to true, or count_rows() counts whole files."""
    schema = pa.schema([("id", pa.int64())])
    t = db.create_table("keys", schema, primary_key=["id"], options={"row_group_rows": "8"})
    t.append(pa.table({"id": list(range(64))}, schema=schema))
    t.flush()
    t.append(pa.table({"id": [9, 10, 41, 100]}, schema=schema))
    d = t.to_pyarrow_dataset()
    assert any(f.row_groups is not None and len(f.row_groups) < 8 for f in d.get_fragments() if _is_segment(f.path))
    assert d.count_rows() == d.scanner().count_rows() == d.to_table().num_rows == 65
    assert pads.Scanner.from_dataset(d).count_rows() > 65, "pyarrow's count no longer overcounts: drop the override"
    del d
    gc.collect()


def test_engines_read_the_fragments_without_python(events):
    """Fragments read through native file systems, never through the
    dataset's Python file system: pyarrow's I/O threads would need the GIL,
    and DuckDB pulls batches while holding it (it deadlocked)."""
    events.append(events_rows(list(range(0, 300))))
    events.flush()
    events.append(events_rows(list(range(300, 600))))
    events.flush()
    events.append(events_rows([10, 400], tag="hot"))
    d = events.to_pyarrow_dataset()
    handler = d.filesystem.handler
    calls = []

    def refuse(path):
        calls.append(path)
        raise OSError(f"read through Python: {path}")

    handler.open_input_file = handler.open_input_stream = refuse
    want = events.scan(filter="id >= 5 AND id < 450").to_table().sort_by("id")
    got = duckdb.sql("select id, v, x from d where id >= 5 and id < 450 order by id").to_arrow_table()
    assert got.to_pylist() == want.to_pylist() and got.num_rows == 445
    assert d.to_table(filter=(pc.field("id") >= 5) & (pc.field("id") < 450)).sort_by("id").equals(want)
    assert calls == []
    kalam.release_dataset(d)


def test_fragments_carry_their_key_bounds(db):
    """Each segment handed out carries its key column's bounds from the
    manifest as its guarantee: a key filter skips the other fragments
    without opening them (as pyarrow does for partitions)."""
    t = db.create_table("kb", pa.schema([("id", pa.int64()), ("v", pa.string())]), primary_key=["id"])
    for lo in (0, 100, 200):
        t.append(pa.table({"id": list(range(lo, lo + 50)), "v": [f"r{i}" for i in range(lo, lo + 50)]}))
        t.flush()
    d = t.to_pyarrow_dataset()
    frags = sorted(d.get_fragments(), key=lambda f: str(f.partition_expression))
    bounds = sorted(str(f.partition_expression) for f in frags)
    assert bounds == [
        "((id >= 0) and (id <= 49))",
        "((id >= 100) and (id <= 149))",
        "((id >= 200) and (id <= 249))",
    ]
    flt = (pc.field("id") >= 120) & (pc.field("id") < 130)
    assert len(list(d.get_fragments(filter=flt))) == 1
    assert d.to_table(filter=flt).column("id").to_pylist() == list(range(120, 130))
    assert duckdb.sql("select count(*) from d where id between 40 and 110").fetchall() == [(10 + 11,)]
    kalam.release_dataset(d)


def test_dataset_keeps_its_rows_across_drop_and_create(db):
    """A dataset made before its table is dropped and made again still reads
    its own rows: the new table writes another segment_001.parquet under the
    old name, which the dataset read as its own (the adversarial pass)."""
    t = db.create_table("t", pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": ["old1", "old2", "old3"]}), primary_key="id")
    t.flush()
    d = t.to_pyarrow_dataset()
    db.drop_table("t")
    t2 = db.create_table("t", pa.table({"id": pa.array([7, 8, 9], pa.int64()), "v": ["NEW7", "NEW8", "NEW9"]}), primary_key="id")
    t2.flush()
    assert d.to_table().to_pydict() == {"id": [1, 2, 3], "v": ["old1", "old2", "old3"]}
    assert t2.scan().to_table().to_pydict() == {"id": [7, 8, 9], "v": ["NEW7", "NEW8", "NEW9"]}
    del d
    gc.collect()


def _time_rows(ids, tag=0):
    n = len(ids)
    # Nulls only from id 100 on: pyarrow's trouble with the older layout
    # showed on row groups without nulls.
    valid = [i < 100 or i % 7 != 3 for i in ids]

    def col(values, typ):
        return pa.array([v if ok else None for v, ok in zip(values, valid)], typ)

    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "tss": col([i * 1000 - 50000 + tag for i in ids], pa.timestamp("s", tz="Asia/Karachi")),
            "tsn": col([i * 1000 - 50000 + tag for i in ids], pa.timestamp("s")),
            "t32": col([i + tag for i in ids], pa.time32("s")),
            "d64": col([(i + tag) * 86400000 for i in ids], pa.date64()),
            "dur": col([i * 3 - 100 + tag for i in ids], pa.duration("s")),
            "dms": col([i * 3 - 100 + tag for i in ids], pa.duration("ms")),
        }
    ).slice(0, n)


def test_dataset_filters_time_columns_stored_under_another_type(db):
    """timestamp[s], time32[s], date64 and duration columns are stored as
    types pyarrow reads back comparable (storagetype.go): a filter on them
    through the dataset — pyarrow's own, DuckDB, DataFusion and Polars over
    it — returns what ``t.scan(filter=...)`` does, for segments handed out
    as they are and for merged files. Before, each failed in pyarrow with
    "no kernel matching input types (timestamp[s], int64)"."""
    schema = _time_rows([0]).schema
    db.create_namespace("app")
    t = db.create_table("app.times", schema, primary_key=["id"], options={"row_group_rows": "10"})
    t.append(_time_rows(list(range(0, 60))))
    t.flush()
    t.append(_time_rows(list(range(100, 160))))
    t.flush()
    t.append(_time_rows([5, 130], tag=1))  # hot rows: the second segment is merged
    d = t.to_pyarrow_dataset()
    assert d.schema == schema
    assert any(_is_segment(f) for f in d.files) and _merged(d), d.files
    assert d.to_table().sort_by("id").equals(t.scan().to_table())
    ctx = datafusion.SessionContext()
    ctx.register_dataset("tt", d)
    cases = [  # column, low and high as raw values in the column's unit
        ("tss", 20 * 1000 - 50000, 130 * 1000 - 50000),
        ("tsn", 20 * 1000 - 50000, 130 * 1000 - 50000),
        ("t32", 20, 130),
        ("d64", 20 * 86400000, 130 * 86400000),
        ("dur", 20 * 3 - 100, 130 * 3 - 100),
        ("dms", 20 * 3 - 100, 130 * 3 - 100),
    ]
    for col, lo_raw, hi_raw in cases:
        typ = schema.field(col).type
        low, hi = pa.scalar(lo_raw, typ), pa.scalar(hi_raw, typ)
        want = t.scan(filter=f"{col} >= {lo_raw} AND {col} < {hi_raw}").to_table().sort_by("id")
        assert 0 < want.num_rows < 120, col
        got = d.to_table(filter=(pc.field(col) >= low) & (pc.field(col) < hi)).sort_by("id")
        assert got.equals(want), col
        ids = want.column("id").to_pylist()
        if col != "tss":
            # Not the zoned column: Polars 2.1's scan_pyarrow_dataset hands
            # pyarrow a zoned datetime literal as a naive one, and gets
            # rows shifted by the zone's offset from pyarrow's own files too.
            got_pl = pl.scan_pyarrow_dataset(d).filter((pl.col(col) >= low.as_py()) & (pl.col(col) < hi.as_py())).collect()
            assert sorted(got_pl["id"].to_list()) == ids, col
        ctx.register_record_batches("bounds", [[pa.record_batch({"lo": pa.array([low]), "hi": pa.array([hi])})]])
        got_df = ctx.sql(f"select tt.id from tt, bounds where tt.{col} >= bounds.lo and tt.{col} < bounds.hi order by tt.id")
        assert got_df.to_pydict()["id"] == ids, col
        ctx.deregister_table("bounds")
        bounds = pa.table({"lo": pa.array([low]), "hi": pa.array([hi])})  # noqa: F841 (DuckDB reads it by name)
        got_duck = duckdb.sql(f"select d.id from d, bounds where d.{col} >= bounds.lo and d.{col} < bounds.hi order by d.id")
        assert [r[0] for r in got_duck.fetchall()] == ids, col
    kalam.release_dataset(d)


def test_embeddings_keep_their_values_in_every_row_group(db):
    """A fixed_size_list column (an embedding) keeps its own values in
    every row group of a segment, in scans, in a dataset's merged files and
    after a compaction. pqarrow's writer took a sliced fixed_size_list's
    values from its child's start: every row group after a segment's first
    held the first rows' embeddings."""
    db.create_namespace("app")
    dim = 3
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.list_(pa.float32(), dim), nullable=False)])
    t = db.create_table("app.emb", schema, primary_key=["id"], options={"row_group_rows": "10"})

    def rows(ids, shift=0.0):
        flat = [float(i * 10 + j) + shift if (i + j) % 7 else None for i in ids for j in range(dim)]
        return pa.table({"id": ids, "v": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim)}, schema=schema)

    t.append(rows(list(range(45))))
    t.flush()
    want = rows(list(range(45)))
    assert t.scan().to_table().equals(want)
    t.append(rows([3, 27], shift=0.5))  # hot: the segment's rows around them are merged into a dataset file
    kept = want.filter(pc.invert(pc.is_in(want["id"], pa.array([3, 27]))))
    want = pa.concat_tables([kept, rows([3, 27], shift=0.5)]).sort_by("id")
    d = t.to_pyarrow_dataset()
    assert _merged(d)
    assert d.to_table().sort_by("id").equals(want)
    assert t.scan().to_table().equals(want)
    kalam.release_dataset(d)
    t.flush()
    t.compact()
    assert t.scan().to_table().equals(want)
    # Tombstones between live rows in one flush: pqarrow refused the null
    # lists segments hold for them, and every flush of the table failed.
    t.delete([5, 9, 30])
    t.append(rows([4, 7, 8, 10], shift=0.25))
    t.flush()
    gone = pa.array([4, 5, 7, 8, 9, 10, 30])
    want = pa.concat_tables([want.filter(pc.invert(pc.is_in(want["id"], gone))), rows([4, 7, 8, 10], shift=0.25)]).sort_by("id")
    assert t.scan().to_table().equals(want)
    d = t.to_pyarrow_dataset()
    assert d.to_table().sort_by("id").equals(want)
    kalam.release_dataset(d)


def test_dataset_is_exact_for_values_todays_layout_cannot_hold(db):
    """A date64 that is not a whole day or lies beyond ±2³¹ days, and a
    timestamp[s] whose milliseconds overflow, are written in the older
    layout for their files
    (plain int64), so the dataset reads them exactly — pyarrow would cut
    the date64 to its day — and flushes, compactions and datasets go on
    working; a time32[s] filter literal beyond the column's range does not
    wrap (time32[s] is stored as time64[us])."""
    db.create_namespace("app")
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("d", pa.date64()),
            pa.field("ts", pa.timestamp("s")),
            pa.field("t", pa.time32("s")),
        ]
    )
    t = db.create_table("app.odd", schema, primary_key=["id"])
    t.append(pa.table({"id": [1, 2], "d": pa.array([86400000, 2 * 86400000], pa.date64()), "ts": [5, 6], "t": pa.array([50, 60], pa.time32("s"))}, schema=schema))
    t.flush()  # today's layout
    odd = pa.table(
        {
            "id": [3, 4],
            "d": pa.array([259201234, 2**31 * 86400000], pa.date64()),  # not a whole day; beyond int32 days
            "ts": pa.array([2**62, -(2**63) + 1], pa.timestamp("s")),
            "t": pa.array([3000000, -5], pa.time32("s")),
        },
        schema=schema,
    )
    t.append(odd)
    for step in ("hot", "flushed", "compacted"):
        if step == "flushed":
            t.flush()
        if step == "compacted":
            t.compact()
        want = t.scan().to_table()
        assert want.slice(2).equals(odd), step
        d = t.to_pyarrow_dataset()
        assert d.to_table().sort_by("id").equals(want), step
        got = d.to_table(filter=pc.field("t") > pa.scalar(-2147484, pa.time32("s"))).sort_by("id")
        assert got.column("id").to_pylist() == [1, 2, 3, 4], step
        kalam.release_dataset(d)


def test_counts_are_exact_with_filters_every_row_passes_and_on_derived_datasets(db):
    # A segment listed with some of its row groups (two hot keys in it):
    # a filter every row satisfies (id >= 0, inside the key bounds) made
    # pyarrow count from the footer, the unlisted row groups too (22000);
    # replace_schema gave a plain dataset that did the same; a filtered
    # dataset's count_rows() raised ValueError.
    import pyarrow.dataset as pds

    t = db.create_table("ds_counts", pa.schema([pa.field("id", pa.int64(), nullable=False), ("v", pa.int64())]),
                        primary_key="id", options={"row_group_rows": 1000})
    t.write(pa.table({"id": pa.array(range(20000), pa.int64()), "v": pa.array(range(20000), pa.int64())}))
    t.flush()
    t.write(pa.table({"id": pa.array([10, 5555], pa.int64()), "v": pa.array([-1, -1], pa.int64())}))
    d = t.to_pyarrow_dataset()
    every = pds.field("id") >= 0
    assert d.count_rows() == 20000
    assert d.count_rows(filter=every) == 20000
    assert d.scanner(filter=every).count_rows() == 20000
    assert d.scanner(None, every).count_rows() == 20000
    assert d.count_rows(filter=pds.field("v") < 0) == 2
    assert d.replace_schema(d.schema).count_rows() == 20000
    assert d.filter(pds.field("v") > 17000).count_rows() == 2999
    assert d.filter(pds.field("v") > 17000).to_table().num_rows == 2999
