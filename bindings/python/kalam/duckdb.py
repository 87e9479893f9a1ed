"""DuckDB sources that push projection and filters into libkalam.

DuckDB reads a registered :class:`kalam.Table` or :class:`kalam.Scan`
through ``__arrow_c_stream__``, which carries neither the query's columns
nor its filter: every row and column is read and DuckDB filters them
itself. DuckDB 2.0's Python package asks a *source* instead (the protocol
of ``duckdb._sources``: ``accepts(predicate)`` and ``stream(columns,
filters)``), so :func:`source` wraps a table or scan in one::

    con.register("events", kalam.duckdb.source(db.table("app.events")))
    con.sql("select id, amount from events where id between 10 and 20")

and :func:`register` does it for every table of a store. A predicate is
pushed only when the filter language (docs/REFERENCE.md, "Filter language")
selects exactly the rows
DuckDB would keep (``_filters`` checks every literal against the column's
type); the rest stays with DuckDB. :attr:`KalamSource.pushed` records what
the last stream received, for tests and ``EXPLAIN``-style checks.

The protocol lives in a private DuckDB module; it is the one of the pinned
``duckdb`` 2.0.1. With a DuckDB without it, :func:`source` returns the
object unchanged (DuckDB then reads every column, as before) and warns.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import warnings
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import pyarrow as pa

from ._filters import _Col, _NotPushed, _Translator, _Value, quote_ident
from ._scan import Scan

if TYPE_CHECKING:
    from ._db import Database, Table

try:  # the source protocol of duckdb 2.0 (a private module)
    from duckdb._sources import ArrowScanSource as _SourceBase
    from duckdb._sources import nodes as _nodes
except ImportError:  # another DuckDB: no pushdown
    _SourceBase = None  # type: ignore[assignment,misc]
    _nodes = None  # type: ignore[assignment]

__all__ = ["KalamSource", "register", "source"]

# DuckDB's type names whose Python values are exact for the filter
# language; a literal of any other type is left to DuckDB.
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_OPS = {"=": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# Rows per batch of a stream DuckDB reads, unless the scan sets its own.
# DuckDB works on a batch only once it has it all, and its own work per
# row (mostly allocating its result) is about as long as libkalam's: with
# the default 64 Ki rows a selective query's 100,000-row result came in
# two batches, one after the other with DuckDB's work. 16 Ki rows let it
# start sooner: 1 % key ranges of 10 M rows 13-15 % faster, full scans the
# same (8 Ki rows: full scans 5-10 % slower).
_DUCKDB_BATCH_ROWS = 16384


def _value(lit: Any) -> _Value:
    """A DuckDB literal as the translator's exact value (_NotPushed when its
    Python value may not be exact for its type)."""
    t, v = lit.type, lit.value
    if v is None:
        return _Value("null", None)
    if t == "BOOLEAN" and isinstance(v, bool):
        return _Value("bool", v)
    if t in _INTS and isinstance(v, int) and not isinstance(v, bool):
        return _Value("int", v)
    if t in ("DOUBLE", "FLOAT") and isinstance(v, float):
        return _Value("float", v)
    if t == "VARCHAR" and isinstance(v, str):
        return _Value("str", v)
    if t == "BLOB" and isinstance(v, (bytes, bytearray)):
        return _Value("bytes", bytes(v))
    if t.startswith("DECIMAL") and isinstance(v, decimal.Decimal):
        return _Value("decimal", v)
    if t == "DATE" and isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        return _Value("date", (v - datetime.date(1970, 1, 1)).days)
    if t == "TIMESTAMP" and isinstance(v, datetime.datetime) and v.tzinfo is None:
        secs = calendar.timegm(v.timetuple())
        return _Value("datetime", Fraction(secs) + Fraction(v.microsecond, 10**6))
    if t == "TIMESTAMP WITH TIME ZONE" and isinstance(v, int):
        return _Value("datetime", Fraction(v, 10**6))
    raise _NotPushed(f"a {t} literal")


class _Translate:
    """DuckDB's predicate nodes as filter-language text. Comparisons of a
    column with a constant, IS [NOT] NULL and IN have the same value (true,
    false or null) in both, and AND, OR and NOT are Kleene in both, so a
    translated tree is exact under NOT too."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.tr = _Translator(schema)

    def col(self, node: Any) -> _Col:
        if not isinstance(node, _nodes.Col) or len(node.parts) != 1:
            raise _NotPushed("not a top-level column")
        name = node.parts[0]
        if self.schema.get_field_index(name) < 0:
            raise _NotPushed(f"column {name!r} is not in the table")
        return _Col(name, self.schema.field(name).type)

    def __call__(self, node: Any) -> str:
        if isinstance(node, _nodes.Binary):
            if node.op in ("AND", "OR"):
                return f"({self(node.left)} {node.op} {self(node.right)})"
            if node.op in _OPS and isinstance(node.right, _nodes.Lit):
                v = _value(node.right)
                if v.kind == "null":
                    raise _NotPushed("a comparison with NULL")
                return self.tr.compare(self.col(node.left), _OPS[node.op], v)
        if isinstance(node, _nodes.Unary) and node.op == "NOT":
            return f"(NOT {self(node.operand)})"
        if isinstance(node, _nodes.Postfix) and node.op in ("IS NULL", "IS NOT NULL"):
            return f"{quote_ident(self.col(node.operand).name)} {node.op}"
        if isinstance(node, _nodes.In):
            col = self.col(node.operand)
            terms = []
            for lit in node.values:
                v = _value(lit)
                if v.kind == "null":
                    raise _NotPushed("NULL in an IN list")
                terms.append(self.tr.compare(col, "=", v))
            if not terms:
                raise _NotPushed("an empty IN list")
            return "(" + " OR ".join(terms) + ")"
        raise _NotPushed(f"a {type(node).__name__} node")


