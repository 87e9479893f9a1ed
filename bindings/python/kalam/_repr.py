"""HTML views of Database, Table and Scan for Jupyter (``_repr_html_``).

Every piece of text that comes from the store (names, options, filters,
error messages) goes through :func:`html.escape`. A view never raises: a
failure to read something is shown in the view instead (a repr that raises
hides the object in a notebook). Views read only metadata and the
``system.segments`` rows of the table, except the table's live row count,
which is a scan of its key columns and is skipped above
:data:`LIVE_ROWS_LIMIT` stored row versions.
"""

from __future__ import annotations

import datetime
import html
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pyarrow.compute as pc

from .errors import Error

if TYPE_CHECKING:  # pragma: no cover
    from ._db import Database, Table
    from ._scan import Scan

__all__ = ["database_html", "table_html", "scan_html", "LIVE_ROWS_LIMIT", "MAX_ROWS"]

#: A table view counts live rows (a scan of the key columns) only when its
#: segments and hot rows hold at most this many row versions.
LIVE_ROWS_LIMIT = 5_000_000
#: Rows shown in a list (tables, segments, plan entries) before "… N more".
MAX_ROWS = 20

_STYLE = (
    "<style>"
    ".kalam-repr table{border-collapse:collapse;margin:2px 0 8px 0;font-size:90%}"
    ".kalam-repr th,.kalam-repr td{border:1px solid #ccc;padding:1px 6px;text-align:left}"
    ".kalam-repr th{background:rgba(127,127,127,.12)}"
    ".kalam-repr .num{text-align:right;font-variant-numeric:tabular-nums}"
    ".kalam-repr .muted{opacity:.7}"
    ".kalam-repr .err{color:#b00}"
    "</style>"
)


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(n: Optional[int]) -> str:
    return "—" if n is None else f"{n:,}"


def _bytes(n: Optional[int]) -> str:
    if n is None:
        return "—"
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            return f"{int(v)} B" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{n} B"  # pragma: no cover


def _table(
    headers: Optional[Sequence[str]], rows: Iterable[Sequence[Tuple[str, bool]]], total: Optional[int] = None
) -> str:
    """An HTML table (no header row when ``headers`` is None); each cell is
    (already escaped html, is_number)."""
    out = ["<table>"]
    if headers is not None:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>")
    n = 0
    for row in rows:
        n += 1
        out.append("<tr>" + "".join(f"<td class='num'>{c}</td>" if isnum else f"<td>{c}</td>" for c, isnum in row) + "</tr>")
    if total is not None and total > n:
        span = len(headers) if headers is not None else 1
        out.append(f"<tr><td colspan='{span}' class='muted'>… {total - n:,} more</td></tr>")
    out.append("</table>")
    return "".join(out)


def _error(what: str, e: BaseException) -> str:
    return f"<div class='err'>{_e(what)}: {_e(type(e).__name__)}: {_e(e)}</div>"


def _wrap(body: str) -> str:
    return f"{_STYLE}<div class='kalam-repr'>{body}</div>"


def _ms_text(ms: Optional[int]) -> str:
    if ms is None:
        return "—"
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- Database ---------------------------------------------------------------------


def _segment_counts(db: "Database") -> Dict[Tuple[str, str], Dict[str, int]]:
    """Per (namespace, table): live segments, rows and bytes in them."""
    seg = db.system("segments", columns=["namespace", "table_name", "row_count", "size_bytes"], filter="tombstone = FALSE")
    out: Dict[Tuple[str, str], Dict[str, int]] = {}
    if seg.num_rows == 0:
        return out
    g = seg.group_by(["namespace", "table_name"]).aggregate(
        [("row_count", "count"), ("row_count", "sum"), ("size_bytes", "sum")]
    )
    for r in g.to_pylist():
        out[(r["namespace"], r["table_name"])] = {
            "segments": int(r["row_count_count"]),
            "rows": int(r["row_count_sum"] or 0),
            "bytes": int(r["size_bytes_sum"] or 0),
        }
    return out


