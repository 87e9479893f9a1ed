"""Table maintenance helpers: the per-segment column statistics of the
manifest (``column_stats``) as typed Arrow columns, and the history schema."""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.types as pat

__all__ = ["HISTORY_SCHEMA", "history_table", "stats_array", "segment_stats_columns"]

#: Schema of :meth:`kalam.Table.history`.
HISTORY_SCHEMA = pa.schema(
    [
        pa.field("version", pa.uint64(), nullable=False),
        pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("operation", pa.utf8(), nullable=False),
        pa.field("segments_added", pa.uint64(), nullable=False),
        pa.field("segments_removed", pa.uint64(), nullable=False),
    ]
)


def history_table(entries: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The history JSON of kalam_table_history as a :data:`HISTORY_SCHEMA` table."""
    cols = {
        "version": [int(e["version"]) for e in entries],
        "time": pa.array([int(e["time"]) for e in entries], pa.int64()).view(pa.timestamp("ms", tz="UTC")),
        "operation": [str(e["operation"]) for e in entries],
        "segments_added": [int(e["segments_added"]) for e in entries],
        "segments_removed": [int(e["segments_removed"]) for e in entries],
    }
    return pa.table(cols, schema=HISTORY_SCHEMA)


def _is_int(v: Any) -> bool:
    # bool is an int in Python, but a statistic true/false is no number.
    return isinstance(v, int) and not isinstance(v, bool)


_INT_RANGES = {
    pa.int8(): (-(2**7), 2**7 - 1),
    pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
    pa.uint8(): (0, 2**8 - 1),
    pa.uint16(): (0, 2**16 - 1),
    pa.uint32(): (0, 2**32 - 1),
    pa.uint64(): (0, 2**64 - 1),
}


def _float32_exact(x: float) -> bool:
    try:
        return struct.unpack("f", struct.pack("f", x))[0] == x
    except OverflowError:
        return False


def _exact(values: List[Any], typ: pa.DataType) -> Optional[pa.Array]:
    """``values`` (JSON scalars or None) as an array of ``typ`` when every
    one converts without loss, else None."""
    vals = [v for v in values if v is not None]
    if typ in _INT_RANGES:
        lo, hi = _INT_RANGES[typ]
        if all(_is_int(v) and lo <= v <= hi for v in vals):
            return pa.array(values, typ)
        return None
    if pat.is_floating(typ) and not pat.is_float16(typ):
        # JSON may spell an integral float as an integer; it converts when the
        # float holds exactly that number.
        if not all((_is_int(v) or isinstance(v, float)) and float(v) == v for v in vals):
            return None
        if pat.is_float32(typ) and not all(_float32_exact(float(v)) for v in vals):
            return None
        return pa.array([None if v is None else float(v) for v in values], typ)
    if pat.is_boolean(typ):
        return pa.array(values, typ) if all(isinstance(v, bool) for v in vals) else None
    if pat.is_string(typ) or pat.is_large_string(typ):
        return pa.array(values, typ) if all(isinstance(v, str) for v in vals) else None
    # Temporal statistics are the raw integer in the column's unit: build an
    # integer array of the same width and reinterpret it.
    if pat.is_date32(typ) or pat.is_time32(typ):
        width = pa.int32()
    elif pat.is_date64(typ) or pat.is_time64(typ) or pat.is_timestamp(typ) or pat.is_duration(typ):
        width = pa.int64()
    else:
        return None
    ints = _exact(values, width)
    return None if ints is None else ints.view(typ)


def stats_array(values: List[Any], typ: pa.DataType) -> pa.Array:
    """A min or max statistics column: typed as the user column ``typ`` when
    every value converts exactly, else utf8 holding each value's JSON text."""
    arr = _exact(values, typ)
    if arr is not None:
        return arr
    return pa.array([None if v is None else json.dumps(v) for v in values], pa.utf8())


def segment_stats_columns(
    schema: pa.Schema,
    segment_ids: Sequence[str],
    manifest: Mapping[str, Any],
    names_by_version: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> List[Tuple[str, pa.Array]]:
    """The ``<col>_min``, ``<col>_max`` and ``<col>_null_count`` columns for
    the segments ``segment_ids`` (in that order), for every user column of
    ``schema`` that has statistics in some segment of ``manifest``. A
    segment's statistics are keyed by the names it was written with:
    ``names_by_version`` (column → schema version → name, from the table
    info) finds a renamed column's, and none of a column added after the
    segment (a later column of a dropped one's name is another column). A
    segment the manifest does not know, or without statistics for a column,
    gets nulls."""
    by_id: Dict[str, Mapping[str, Any]] = {}
    version_of: Dict[str, str] = {}
    for seg in manifest.get("segments") or []:
        by_id[seg["id"]] = seg.get("column_stats") or {}
        version_of[seg["id"]] = str(seg.get("schema_version"))
    out: List[Tuple[str, pa.Array]] = []
    for field in schema:
        names = (names_by_version or {}).get(field.name)

        def stats_of(sid: str) -> Optional[Mapping[str, Any]]:
            stored = field.name if names is None else names.get(version_of.get(sid, ""))
            return None if stored is None else by_id.get(sid, {}).get(stored)

        if all(stats_of(sid) is None for sid in by_id):
            continue
        per_seg = [stats_of(sid) for sid in segment_ids]
        mins = [None if st is None else st.get("min") for st in per_seg]
        maxs = [None if st is None else st.get("max") for st in per_seg]
        nulls = [None if st is None else st.get("null_count") for st in per_seg]
        out.append((f"{field.name}_min", stats_array(mins, field.type)))
        out.append((f"{field.name}_max", stats_array(maxs, field.type)))
        out.append((f"{field.name}_null_count", pa.array(nulls, pa.uint64())))
    return out