if _SourceBase is not None:

    class KalamSource(_SourceBase):  # type: ignore[misc,valid-type]
        """A DuckDB source over a :class:`kalam.Scan`: every stream is a fresh
        scan with the query's columns and the predicates :meth:`accepts`
        took added to the scan's own filter."""

        def __init__(self, scan: Scan) -> None:
            super().__init__(scan)
            self.scan = scan
            #: What the last stream asked libkalam for: ``{"columns": [...] or
            #: None, "filter": str or None, "batch_rows": int}``.
            self.pushed: Optional[Dict[str, Any]] = None

        def __arrow_c_schema__(self) -> object:
            """The scan's schema (a table's can change: read each time)."""
            return self.scan.schema.__arrow_c_schema__()

        def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
            """The scan itself as a stream (what ``con.register`` checks for;
            DuckDB's queries call :meth:`stream` instead)."""
            return self.scan.__arrow_c_stream__(requested_schema)

        def accepts(self, predicate: Any) -> bool:
            """Whether ``predicate`` translates exactly; never with a limit
            on the scan (a filter after a limit is not one before it)."""
            if self.scan.limit is not None:
                return False
            try:
                _Translate(self.scan.schema)(predicate)
            except _NotPushed:
                return False
            return True

        def stream(self, columns: Optional[Sequence[int]], filters: Sequence[Any]) -> "tuple[object, bool]":
            """A fresh scan narrowed to ``columns`` with ``filters`` pushed."""
            base = self.scan
            schema = base.schema
            names = None if columns is None else [schema.names[i] for i in columns]
            tr = _Translate(schema)
            terms = ([f"({base.filter})"] if base.filter else []) + [tr(p) for p in filters]
            flt = " AND ".join(terms) if terms else None
            batch = base.batch_rows if base.batch_rows is not None else _DUCKDB_BATCH_ROWS
            self.pushed = {"columns": names, "filter": flt, "batch_rows": batch}
            scan = Scan(base._db, base.table, columns=names if names is not None else base.columns, filter=flt,
                        limit=base.limit, batch_rows=batch, version=base.version)
            return scan.to_reader().__arrow_c_stream__(), names is not None

else:  # pragma: no cover - exercised only with another DuckDB
    KalamSource = None  # type: ignore[assignment,misc]


def source(obj: "Union[Table, Scan]") -> Any:
    """A DuckDB source for a :class:`kalam.Table` (a full scan) or a
    :class:`kalam.Scan` (its columns, filter, version and limit kept) that
    takes DuckDB's projection and the filters that translate exactly. With a
    DuckDB that has no source protocol, ``obj`` itself (read whole) and a
    warning."""
    from ._db import Table

    if not isinstance(obj, (Table, Scan)):
        raise TypeError(f"source takes a kalam.Table or kalam.Scan, not {type(obj).__name__}")
    scan = obj if isinstance(obj, Scan) else obj.scan()
    if KalamSource is None:
        warnings.warn("this DuckDB has no source protocol (duckdb._sources): it reads every column of "
                      f"{scan.table} and filters it itself", RuntimeWarning, stacklevel=2)
        return obj
    return KalamSource(scan)


def register(con: Any, db: "Database") -> List[str]:
    """Registers every user table of ``db`` in DuckDB connection ``con`` as
    a view named by its qualified name (``select * from "app.events"``),
    each a :func:`source`. Returns the names."""
    from ._db import Database

    if not isinstance(db, Database):
        raise TypeError(f"register takes a kalam.Database, not {type(db).__name__}")
    names = db.tables()
    for name in names:
        con.register(name, source(db.table(name)))
    return names
