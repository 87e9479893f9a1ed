"""Translation of Polars predicate expressions into the filter language of
docs/REFERENCE.md ("Filter language"), for :func:`kalam.polars.scan_table`.

The translation is *exact or nothing*: a part of the predicate is handed to
libkalam only when the store's filter selects exactly the rows Polars would
keep; everything else stays with Polars. Two notions of "exact" are tracked
for every translated sub-expression:

- **three-valued exact**: the filter has the same value (true, false or
  null) as the Polars expression on every row. Only these may go under NOT,
  because NOT swaps false and true and keeps null.
- **true-set exact**: the filter is true on exactly the rows where the Polars
  expression is true (false and null may be mixed up). AND and OR preserve
  this (Kleene AND/OR are true exactly when their operands are), so it is
  enough for the top-level conjuncts of a ``filter``, which keeps the true
  rows only.

The predicate is read from Polars' own JSON serialization of the expression
(``Expr.meta.serialize(format="json")`` of the pinned Polars 2.1); a node
shape this module does not know is simply not pushed down, so a change in
that format can cost pushdown but never correctness.

Semantics relied on (checked by ``tests/python/test_polars_scan.py``):
Polars and libkalam both compare floats in a total order (NaN equals NaN and
is above every number, -0 equals +0), both use Kleene logic, strings and
bytes compare bytewise, and libkalam compares integers, decimals and
temporal values exactly, rewriting a literal between two values of the
column's domain to an equivalent comparison.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import io
import json
import math
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["Translation", "translate_predicate", "quote_ident", "quote_string"]

Fraction = fractions.Fraction

_UNITS_PER_SECOND = {
    "s": 1,
    "ms": 1_000,
    "us": 1_000_000,
    "ns": 1_000_000_000,
    "Milliseconds": 1_000,
    "Microseconds": 1_000_000,
    "Nanoseconds": 1_000_000_000,
}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "TRUE", "FALSE"}
_OPS = {"Eq": "=", "NotEq": "<>", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}
_FLIP = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class _NotPushed(Exception):
    """A sub-expression has no exact translation; the message says why."""


# ---- rendering the filter language ---------------------------------------------


def quote_ident(name: str) -> str:
    """A column name as an identifier of the filter language: bare when it is
    a plain identifier that is not a keyword, else double-quoted with inner
    double quotes doubled (as the store's own canonical form)."""
    plain = name and (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) and all(
        c.isascii() and (c.isalnum() or c == "_") for c in name
    )
    if plain and name.upper() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(s: str) -> str:
    """A string literal of the filter language ('' for a quote)."""
    return "'" + s.replace("'", "''") + "'"


def _c_safe(s: str) -> bool:
    # The filter crosses the C ABI as a NUL-terminated UTF-8 string.
    if "\x00" in s:
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _float_text(v: float) -> str:
    # repr is the shortest text that parses back to the same double, and the
    # store parses float literals to the nearest double (and int-column
    # comparisons from the exact decimal value of that text, which is the
    # double itself only when repr is exact; Fraction(repr) == Fraction(v)
    # is checked by the caller for those).
    return repr(float(v))


def _exact_float_text(v: float) -> str:
    """Decimal text whose exact value is the double ``v`` (for comparisons
    the store evaluates exactly, such as an integer column against a float)."""
    t = repr(float(v))
    if Fraction(t) == Fraction(v):
        return t
    return format(decimal.Decimal(v), "f")


# ---- values ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """A literal from the Polars expression, as an exact Python value.

    kind: "null", "bool", "int", "float", "decimal", "str", "bytes", "date"
    (value: days), "datetime" (value: Fraction seconds since the epoch),
    "time" (value: int nanoseconds of the day), "duration" (value: Fraction
    seconds)."""

    kind: str
    value: Any


def _f32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _scalar_value(scalar: Dict[str, Any]) -> _Value:
    """A ``{"Literal": {"Scalar": {...}}}`` payload as a _Value."""
    if len(scalar) != 1:
        raise _NotPushed(f"literal {scalar!r}")
    (k, v), = scalar.items()
    if k == "Null":
        return _Value("null", None)
    if k == "Boolean" and isinstance(v, bool):
        return _Value("bool", v)
    if k in ("Int8", "Int16", "Int32", "Int64", "Int128", "UInt8", "UInt16", "UInt32", "UInt64", "UInt128"):
        if isinstance(v, int) and not isinstance(v, bool):
            return _Value("int", v)
    if k in ("Float32", "Float64"):
        # JSON has no NaN or infinity: Polars writes them as null, which must
        # never be read as a NULL literal.
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise _NotPushed("a NaN or infinite float literal")
        f = float(v)
        return _Value("float", _f32(f) if k == "Float32" else f)
    if k == "String" and isinstance(v, str):
        return _Value("str", v)
    if k == "Binary" and isinstance(v, list):
        return _Value("bytes", bytes(v))
    if k == "Date" and isinstance(v, int):
        return _Value("date", v)
    if k == "Datetime" and isinstance(v, list) and len(v) == 3 and v[1] in _UNITS_PER_SECOND:
        return _Value("datetime", Fraction(v[0], _UNITS_PER_SECOND[v[1]]))
    if k == "Duration" and isinstance(v, list) and len(v) == 2 and v[1] in _UNITS_PER_SECOND:
        return _Value("duration", Fraction(v[0], _UNITS_PER_SECOND[v[1]]))
    if k == "Time" and isinstance(v, int):
        return _Value("time", v)
    if k == "Decimal" and isinstance(v, list) and len(v) == 3:
        return _Value("decimal", decimal.Decimal(v[0]).scaleb(-v[2]))
    raise _NotPushed(f"a literal of type {k}")


def _dyn_value(dyn: Dict[str, Any]) -> _Value:
    (k, v), = dyn.items()
    if k == "Int" and isinstance(v, int) and not isinstance(v, bool):
        return _Value("int", v)
    if k == "Float" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return _Value("float", float(v))
    raise _NotPushed(f"a literal {dyn!r}")


def _series_values(series: "pl.Series") -> List[_Value]:
    """The values of a Polars Series (an ``is_in`` list) as _Values."""
    import polars as pl

    dt = series.dtype
    out: List[_Value] = []
    if dt == pl.Null:
        return [_Value("null", None)] * len(series)
    if isinstance(dt, pl.Datetime) or isinstance(dt, pl.Duration):
        ups = _UNITS_PER_SECOND[dt.time_unit]
        kind = "datetime" if isinstance(dt, pl.Datetime) else "duration"
        return [_Value("null", None) if v is None else _Value(kind, Fraction(v, ups)) for v in series.to_physical().to_list()]
    if dt == pl.Date or dt == pl.Time:
        kind = "date" if dt == pl.Date else "time"
        return [_Value("null", None) if v is None else _Value(kind, v) for v in series.to_physical().to_list()]
    if dt.is_integer():
        kind = "int"
    elif dt.is_float():
        kind = "float"
    elif dt == pl.Boolean:
        kind = "bool"
    elif dt == pl.String:
        kind = "str"
    elif dt == pl.Binary:
        kind = "bytes"
    elif isinstance(dt, pl.Decimal):
        kind = "decimal"
    else:
        raise _NotPushed(f"an is_in list of {dt}")
    for v in series.to_list():
        if v is None:
            out.append(_Value("null", None))
        elif kind == "float" and not math.isfinite(v):
            raise _NotPushed("a NaN or infinite value in an is_in list")
        else:
            out.append(_Value(kind, v))
    return out


def _only_literals(node: Any) -> bool:
    """True when a JSON subtree is built from literals, casts, aliases and
    functions of those only (``pl.datetime(2024, 5, 1)``, which Polars does
    not fold before the source sees it): Polars can evaluate it alone, with
    no row context. Anything else (columns, ``pl.len()``, aggregations,
    windows) makes it depend on the rows."""
    if not isinstance(node, dict) or len(node) != 1:
        return False
    (k, v), = node.items()
    if k == "Literal":
        return True
    if k == "Cast" and isinstance(v, dict):
        return _only_literals(v.get("expr"))
    if k == "Alias" and isinstance(v, list) and v:
        return _only_literals(v[0])
    if k == "Function" and isinstance(v, dict):
        args = v.get("input")
        return isinstance(args, list) and bool(args) and all(_only_literals(a) for a in args)
    if k == "BinaryExpr" and isinstance(v, dict):
        return _only_literals(v.get("left")) and _only_literals(v.get("right"))
    return False


def _has_null_float(node: Any) -> bool:
    # A float that JSON turned into null (NaN, ±inf) anywhere in a subtree.
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("Float32", "Float64", "Float") and v is None:
                return True
            if _has_null_float(v):
                return True
    elif isinstance(node, list):
        return any(_has_null_float(x) for x in node)
    return False


def _eval_constant(node: Any) -> "pl.Series":
    """Evaluates a literal-only JSON subtree with Polars itself."""
    import polars as pl

    if _has_null_float(node):
        raise _NotPushed("a NaN or infinite float literal")
    try:
        expr = pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")
        return pl.select(expr).to_series()
    except Exception as e:  # an unknown shape: leave it to Polars
        raise _NotPushed(f"a constant Polars could not evaluate alone ({e})") from None


def _constant(node: Any) -> _Value:
    """A scalar constant of the expression."""
    if not isinstance(node, dict):
        raise _NotPushed(f"{node!r}")
    lit = node.get("Literal")
    if isinstance(lit, dict) and "Scalar" in lit:
        return _scalar_value(lit["Scalar"])
    if isinstance(lit, dict) and "Dyn" in lit:
        return _dyn_value(lit["Dyn"])
    if _only_literals(node):
        s = _eval_constant(node)
        if len(s) != 1:
            raise _NotPushed("a constant that is not a scalar")
        return _series_values(s)[0]
    raise _NotPushed("a comparison whose other side is not a literal")


def _list_constant(node: Any) -> List[_Value]:
    """The values of an ``is_in`` list literal."""
    import polars as pl

    if not _only_literals(node):
        raise _NotPushed("an is_in argument that is not a literal list")
    s = _eval_constant(node)
    if isinstance(s.dtype, (pl.List, pl.Array)):
        if len(s) != 1 or s[0] is None:
            raise _NotPushed("an is_in argument that is not one list")
        s = s[0]
    return _series_values(s)


# ---- columns ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    """A column reference as the comparison sees it.

    ``float_bits`` is set when Polars compares an integer column through a
    cast to a float type (53 or 24 bits of mantissa); ``date_unit`` when it
    compares a date32 column through a cast to a datetime of that unit.
    """

    name: str
    type: pa.DataType
    float_bits: Optional[int] = None
    date_unit: Optional[str] = None

    @property
    def ident(self) -> str:
        return quote_ident(self.name)


def _int_bits(t: pa.DataType) -> Tuple[int, bool]:
    return t.bit_width, pa.types.is_signed_integer(t)


_PL_INT = {
    "Int8": (8, True), "Int16": (16, True), "Int32": (32, True), "Int64": (64, True),
    "UInt8": (8, False), "UInt16": (16, False), "UInt32": (32, False), "UInt64": (64, False),
}


class _Translator:
    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.types: Dict[str, pa.DataType] = {}
        for f in schema:
            self.types.setdefault(f.name, f.type)

    # -- column references --

    def column(self, node: Any) -> _Col:
        if not isinstance(node, dict) or len(node) != 1:
            raise _NotPushed("an expression that is not a column")
        (k, v), = node.items()
        if k == "Column" and isinstance(v, str):
            if v not in self.types:
                raise _NotPushed(f"column {v!r} is not in the table")
            if [f.name for f in self.schema].count(v) != 1:
                raise _NotPushed(f"column {v!r} is ambiguous")
            return _Col(v, self.types[v])
        if k == "Cast" and isinstance(v, dict):
            inner = self.column(v.get("expr"))
            return self._cast(inner, v.get("dtype"))
        raise _NotPushed("a computed expression (only columns and literals are pushed)")

    def _cast(self, col: _Col, dtype: Any) -> _Col:
        """A column seen through a Polars cast, when the cast preserves the
        comparison exactly; else _NotPushed."""
        if col.float_bits is not None or col.date_unit is not None:
            raise _NotPushed("a cast of a cast")
        lit = dtype.get("Literal") if isinstance(dtype, dict) else None
        t = col.type
        if isinstance(lit, str):
            if lit in ("Float64", "Float32") and pa.types.is_integer(t):
                return _Col(col.name, t, float_bits=53 if lit == "Float64" else 24)
            if lit == "Float64" and pa.types.is_float32(t):
                return col  # float32 → float64 is exact and keeps the order
            if lit in _PL_INT and pa.types.is_integer(t):
                bits, signed = _int_bits(t)
                tbits, tsigned = _PL_INT[lit]
                if (signed == tsigned and tbits >= bits) or (not signed and tsigned and tbits > bits):
                    return col  # an integer widening keeps every value
        if isinstance(lit, dict) and "Decimal" in lit and pa.types.is_decimal(t):
            prec, scale = lit["Decimal"]
            if isinstance(prec, int) and isinstance(scale, int) and scale >= t.scale and prec - scale >= t.precision - t.scale:
                return col  # a wider decimal holds every value exactly
        if isinstance(lit, dict) and "Datetime" in lit and pa.types.is_date32(t):
            unit, tz = lit["Datetime"]
            if tz is not None and tz != {"inner": "UTC"} and tz != "UTC":
                raise _NotPushed("a date compared through a cast to a zoned datetime")
            if unit in _UNITS_PER_SECOND:
                # Midnight UTC of the date, compared exactly. (A date whose
                # midnight overflows the unit makes Polars' cast fail; the
                # store compares it exactly instead.)
                return _Col(col.name, t, date_unit=unit)
        raise _NotPushed(f"column {col.name!r} compared through a cast to {json.dumps(dtype)}")

    # -- literals in the column's domain --

    def literal(self, col: _Col, v: _Value) -> Any:
        """The filter-language literal for ``v`` compared with ``col``: a
        str, or a Fraction for a value strictly between two values of an
        integer-like domain that takes integer literals only (dates,
        durations); _NotPushed when no exact literal exists."""
        t = col.type
        k = v.kind
        if k == "null":
            return "NULL"
        if pa.types.is_integer(t):
            if k == "int" and col.float_bits is None:
                return str(v.value)
            if k == "int" and float(v.value) == v.value:
                v = _Value("float", float(v.value))
            if k in ("int", "float") and col.float_bits is not None and v.kind == "float":
                # float(col) op lit equals col op lit when every integer
                # of magnitude up to |lit| converts exactly (rounding is
                # monotone and |lit| is below the first inexact integer).
                bits, _ = _int_bits(t)
                if bits >= col.float_bits and abs(v.value) >= 2.0**col.float_bits:
                    raise _NotPushed(f"a comparison of {col.name!r} as a float near 2**{col.float_bits}")
                return _exact_float_text(v.value)
            raise _NotPushed(f"a {k} literal against integer column {col.name!r}")
        if pa.types.is_floating(t) and not pa.types.is_float16(t):
            if k in ("float", "int"):
                return _float_text(v.value) if k == "float" else str(v.value)
            raise _NotPushed(f"a {k} literal against float column {col.name!r}")
        if pa.types.is_decimal(t):
            if k == "decimal":
                return format(v.value, "f")
            if k == "int":
                return str(v.value)
            raise _NotPushed(f"a {k} literal against decimal column {col.name!r}")
        if pa.types.is_boolean(t):
            if k == "bool":
                return "TRUE" if v.value else "FALSE"
            raise _NotPushed(f"a {k} literal against boolean column {col.name!r}")
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            if k == "str" and _c_safe(v.value):
                return quote_string(v.value)
            raise _NotPushed(f"a {k} literal against string column {col.name!r}")
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            if k == "bytes":
                try:
                    s = v.value.decode("utf-8")
                except UnicodeDecodeError:
                    raise _NotPushed("a binary literal that is not UTF-8 text") from None
                if _c_safe(s):
                    return quote_string(s)
            raise _NotPushed(f"a {k} literal against binary column {col.name!r}")
        if pa.types.is_date32(t):
            if k == "date" and col.date_unit is None:
                return _date_text(v.value)
            if k == "datetime" and col.date_unit is not None:
                days = v.value / 86_400
                return _date_text(int(days)) if days.denominator == 1 else days
            raise _NotPushed(f"a {k} literal against date column {col.name!r}")
        if pa.types.is_date64(t):
            # Polars reads date64 as Datetime("ms"); the store takes raw ms.
            if k == "datetime":
                ms = v.value * 1000
                return str(int(ms)) if ms.denominator == 1 else ms
            raise _NotPushed(f"a {k} literal against date64 column {col.name!r}")
        if pa.types.is_timestamp(t):
            if k == "datetime":
                iso = _iso_timestamp(v.value)
                if iso is not None:
                    return quote_string(iso)
                raw = v.value * _UNITS_PER_SECOND[t.unit]
                if raw.denominator == 1:
                    return str(int(raw))
                raise _NotPushed(f"a timestamp literal outside years 1-9999 for {col.name!r}")
            raise _NotPushed(f"a {k} literal against timestamp column {col.name!r}")
        if pa.types.is_time(t):
            if k == "time" and 0 <= v.value < 86_400 * 10**9:
                s, ns = divmod(v.value, 10**9)
                return quote_string(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ns:09d}")
            raise _NotPushed(f"a {k} literal against time column {col.name!r}")
        if pa.types.is_duration(t):
            if k == "duration":
                raw = v.value * _UNITS_PER_SECOND[t.unit]
                return str(int(raw)) if raw.denominator == 1 else raw
            raise _NotPushed(f"a {k} literal against duration column {col.name!r}")
        raise _NotPushed(f"column {col.name!r} of type {t} (only IS NULL / IS NOT NULL are pushed)")

    def any_literal(self, col: _Col) -> str:
        """Some valid literal of the column's type (for the always-false and
        always-true forms)."""
        t = col.type
        if pa.types.is_boolean(t):
            return "TRUE"
        if pa.types.is_date32(t):
            return "'1970-01-01'"
        if pa.types.is_timestamp(t):
            return "'1970-01-01'"
        if pa.types.is_time(t):
            return "'00:00:00'"
        if (
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
        ):
            return "''"
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_date64(t) or pa.types.is_duration(t):
            return "0"
        raise _NotPushed(f"column {col.name!r} of type {t}")

    def false_unless_null(self, col: _Col) -> str:
        """False on every row where ``col`` is not null, null where it is."""
        a = self.any_literal(col)
        return f"({col.ident} = {a} AND {col.ident} <> {a})"

    def true_unless_null(self, col: _Col) -> str:
        """True on every row where ``col`` is not null, null where it is."""
        a = self.any_literal(col)
        return f"({col.ident} = {a} OR {col.ident} <> {a})"

    def compare(self, col: _Col, op: str, v: _Value) -> str:
        lit = self.literal(col, v)
        if isinstance(lit, str):
            return f"{col.ident} {op} {lit}"
        # A value strictly between two integers of the domain (dates and
        # durations take integer literals only): compare with a neighbour.
        floor, ceil = math.floor(lit), math.ceil(lit)
        if op in ("<", "<="):
            return f"{col.ident} <= {self._int_literal(col, floor)}"
        if op in (">", ">="):
            return f"{col.ident} >= {self._int_literal(col, ceil)}"
        return self.false_unless_null(col) if op == "=" else self.true_unless_null(col)

    def _int_literal(self, col: _Col, n: int) -> str:
        if pa.types.is_date32(col.type):
            return _date_text(n)
        return str(n)

    # -- expressions: (text, three_valued_exact) --

    def expr(self, node: Any) -> Tuple[str, bool]:
        if not isinstance(node, dict) or len(node) != 1:
            raise _NotPushed(f"{node!r}")
        (k, v), = node.items()
        if k == "Column":
            col = self.column(node)
            if pa.types.is_boolean(col.type):
                return f"{col.ident} = TRUE", True
            raise _NotPushed(f"non-boolean column {col.name!r} used as a predicate")
        if k == "Literal":
            c = _constant(node)
            if c.kind == "bool":
                return self.const(bool(c.value)), True
            if c.kind == "null":
                return self.const(False), False  # keeps no row, like a null predicate
            raise _NotPushed(f"a {c.kind} literal used as a predicate")
        if k == "Alias" and isinstance(v, list) and v:
            return self.expr(v[0])
        if k == "BinaryExpr" and isinstance(v, dict):
            return self.binary(v)
        if k == "Function" and isinstance(v, dict):
            return self.function(v)
        if k == "Ternary" and isinstance(v, dict):
            return self.ternary(v)
        raise _NotPushed(f"a {k} expression")

    def binary(self, v: Dict[str, Any]) -> Tuple[str, bool]:
        op = v.get("op")
        left, right = v.get("left"), v.get("right")
        if op in ("And", "LogicalAnd", "Or", "LogicalOr"):
            (lt, le), (rt, re_) = self.expr(left), self.expr(right)
            word = "AND" if op in ("And", "LogicalAnd") else "OR"
            return f"({lt} {word} {rt})", le and re_
        if op in _OPS or op in ("EqValidity", "NotEqValidity"):
            flipped = not _is_column_like(left) and _is_column_like(right)
            col = self.column(right if flipped else left)
            val = _constant(left if flipped else right)
            if op == "EqValidity" or op == "NotEqValidity":
                eq = op == "EqValidity"
                if val.kind == "null":
                    return f"{col.ident} IS {'' if eq else 'NOT '}NULL", True
                cmp = self.compare(col, "=" if eq else "<>", val)
                # Null never equals a value here, and never is "unequal"
                # as unknown: false (eq_missing) or true (ne_missing).
                if eq:
                    return f"({cmp} AND {col.ident} IS NOT NULL)", True
                return f"({cmp} OR {col.ident} IS NULL)", True
            sql_op = _OPS[op]
            if flipped:
                sql_op = _FLIP[sql_op]
            if val.kind == "null":
                self.any_literal(col)  # only a comparable column takes "= NULL"
                return f"{col.ident} = NULL", True  # null on every row, as in Polars
            return self.compare(col, sql_op, val), True
        raise _NotPushed(f"the operator {op}")

    def function(self, v: Dict[str, Any]) -> Tuple[str, bool]:
        fn = v.get("function")
        args = v.get("input") or []
        b = fn.get("Boolean") if isinstance(fn, dict) else None
        if b in ("IsNull", "IsNotNull") and len(args) == 1:
            col = self.column(args[0])
            return f"{col.ident} IS {'NOT ' if b == 'IsNotNull' else ''}NULL", True
        if b == "Not" and len(args) == 1:
            text, exact = self.expr(args[0])
            if not exact:
                raise _NotPushed("NOT of a part that is exact only as a filter")
            return f"NOT {text}" if _outer_group(text) else f"NOT ({text})", True
        if isinstance(b, dict) and "IsIn" in b and len(args) == 2:
            nulls_equal = bool((b["IsIn"] or {}).get("nulls_equal", False))
            col = self.column(args[0])
            vals = _list_constant(args[1])
            return self.is_in(col, vals, nulls_equal), True
        if isinstance(b, dict) and "IsBetween" in b and len(args) == 3:
            closed = (b["IsBetween"] or {}).get("closed", "Both")
            col = self.column(args[0])
            lo, hi = _constant(args[1]), _constant(args[2])
            if lo.kind == "null" or hi.kind == "null":
                raise _NotPushed("is_between with a null bound")
            lo_op = ">=" if closed in ("Both", "Left") else ">"
            hi_op = "<=" if closed in ("Both", "Right") else "<"
            lo_l, hi_l = self.literal(col, lo), self.literal(col, hi)
            if closed == "Both" and isinstance(lo_l, str) and isinstance(hi_l, str):
                return f"{col.ident} BETWEEN {lo_l} AND {hi_l}", True
            return f"({self.compare(col, lo_op, lo)} AND {self.compare(col, hi_op, hi)})", True
        if isinstance(fn, dict) and fn.get("StringExpr") == "StartsWith" and len(args) == 2:
            col = self.column(args[0])
            prefix = _constant(args[1])
            t = col.type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
                raise _NotPushed(f"starts_with on column {col.name!r} of type {t}")
            if prefix.kind != "str" or not _c_safe(prefix.value):
                raise _NotPushed("starts_with with a prefix that is not a plain string")
            return self.starts_with(col, prefix.value), True
        raise _NotPushed(f"the function {json.dumps(fn)}")

    def starts_with(self, col: _Col, prefix: str) -> str:
        """``s`` starts with ``prefix`` as a key range: prefix <= s <
        (the smallest string above every string with that prefix). Strings
        compare bytewise in UTF-8 on both sides, which is code point order."""
        if prefix == "":
            return self.true_unless_null(col)  # true for every string, null for null
        chars = list(prefix)
        while chars and ord(chars[-1]) == 0x10FFFF:
            chars.pop()  # no code point above: carry to the previous one
        lo = f"{col.ident} >= {quote_string(prefix)}"
        if not chars:
            return lo
        nxt = ord(chars[-1]) + 1
        if nxt == 0xD800:
            nxt = 0xE000  # surrogates are not characters
        upper = "".join(chars[:-1]) + chr(nxt)
        return f"({lo} AND {col.ident} < {quote_string(upper)})"

    def is_in(self, col: _Col, vals: Sequence[_Value], nulls_equal: bool) -> str:
        has_null = any(x.kind == "null" for x in vals)
        members: List[str] = []
        for x in vals:
            if x.kind == "null":
                continue
            lit = self.literal(col, x)
            if isinstance(lit, str):  # a value between two of the domain's matches nothing
                if lit not in members:
                    members.append(lit)
        # Polars: a null value gives null unless nulls_equal, and a null in
        # the list matches nothing but a null value (SQL's IN would be null).
        base = f"{col.ident} IN ({', '.join(members)})" if members else self.false_unless_null(col)
        if not nulls_equal:
            return base
        if has_null:
            return f"({base} OR {col.ident} IS NULL)"
        return f"({base} AND {col.ident} IS NOT NULL)"

    def ternary(self, v: Dict[str, Any]) -> Tuple[str, bool]:
        # when(P).then(A).otherwise(B) with P never null (is_null /
        # is_not_null) equals (P AND A) OR (NOT P AND B) in Kleene logic.
        # Polars writes comparisons with out-of-range literals this way.
        pred = v.get("predicate")
        f = pred.get("Function") if isinstance(pred, dict) else None
        fn = f.get("function") if isinstance(f, dict) else None
        b = fn.get("Boolean") if isinstance(fn, dict) else None
        if b not in ("IsNull", "IsNotNull") or len(f.get("input") or []) != 1:
            raise _NotPushed("a when/then/otherwise whose condition may be null")
        col = self.column(f["input"][0])
        is_null, not_null = f"{col.ident} IS NULL", f"{col.ident} IS NOT NULL"
        p, notp = (not_null, is_null) if b == "IsNotNull" else (is_null, not_null)
        terms: List[str] = []
        for cond, branch in ((p, v.get("truthy")), (notp, v.get("falsy"))):
            value = self._branch(branch, col)
            if value is True:
                terms.append(cond)
            elif value is not False:  # (cond AND FALSE) drops out of the OR
                terms.append(f"({cond} AND {value})")
        if not terms:
            return self.const(False), True
        return (terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"), True

    def _branch(self, node: Any, col: _Col) -> Any:
        """A when/then branch: True, False, or filter text (three-valued
        exact)."""
        if isinstance(node, dict) and set(node) == {"Literal"}:
            c = _constant(node)
            if c.kind == "bool":
                return bool(c.value)
            if c.kind == "null":
                self.any_literal(col)  # only a comparable column takes "= NULL"
                return f"{col.ident} = NULL"  # null on every row
        text, exact = self.expr(node)
        if not exact:
            raise _NotPushed("a branch that is exact only as a filter")
        return text

    def const(self, value: bool) -> str:
        """A predicate true (or false) on every row, never null, written with
        IS NULL on a column (the filter language also has a bare TRUE and
        FALSE: docs/REFERENCE.md, "Filter language")."""
        if not self.schema.names:
            raise _NotPushed("a constant over a table without columns")
        c = quote_ident(self.schema.names[0])
        return f"({c} IS NULL OR {c} IS NOT NULL)" if value else f"({c} IS NULL AND {c} IS NOT NULL)"


def _is_column_like(node: Any) -> bool:
    """A column, possibly under casts (the side of a comparison to bind)."""
    while isinstance(node, dict) and set(node) == {"Cast"} and isinstance(node["Cast"], dict):
        node = node["Cast"].get("expr")
    return isinstance(node, dict) and set(node) == {"Column"}


def _date_text(days: int) -> str:
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days) if -719_162 <= days <= 2_932_896 else None
    if d is None:
        return str(days)  # outside years 1-9999: the raw day number
    return quote_string(d.isoformat())


def _iso_timestamp(seconds: Fraction) -> Optional[str]:
    """ISO-8601 UTC text of an exact instant (up to 9 fraction digits), or
    None outside years 1-9999 or below a nanosecond."""
    ns = seconds * 1_000_000_000
    if ns.denominator != 1:
        return None
    ns_i = int(ns)
    s, frac = divmod(ns_i, 1_000_000_000)
    days, sod = divmod(s, 86_400)
    if not (-719_162 <= days <= 2_932_896):
        return None
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    text = f"{d.isoformat()}T{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


# ---- the public entry point ---------------------------------------------------------


@dataclass
class Translation:
    """How a Polars predicate is split between libkalam and Polars.

    ``filter`` is the filter-language text libkalam applies (None: nothing
    pushed); ``residual`` is the part of the predicate Polars must still
    apply to the rows libkalam returns (None: nothing, the filter is exact).
    ``pushed`` and ``kept`` list the top-level conjuncts on each side, as
    text; ``reasons`` says why each kept conjunct was not pushed.
    """

    filter: Optional[str]
    residual: Optional["pl.Expr"]
    pushed: List[str] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    reasons: List[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when libkalam applies the whole predicate."""
        return self.residual is None