def database_html(db: "Database") -> str:
    """The HTML view of a :class:`kalam.Database`: path, state, and per
    user table its type, live segments, row versions stored in them, size
    and hot (unflushed) row versions."""
    from ._db import Table
    from ._ffi import library_path

    state = "closed" if db.closed else ("read-only" if db.read_only else "open")
    where = db.path if db.path is not None else f"storage={db.storage}"  # a storage-only reader
    head = f"<b>kalam.Database</b> <code>{_e(where)}</code> — {_e(state)}"
    if db.closed:
        return _wrap(head)
    parts = [head]
    try:
        parts[0] += f" <span class='muted'>(libkalam at {_e(library_path())})</span>"
    except Exception:  # the library path is a nicety
        pass
    try:
        tables = db.system("tables", columns=["namespace", "table_name", "type"], filter="type != 'system'").to_pylist()
        counts = _segment_counts(db)
    except Error as e:
        parts.append(_error("reading the catalog", e))
        return _wrap("<br>".join(parts))
    tables.sort(key=lambda r: (r["namespace"], r["table_name"]))
    rows: List[Sequence[Tuple[str, bool]]] = []
    for r in tables[:MAX_ROWS]:
        c = counts.get((r["namespace"], r["table_name"]), {"segments": 0, "rows": 0, "bytes": 0})
        qname = f"{r['namespace']}.{r['table_name']}"
        try:
            hot = _num(int(Table(db, qname).refresh().info["hot_rows"]))
        except Error as e:
            hot = f"<span class='err'>{_e(e)}</span>"
        rows.append(
            [
                (_e(qname), False),
                (_e(r["type"]), False),
                (_num(c["segments"]), True),
                (_num(c["rows"]), True),
                (_e(_bytes(c["bytes"])), True),
                (hot, True),
            ]
        )
    parts.append(f"{len(tables):,} table{'s' if len(tables) != 1 else ''}")
    if tables:
        parts.append(
            _table(
                ["table", "type", "live segments", "rows in segments", "size", "hot rows"],
                rows,
                total=len(tables),
            )
            + "<div class='muted'>Rows in segments count stored row versions (an upsert after a flush "
            "and a delete's tombstone are rows too); hot rows are not in a segment until flush(). "
            "Live rows: <code>table.count_rows()</code>.</div>"
        )
    return _wrap("<br>".join(parts[:2]) + "".join(parts[2:]))


# ---- Table ------------------------------------------------------------------------


def table_html(t: "Table") -> str:
    """The HTML view of a :class:`kalam.Table`: type, version, schema with
    key columns marked, options, live rows, live segments and the row
    versions stored in them, hot rows, and the first live segments."""
    head = f"<b>kalam.Table</b> <code>{_e(t.qualified_name)}</code>"
    try:
        info = t.refresh().info
        schema = t.schema
    except Error as e:
        return _wrap(head + _error("reading the table", e))
    system = info.get("type") == "system"
    if system:
        parts = [head + " — system table, computed when scanned (no segments, no versions)"]
    else:
        parts = [
            head
            + f" — {_e(info.get('type'))} table, manifest version {_e(info.get('version'))}, "
            f"schema version {_e(info.get('schema_version'))}, created {_e(_ms_text(info.get('created_at')))}"
        ]
    # Schema, with the key columns in key order.
    key_cols: List[str] = list(info.get("key_columns") or [])
    ids = {c.get("name"): c.get("field_id") for c in info.get("columns") or []}
    rows = []
    for f in schema:
        mark = ""
        if f.name in key_cols:
            mark = f"🔑 {key_cols.index(f.name) + 1}" if len(key_cols) > 1 else "🔑"
        if info.get("user_column") == f.name:
            mark = (mark + " user").strip()
        rows.append(
            [
                (_e(f.name), False),
                (_e(f.type), False),
                ("" if f.nullable else "not null", False),
                (_e(mark), False),
                (_e(ids.get(f.name, "")), True),
            ]
        )
    parts.append(_table(["column", "type", "nullable", "key", "field id"], rows))
    if "_seq" in key_cols:
        parts.append("<div class='muted'>No primary key: rows are keyed by <code>_seq</code>.</div>")
    opts = info.get("options") or {}
    if opts:
        parts.append(
            "<div>options: "
            + ", ".join(f"<code>{_e(k)}={_e(v)}</code>" for k, v in sorted(opts.items()))
            + "</div>"
        )
    if system:
        try:
            parts.append(f"<div>{_num(t.count_rows())} rows now.</div>")
        except Error as e:
            parts.append(_error("counting rows", e))
        return _wrap("".join(parts))
    # Storage.
    try:
        seg = t.segments()
    except Error as e:
        parts.append(_error("reading system.segments", e))
        return _wrap("".join(parts))
    live = seg.filter(pc.invert(seg.column("tombstone")))
    stored = sum(live.column("row_count").to_pylist())
    size = sum(live.column("size_bytes").to_pylist())
    hot = int(info.get("hot_rows") or 0)
    if stored + hot <= LIVE_ROWS_LIMIT:
        try:
            live_rows = _num(t.count_rows())
        except Error as e:
            live_rows = f"<span class='err'>{_e(e)}</span>"
    else:
        live_rows = f"<span class='muted'>not counted (over {LIVE_ROWS_LIMIT:,} row versions; <code>count_rows()</code>)</span>"
    stats = [
        [("live rows", False), (live_rows, True)],
        [("live segments", False), (_num(live.num_rows), True)],
        [("rows in live segments", False), (_num(stored), True)],
        [("size of live segments", False), (_e(_bytes(size)), True)],
        [("replaced segments (kept until vacuum)", False), (_num(seg.num_rows - live.num_rows), True)],
        [("hot rows (not flushed)", False), (_num(hot), True)],
    ]
    if info.get("background_error"):
        stats.append([("background error", False), (f"<span class='err'>{_e(info['background_error'])}</span>", False)])
    parts.append(_table(None, stats))
    if live.num_rows:
        live = live.sort_by([("min_seq", "ascending")])
        seg_rows = []
        for r in live.slice(0, MAX_ROWS).to_pylist():
            created = r.get("created_at")
            seg_rows.append(
                [
                    (_e(r["path"]), False),
                    (_num(r["row_count"]), True),
                    (_e(_bytes(r["size_bytes"])), True),
                    (_e(created.strftime("%Y-%m-%d %H:%M:%S") if created is not None else "—"), False),
                ]
            )
        parts.append(_table(["live segment", "rows", "size", "created (UTC)"], seg_rows, total=live.num_rows))
    return _wrap("".join(parts))


