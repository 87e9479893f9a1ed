"""kalam.register_datafusion through the kalam_datafusion extension (the Rust
TableProvider of bindings/datafusion, handed over as a datafusion-ffi
capsule): results equal libkalam's own scans row for row, and the
projection, filter and limit reach libkalam (EXPLAIN shows them on the
KalamScanExec node)."""

from __future__ import annotations

import gc
import warnings

import pyarrow as pa
import pytest

import kalam
from conftest import MERGED_SCHEMA, make_merged_events, merged_rows, open_scans

datafusion = pytest.importorskip("datafusion", reason="the datafusion package (extra kalam[datafusion]) is not installed")
kd = pytest.importorskip(
    "kalam_datafusion",
    reason="kalam_datafusion is not installed: build and install the kalam-datafusion wheel with `make datafusion-wheel`",
)

SCHEMA = MERGED_SCHEMA


def rows(ids, tag):
    return merged_rows(ids, tag)


@pytest.fixture
def events(db):
    """app.events in every state a scan merges (conftest.make_merged_events)."""
    return make_merged_events(db)


def ctx_for(db, batch_size=None):
    config = datafusion.SessionConfig()
    if batch_size is not None:
        config = config.with_batch_size(batch_size)
    ctx = datafusion.SessionContext(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the extension is installed: no fallback warning
        kalam.register_datafusion(ctx, db)
    return ctx


def sql_rows(ctx, sql):
    return ctx.sql(sql).to_arrow_table().sort_by("id").to_pylist()


def kalam_rows(t, columns, filter=None):
    return t.scan(columns=columns, filter=filter).to_table().sort_by("id").to_pylist()


def explain(ctx, sql):
    return "\n".join(ctx.sql(f"EXPLAIN {sql}").to_pydict()["plan"])


def scan_node(plan):
    lines = [ln.strip() for ln in plan.splitlines() if "KalamScanExec:" in ln]
    assert len(lines) == 1, plan
    return lines[0]


# (SQL predicate, the same predicate in libkalam's filter language, the
# filter string libkalam receives). DataFusion's optimizer rewrites some
# predicates before offering them (short IN lists to ORs, BETWEEN to two
# comparisons, NOT pushed inwards); the third column is what reaches
# libkalam after that.
SELECTIVE = [
    ("id >= 10", "id >= 10", "id >= 10"),
    ("id >= 100 AND id < 260", "id >= 100 AND id < 260", "id >= 100 AND id < 260"),
    ("v = 'u250'", "v = 'u250'", "v = 'u250'"),
    ("v IN ('h3', 'r150', 'u300')", "v IN ('h3', 'r150', 'u300')", "v = 'h3' OR v = 'r150' OR v = 'u300'"),
    ("v IN ('h3', 'r150', 'u300', 'u301')", "v IN ('h3', 'r150', 'u300', 'u301')", "v IN ('h3', 'r150', 'u300', 'u301')"),
    ("v NOT IN ('h3', 'r150')", "v NOT IN ('h3', 'r150')", "v <> 'h3' AND v <> 'r150'"),
    # x <= 20.0 stays in DataFusion (a float `<=`); x >= 10.0 is pushed and rechecked.
    ("x BETWEEN 10 AND 20", "x BETWEEN 10 AND 20", "x >= 10.0"),
    ("x = 110.5", "x = 110.5", "x = 110.5"),
    ("flag", "flag = TRUE", "flag = TRUE"),
    ("flag IS NOT TRUE", "flag IS NULL OR flag = FALSE", "flag IS NULL OR flag = FALSE"),
    ("v IS NULL", "v IS NULL", "v IS NULL"),
    ("NOT (id < 50 OR v IS NULL)", "NOT (id < 50 OR v IS NULL)", "id >= 50 AND v IS NOT NULL"),
    ("ts >= '2024-01-01T00:05:00Z'", "ts >= '2024-01-01T00:05:00Z'", "ts >= '2024-01-01T00:05:00.000Z'"),
    ("d < DATE '1970-01-10'", "d < '1970-01-10'", "d < '1970-01-10'"),
    ("id = 5", "id = 5", "id = 5"),  # deleted while hot
    ("id IN (40, 220, 221, 222)", "id IN (40, 220, 221, 222)", "id IN (40, 220, 221, 222)"),  # deleted and flushed
]


@pytest.mark.parametrize("where,kalam_filter,pushed", SELECTIVE)
def test_selective_sql_equals_libkalam_scan(db, events, where, kalam_filter, pushed):
    ctx = ctx_for(db)
    sql = f"SELECT id, v, x, flag FROM app.events WHERE {where}"
    got = sql_rows(ctx, sql)
    want = kalam_rows(events, ["id", "v", "x", "flag"], kalam_filter)
    assert got == want
    node = scan_node(explain(ctx, sql))
    assert "table=app.events" in node
    assert "projection=[id, v, x, flag]" in node
    assert f"filter={pushed}" in node, node


def test_hot_rows_upserts_and_deletes_are_seen(db, events):
    ctx = ctx_for(db)
    got = {r["id"]: r["v"] for r in sql_rows(ctx, "SELECT id, v FROM app.events WHERE id IN (3, 5, 40, 150, 220, 250, 260, 399)")}
    assert got == {3: "h3", 150: "r150", 260: "u260"}
    # Written after registration: the next query sees it.
    events.append(rows([3, 1000], "n"))
    events.delete(pa.table({"id": pa.array([150], pa.int64())}))
    got = {r["id"]: r["v"] for r in sql_rows(ctx, "SELECT id, v FROM app.events WHERE id IN (3, 150, 1000)")}
    assert got == {3: "n3", 1000: "n1000"}


def test_aggregates_equal_libkalam_scan(db, events):
    ctx = ctx_for(db)
    got = ctx.sql(
        "SELECT count(*) AS n, count(v) AS nv, sum(x) AS sx, min(id) AS lo, max(id) AS hi "
        "FROM app.events WHERE id >= 10"
    ).to_pylist()[0]
    ref = events.scan(filter="id >= 10").to_table()
    xs = [x for x in ref.column("x").to_pylist() if x is not None]
    assert got == {
        "n": ref.num_rows,
        "nv": ref.num_rows - ref.column("v").null_count,
        "sx": pytest.approx(sum(xs)),
        "lo": min(ref.column("id").to_pylist()),
        "hi": max(ref.column("id").to_pylist()),
    }
    assert got["n"] == events.scan(filter="id >= 10").count_rows()
    # count(*) asks libkalam for no column at all, only the filter.
    node = scan_node(explain(ctx, "SELECT count(*) FROM app.events WHERE id >= 10"))
    assert "projection=[], filter=id >= 10" in node, node
    grouped = ctx.sql(
        "SELECT flag, count(*) AS n FROM app.events WHERE id < 100 GROUP BY flag ORDER BY flag NULLS FIRST"
    ).to_pydict()
    ref = events.scan(columns=["flag"], filter="id < 100").to_table().column("flag").to_pylist()
    want_keys = [None, False, True]
    assert grouped == {"flag": want_keys, "n": [ref.count(k) for k in want_keys]}


def test_limit_reaches_libkalam(db, events):
    ctx = ctx_for(db)
    node = scan_node(explain(ctx, "SELECT id FROM app.events LIMIT 7"))
    assert "projection=[id]" in node and "limit=7" in node, node
    got = ctx.sql("SELECT id FROM app.events LIMIT 7").to_pydict()["id"]
    live = set(events.scan(columns=["id"]).to_table().column("id").to_pylist())
    assert len(got) == 7 and set(got) <= live
    # With an exact filter the limit goes down with it.
    sql = "SELECT id, v FROM app.events WHERE id >= 390 LIMIT 3"
    assert "filter=id >= 390, limit=3" in scan_node(explain(ctx, sql))
    got = ctx.sql(sql).to_pydict()
    want = set(events.scan(columns=["id"], filter="id >= 390").to_table().column("id").to_pylist())
    assert len(got["id"]) == 3 and set(got["id"]) <= want
    assert all(v == f"u{i}" or v is None for i, v in zip(got["id"], got["v"]))


def test_untranslatable_predicates_are_filtered_by_datafusion(db, events):
    ctx = ctx_for(db)
    sql = "SELECT id, v FROM app.events WHERE lower(v) = 'h3'"
    plan = explain(ctx, sql)
    assert "filter=" not in scan_node(plan) and "FilterExec" in plan, plan
    assert sql_rows(ctx, sql) == kalam_rows(events, ["id", "v"], "v = 'h3'") == [{"id": 3, "v": "h3"}]
    # A translatable conjunct still goes down; the rest stays in DataFusion.
    sql = "SELECT id, v FROM app.events WHERE id >= 300 AND v LIKE 'u3_1'"
    plan = explain(ctx, sql)
    assert "filter=id >= 300" in scan_node(plan) and "FilterExec" in plan, plan
    want = [r for r in kalam_rows(events, ["id", "v"], "id >= 300") if r["v"] and len(r["v"]) == 4 and r["v"].endswith("1")]
    assert sql_rows(ctx, sql) == want and want
    # Comparing two columns has no filter-language form.
    sql = "SELECT id, x FROM app.events WHERE x > id"
    assert sql_rows(ctx, sql) == []


def test_inexact_float_comparison_is_pushed_and_rechecked(db, events):
    ctx = ctx_for(db)
    sql = "SELECT id, x FROM app.events WHERE x > 150"
    plan = explain(ctx, sql)
    # libkalam ranks every NaN above all numbers, DataFusion only positive
    # ones: the pushed filter prunes, DataFusion filters again.
    assert "filter=x > 150.0" in scan_node(plan) and "FilterExec" in plan, plan
    assert sql_rows(ctx, sql) == kalam_rows(events, ["id", "x"], "x > 150")


def test_system_tables_through_the_provider(db, events):
    ctx = ctx_for(db)
    got = ctx.sql("SELECT table_name, type FROM system.tables WHERE namespace = 'app'").to_pylist()
    assert got == [{"table_name": "events", "type": "shared"}]
    assert "filter=namespace = 'app'" in scan_node(explain(ctx, "SELECT * FROM system.tables WHERE namespace = 'app'"))
    n = ctx.sql("SELECT count(*) AS n FROM system.segments WHERE table_name = 'events' AND NOT tombstone").to_pydict()
    assert n == {"n": [3]}


def test_provider_directly_and_its_errors(db, events, tmp_path):
    ctx = datafusion.SessionContext()
    p = kd.KalamTableProvider(kalam.library_path(), db._handle(), "app.events")
    assert p.table == "app.events"
    ctx.register_table("ev", p)
    assert ctx.sql("SELECT count(*) AS n FROM ev WHERE id < 30").to_pydict() == {"n": [events.count_rows("id < 30")]}
    with pytest.raises(kalam.NotFound, match="app.nope"):
        kd.KalamTableProvider(kalam.library_path(), db._handle(), "app.nope")
    with pytest.raises(kalam.InvalidArgument, match="NULL"):
        kd.KalamTableProvider(kalam.library_path(), 0, "app.events")
    with pytest.raises(kalam.InvalidArgument, match="nonexistent"):
        kd.KalamTableProvider(str(tmp_path / "nonexistent.so"), db._handle(), "app.events")
    # A store closed under a registered table gives an error, not a crash.
    other = kalam.open(str(tmp_path / "other"))
    other.create_table("t", pa.schema([("k", pa.int64())])).append(pa.table({"k": [1, 2]}))
    ctx.register_table("t", kd.KalamTableProvider(kalam.library_path(), other._handle(), "t"))
    assert ctx.sql("SELECT sum(k) AS s FROM t").to_pydict() == {"s": [3]}
    handle = other._handle()
    other.close()
    with pytest.raises(Exception, match="closed"):
        ctx.sql("SELECT sum(k) FROM t").collect()
    # libkalam keeps closed handles valid: KALAM_CLOSED, not a dangling pointer.
    with pytest.raises(kalam.Closed):
        kd.KalamTableProvider(kalam.library_path(), handle, "t")


def test_dropping_a_stream_releases_the_scan(db, events):
    ctx = ctx_for(db, batch_size=16)
    stream = ctx.sql("SELECT id, v FROM app.events").execute_stream()
    first = next(iter(stream))
    assert first.to_pyarrow().num_rows == 16
    del stream, first
    gc.collect()
    assert open_scans(db) == []
    # A query that runs to the end releases its scan too.
    assert ctx.sql("SELECT count(*) AS n FROM app.events").to_pydict() == {"n": [events.count_rows()]}
    assert open_scans(db) == []


def test_planning_does_not_list_the_namespace(db, events, monkeypatch):
    """Each planning asks the schema for the table itself: a missing table is
    "not found" from the lookup, not from a listing of the namespace first
    (which cost about 0.6 ms of every query)."""
    ctx = ctx_for(db)
    from kalam import integrations

    def listing(*args, **kwargs):
        raise AssertionError("planning listed the namespace's tables")

    monkeypatch.setattr(integrations, "_user_table_names", listing)
    n = ctx.sql("SELECT count(*) AS n FROM app.events WHERE id < 30").to_pydict()
    assert n == {"n": [events.count_rows("id < 30")]}
    with pytest.raises(Exception, match="app.nope' not found"):
        ctx.sql("SELECT * FROM app.nope").to_arrow_table()
    with pytest.raises(Exception, match="nope.events' not found"):
        ctx.sql("SELECT * FROM nope.events").to_arrow_table()


def test_calls_skip_converting_the_host_session(db, events):
    """The provider's scan, pushdown check and execute take kalam_datafusion's
    own calls (bindings/datafusion/src/lean.rs), which never convert the
    host's session or task context; a fallback to datafusion-ffi's wrappers
    would answer the same rows, so the calls are counted."""
    ctx = ctx_for(db, batch_size=7)
    before = kd.lean_calls()
    sql = "SELECT id, v FROM app.events WHERE id >= 300 AND id < 340"
    got = ctx.sql(sql).to_arrow_table()
    after = kd.lean_calls()
    assert {k: after[k] - before[k] for k in after} == {"scans": 1, "pushdown_checks": 1, "executes": 1}
    assert got.sort_by("id").to_pylist() == kalam_rows(events, ["id", "v"], "id >= 300 AND id < 340")
    # The host's batch size reaches the scan through the lean execute.
    batches = ctx.sql(sql).collect()
    assert max(b.num_rows for b in batches) == 7 and sum(b.num_rows for b in batches) == got.num_rows


def test_host_functions_in_filters_stay_with_datafusion(db, events):
    """A filter calling a function of the host's session (a Python UDF here)
    does not decode on the provider's side, which has no function registry:
    it is not pushed, and DataFusion applies it."""
    import pyarrow.compute as pc

    ctx = ctx_for(db)
    odd = datafusion.udf(lambda a: pc.equal(pc.bit_wise_and(a, 1), 1), [pa.int64()], pa.bool_(), "immutable", name="odd")
    ctx.register_udf(odd)
    sql = "SELECT id, v FROM app.events WHERE odd(id) AND id < 40"
    plan = explain(ctx, sql)
    assert "filter=id < 40" in scan_node(plan) and "odd" not in scan_node(plan), plan
    want = [r for r in kalam_rows(events, ["id", "v"], "id < 40") if r["id"] % 2 == 1]
    assert sql_rows(ctx, sql) == want and want


def test_repeated_queries_release_the_host_session(db, events):
    """The provider's scan takes the host's session by value and must drop it
    whole: its release and both of its codecs. A version that released only
    the session's own data kept about 8 KiB per query (25 MiB per 3,000)."""
    ctx = ctx_for(db)
    sql = "SELECT id FROM app.events WHERE id < 3"

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    for _ in range(200):
        ctx.sql(sql).to_arrow_table()
    gc.collect()
    before = rss_mib()
    for _ in range(1500):
        ctx.sql(sql).to_arrow_table()
    gc.collect()
    grown = rss_mib() - before
    assert grown < 4, f"RSS grew {grown:.1f} MiB over 1,500 queries"


def test_in_list_with_null(db):
    """DataFusion keeps `x IN (1, NULL)`, which the provider takes as exact,
    as `x = 1 OR NULL`; a bare NULL did not translate and the query failed
    at planning. It is unknown for every row, as in DataFusion."""
    db.create_namespace("app", exist_ok=True)
    t = db.create_table("app.nulls", pa.table({"id": pa.array([1, 2, 3], pa.int64()),
                                                "x": pa.array([1, 2, None], pa.int32())}), primary_key=["id"])
    ctx = ctx_for(db)
    ctx.register_record_batches("m", [t.scan().to_table().to_batches()])
    for where, want in (("x IN (1, NULL)", [1]), ("x NOT IN (1, NULL)", []), ("NOT (x IN (2, NULL))", [])):
        got = ctx.sql(f"SELECT id FROM app.nulls WHERE {where} ORDER BY id").to_arrow_table().column(0).to_pylist()
        mem = ctx.sql(f"SELECT id FROM m WHERE {where} ORDER BY id").to_arrow_table().column(0).to_pylist()
        assert got == mem == want, where