def _conjuncts(node: Any) -> List[Any]:
    if isinstance(node, dict) and set(node) == {"BinaryExpr"}:
        b = node["BinaryExpr"]
        if isinstance(b, dict) and b.get("op") in ("And", "LogicalAnd"):
            return _conjuncts(b.get("left")) + _conjuncts(b.get("right"))
    return [node]


def _outer_group(text: str) -> bool:
    """True when ``text`` is one parenthesised group, "( … )", counting
    parentheses outside quoted literals and identifiers only."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth, quote = 0, ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    i += 1  # a doubled quote stays inside
                else:
                    quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and i < len(text) - 1:
                return False
        i += 1
    return True


def _strip_parens(text: str) -> str:
    return text[1:-1] if _outer_group(text) else text


def _rebuild(node: Any) -> "Optional[pl.Expr]":
    """A conjunct of the predicate as a Polars expression again, or None
    when its JSON form does not round-trip exactly (a NaN or infinite float
    is null in JSON; any other loss shows as a different serialization)."""
    import polars as pl

    if _has_null_float(node):
        return None
    try:
        e = pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")
        if json.loads(e.meta.serialize(format="json")) != node:
            return None
    except Exception:
        return None
    return e


def translate_predicate(predicate: "pl.Expr", schema: pa.Schema) -> Translation:
    """Splits a Polars predicate into a libkalam filter and a residual.

    The top-level conjuncts (``a & b & c``) are translated one by one; each
    one that translates exactly is pushed, the others form the residual,
    which Polars applies after libkalam (so the result is always exact).
    ``schema`` is the table's Arrow schema: literals are rendered for the
    column's stored type.
    """
    import polars as pl

    tree = json.loads(predicate.meta.serialize(format="json"))
    pushed: List[str] = []
    kept_nodes: List[Any] = []
    reasons: List[str] = []
    for node in _conjuncts(tree):
        tr = _Translator(schema)
        try:
            text, _ = tr.expr(node)
        except _NotPushed as e:
            kept_nodes.append(node)
            reasons.append(str(e))
            continue
        pushed.append(_strip_parens(text))
    filt: Optional[str] = None
    if pushed:
        # Parentheses around a conjunct that has an OR or AND of its own
        # (a string containing " OR " only costs redundant parentheses).
        filt = " AND ".join(f"({p})" if len(pushed) > 1 and (" OR " in p or " AND " in p) else p for p in pushed)
    residual: Optional[pl.Expr] = None
    kept_text: List[str] = []
    if kept_nodes:
        parts: Optional[List[pl.Expr]] = []
        for n in kept_nodes:
            part = _rebuild(n)
            if part is None:
                parts = None  # a part does not round-trip: Polars re-applies it all
                break
            parts.append(part)
        if not parts:
            residual = predicate
        else:
            residual = parts[0]
            for p in parts[1:]:
                residual = residual & p
        kept_text = [str(p) for p in (parts or [predicate])]
    return Translation(filter=filt, residual=residual, pushed=pushed, kept=kept_text, reasons=reasons)