# ---- Scan ---------------------------------------------------------------------------


def _key_text(k: Optional[str]) -> str:
    return "unbounded" if k is None else f"0x{k}"


def scan_html(scan: "Scan") -> str:
    """The HTML view of a :class:`kalam.Scan`: its request and, for table
    scans, the plan from :meth:`Scan.explain`: segments read (row groups,
    rows) and pruned (with the reason), hot rows, merge strategy, key
    range."""
    req = [f"<b>kalam.Scan</b> of <code>{_e(scan.table)}</code>"]
    items = []
    for name in ("columns", "filter", "limit", "batch_rows", "version", "segment_id"):
        v = getattr(scan, name)
        if v is not None:
            items.append(f"{_e(name)}=<code>{_e(v)}</code>")
    if items:
        req.append("<div>" + ", ".join(items) + "</div>")
    if scan.segment_id is not None:
        req.append("<div>Reads one segment file as stored: every version and tombstone in it.</div>")
        return _wrap("".join(req))
    if scan.table.startswith("system."):
        req.append("<div>A system table: computed when scanned, no segments to plan.</div>")
        return _wrap("".join(req))
    split = getattr(scan, "split", None)
    if split is not None:
        # A split's explain() is the split itself, not a plan.
        req.append(f"<div>One split of version {_e(split.version)}: reads {len(split.segments)} "
                   f"segment{'s' if len(split.segments) != 1 else ''} (at most {_e(split.rows)} rows), each "
                   "through a storage-only reader of its own.</div>")
        return _wrap("".join(req))
    try:
        plan = scan.explain()
    except Error as e:
        return _wrap("".join(req) + _error("explain", e))
    read = plan.get("read") or []
    pruned = plan.get("pruned") or []
    kr = plan.get("key_range") or {}
    total = len(read) + len(pruned)
    summary = (
        f"Plan at manifest version {_e(plan.get('version'))}: reads <b>{len(read)}</b> of {total} "
        f"segment{'s' if total != 1 else ''} ({len(pruned)} pruned)"
        f"{', plus hot rows' if plan.get('hot') else ''}; merge <code>{_e(plan.get('merge'))}</code>."
    )
    req.append(f"<div>{summary}</div>")
    if kr.get("empty"):
        req.append("<div>Key range: empty (the filter matches no key).</div>")
    elif kr.get("lo") is not None or kr.get("hi") is not None:
        lo = _key_text(kr.get("lo"))
        hi = _key_text(kr.get("hi"))
        req.append(
            f"<div>Key range: from <code>{_e(lo)}</code> (inclusive) to <code>{_e(hi)}</code>"
            f"{' (inclusive)' if kr.get('hi_inclusive') and kr.get('hi') is not None else ''}"
            " <span class='muted'>(encoded key bytes)</span></div>"
        )
    else:
        req.append("<div>Key range: every key.</div>")
    if read:
        rows = []
        for r in read[:MAX_ROWS]:
            rg = r.get("row_groups")
            reader = r.get("reader") or ""
            pq_cols = r.get("pqarrow_columns") or {}
            if pq_cols:
                reader += " (pqarrow: " + ", ".join(f"{c}: {why}" for c, why in pq_cols.items()) + ")"
            rows.append(
                [
                    (_e(r.get("path")), False),
                    (_e(", ".join(str(g) for g in rg) if rg is not None else "all"), False),
                    (_num(r.get("row_count")), True),
                    (_e(reader), False),
                ]
            )
        req.append(_table(["segment read", "row groups", "rows", "reader"], rows, total=len(read)))
    if pruned:
        rows = [[(_e(p.get("path")), False), (_e(p.get("reason")), False)] for p in pruned[:MAX_ROWS]]
        req.append(_table(["segment pruned", "reason"], rows, total=len(pruned)))
    return _wrap("".join(req))
