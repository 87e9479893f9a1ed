"""Jupyter views: Database, Table and Scan render what the store holds,
escape every text, stay short as plain reprs and never raise."""

from __future__ import annotations

import html
import os
import re

import pyarrow as pa
import pytest

import kalam
from conftest import EVENTS_SCHEMA, events_rows


def text_of(h: str) -> str:
    """The visible text of a view: tags and the style block removed."""
    h = re.sub(r"<style>.*?</style>", "", h, flags=re.S)
    h = re.sub(r"</?(b|code|span)\b[^>]*>", "", h)  # inline markup
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", h)))


def cells(h: str) -> list:
    """Every table cell's text, in order."""
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", h, flags=re.S)]


@pytest.fixture
def layered(db):
    """app.events: two overlapping segments, a tombstone, hot rows."""
    db.create_namespace("app")
    t = db.create_table("app.events", EVENTS_SCHEMA, primary_key=["id"], options={"note": "<script>alert('x')</script>"})
    t.append(events_rows(list(range(0, 100))))
    t.flush()
    t.append(events_rows(list(range(50, 150)), tag="u"))  # 50 upserts of flushed keys
    t.delete([0, 1])
    t.flush()
    t.append(events_rows([7, 500]))  # hot: one upsert, one new key
    return t


def test_database_view(db, layered):
    db.create_table("other", {"k": pa.int32()})
    h = db._repr_html_()
    txt = text_of(h)
    assert db.path in txt and "open" in txt and "2 tables" in txt
    c = cells(h)
    row = c[c.index("app.events") :][:6]
    # live segments, stored row versions (100 + 100 + 2 tombstones), size, hot rows
    assert row[1] == "shared" and row[2] == "2" and row[3] == "202" and row[5] == "2"
    assert c[c.index("default.other") :][1:4] == ["shared", "0", "0"]
    assert len(repr(db)) < 120 and "Database" in repr(db)
    db.close()
    closed = text_of(db._repr_html_())
    assert "closed" in closed and "table" not in closed


def test_table_view(layered):
    t = layered
    h = t._repr_html_()
    txt = text_of(h)
    assert "app.events" in txt and "shared table" in txt and f"manifest version {t.version}" in txt
    c = cells(h)
    # Schema rows: column, type, nullable, key, field id.
    assert c[c.index("id") : c.index("id") + 5] == ["id", "int64", "not null", "🔑", "1"]
    assert c[c.index("v") : c.index("v") + 5] == ["v", "string", "", "", "2"]
    # The option's markup is escaped, never live.
    assert "<script>" not in h and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in h
    stats = dict(zip(c[::1], c[1::1]))
    assert stats["live rows"] == f"{t.count_rows():,}" == "149"
    assert stats["live segments"] == "2" and stats["rows in live segments"] == "202"
    assert stats["hot rows (not flushed)"] == "2"
    assert "data/segment_001.parquet" in txt and "data/segment_002.parquet" in txt
    assert repr(t) == "<kalam.Table app.events>"


def test_table_view_marks_composite_and_user_keys(db):
    t = db.create_table(
        "u", pa.schema([pa.field("user_id", pa.utf8(), nullable=False), pa.field("a", pa.int32(), nullable=False), ("b", pa.utf8())]),
        type="user", primary_key=["a"],
    )
    c = cells(t._repr_html_())
    assert c[c.index("user_id") + 3] == "🔑 1 user"
    assert c[c.index("a") + 3] == "🔑 2"
    assert c[c.index("b") + 3] == ""


def test_system_table_view(db, layered):
    txt = text_of(db.table("system.tables")._repr_html_())
    assert "system table, computed when scanned" in txt and "table_name" in txt
    n = db.system("tables").num_rows
    assert f"{n:,} rows now" in txt and "manifest version" not in txt


def test_scan_view_shows_the_plan(layered):
    s = layered.scan(columns=["v"], filter="id >= 120 AND v <> '<b>'")
    plan = s.explain()
    h = s._repr_html_()
    txt = text_of(h)
    assert "<b>'" not in h and "v &lt;&gt; &#x27;&lt;b&gt;&#x27;" in h  # the filter, escaped
    read, pruned = plan["read"], plan["pruned"]
    assert len(pruned) == 1 and pruned[0]["reason"] == "key_range"
    assert f"reads {len(read)} of 2 segments (1 pruned), plus hot rows; merge {plan['merge']}." in txt
    c = cells(h)
    assert c[c.index(pruned[0]["path"]) + 1] == "key_range"
    assert c[c.index(read[0]["path"]) + 2] == f"{read[0]['row_count']:,}"
    assert c[c.index(read[0]["path"]) + 3].startswith(read[0]["reader"])
    assert "Key range: from 0x" in txt and "(inclusive) to unbounded" in txt


def test_scan_view_other_kinds_and_errors(db, layered):
    seg = layered.segments().column("id")[0].as_py()
    assert "every version and tombstone" in text_of(layered.scan_segment(seg)._repr_html_())
    assert "A system table" in text_of(db.scan_system("tables")._repr_html_())
    bad = layered.scan(filter="nope = 1")
    txt = text_of(bad._repr_html_())
    assert "explain: InvalidArgument" in txt and "nope" in txt
    db.close()
    assert "Closed" in text_of(layered._repr_html_())
    assert "Closed" in text_of(layered.scan()._repr_html_())


def test_scan_plain_repr_stays_short(layered):
    s = layered.scan(columns=[f"c{i}" for i in range(40)], filter="v = '" + "x" * 500 + "'", limit=5)
    r = repr(s)
    assert len(r) < 260 and "… 35 more" in r and "limit=5" in r


def test_a_split_scan_shows_the_split_not_an_empty_plan(db):
    # It read the split's spec as a plan: "reads 0 of 0 segments".
    t = db.create_table("split_repr", pa.table({"id": pa.array(range(10), pa.int64())}), primary_key="id")
    t.flush()
    t.append({"id": [20]})
    t.flush()
    (sp,) = t.scan().splits(max_splits=1)
    html = sp.scan()._repr_html_()
    assert "reads 2 segments" in html and "0 of 0" not in html


def test_storage_only_reader_view_names_its_storage(db, layered):
    """A storage-only reader has no local path: its view showed ``None``
    where its plain repr names the storage."""
    layered.flush()
    storage = os.path.join(str(db.path), "storage")
    db.close()
    with kalam.open(storage=storage, read_only=True) as reader:
        txt = text_of(reader._repr_html_())
        assert f"storage={storage}" in txt and "None" not in txt and "read-only" in txt
        assert f"storage={storage}" in repr(reader)
