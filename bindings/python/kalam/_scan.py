"""Scans: a description of a read that starts a fresh libkalam stream each
time it is consumed."""

from __future__ import annotations

import ctypes
import datetime
import json
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

import pyarrow as pa

from . import _ffi
from ._stream import CStream

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import polars

    from ._db import Database

__all__ = ["Scan"]


def _unix_ms(t: datetime.datetime) -> int:
    """Unix milliseconds of a datetime; a naive one is UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


class Scan:
    """A scan of a table, a system table or one segment.

    Nothing is read until the scan is consumed, and every consumer
    (``to_table()``, iteration, ``__arrow_c_stream__`` …) starts a fresh scan
    on the store as it is at that moment, so a Scan can be handed to DuckDB,
    Polars or DataFusion and re-read. ``to_table``/``to_batches``/iteration
    react to Ctrl-C at once: KeyboardInterrupt propagates and the library
    stream is released (which cancels the scan).
    """

    def __init__(
        self,
        db: "Database",
        table: str,
        *,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        batch_rows: Optional[int] = None,
        version: "Optional[Union[int, datetime.datetime]]" = None,
        segment_id: Optional[str] = None,
        sql: Optional[str] = None,
    ) -> None:
        if isinstance(columns, str):
            raise TypeError("columns must be a list of column names, not a string")
        if segment_id is not None and (filter is not None or limit is not None or version is not None):
            raise TypeError("a segment scan takes columns and batch_rows only")
        self._db = db
        #: Qualified name of the scanned table ("app.events", "system.tables").
        self.table: str = table
        #: Projection (None: the default columns).
        self.columns: Optional[List[str]] = list(columns) if columns is not None else None
        #: Filter predicate (DESIGN §4.1), or None.
        self.filter: Optional[str] = filter
        #: Row limit, or None.
        self.limit: Optional[int] = limit
        #: Rows per batch, or None for the library's default (65 536).
        self.batch_rows: Optional[int] = batch_rows
        #: Manifest version to read (time travel): an int, or a datetime for
        #: the newest version committed at or before it (naive = UTC); None
        #: for the latest.
        self.version: "Optional[Union[int, datetime.datetime]]" = version
        #: Segment read by a segment scan, else None.
        self.segment_id: Optional[str] = segment_id
        #: Label shown in system.live_queries, or None for the generated SQL.
        self.sql: Optional[str] = sql
        self._schema: Optional[pa.Schema] = None

    def __repr__(self) -> str:
        parts = [repr(self.table)]
        for k in ("columns", "filter", "limit", "batch_rows", "version", "segment_id"):
            v = getattr(self, k)
            if v is not None:
                parts.append(f"{k}={v!r}")
        return f"kalam.Scan({', '.join(parts)})"

    # ---- starting streams ----------------------------------------------------

    def _options(self, columns: Optional[Sequence[str]] = None, use_columns: bool = False) -> tuple:
        version, at_ms = self.version, None
        if isinstance(version, datetime.datetime):
            version, at_ms = None, _unix_ms(version)
        return _ffi.make_scan_options(
            columns=columns if use_columns else self.columns,
            filter=self.filter,
            limit=self.limit,
            batch_rows=self.batch_rows,
            version=version,
            sql=self.sql,
            as_of_time_ms=at_ms,
        )

    def _start(self, columns: Optional[Sequence[str]] = None, use_columns: bool = False) -> CStream:
        L = _ffi.lib()
        handle = self._db._handle()
        opts, keep = self._options(columns, use_columns)
        stream = CStream()
        table = _ffi.encode(self.table)
        if self.segment_id is not None:
            seg = _ffi.encode(self.segment_id)
            _ffi.check(
                lambda err: L.kalam_scan_segment(
                    handle, table, seg, ctypes.byref(opts), ctypes.byref(stream.struct), err
                )
            )
        else:
            _ffi.check(lambda err: L.kalam_scan(handle, table, ctypes.byref(opts), ctypes.byref(stream.struct), err))
        del keep
        return stream

    # ---- schema ----------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The schema of the scan's result (exactly the table's Arrow types)."""
        if self._schema is None:
            stream = self._start()
            try:
                self._schema = stream.schema()
            finally:
                stream.release()
        return self._schema

    # ---- consuming -----------------------------------------------------------

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """Iterates over the batches of a fresh scan."""
        return self._start().batches()

    def to_batches(self) -> List[pa.RecordBatch]:
        """Every batch of a fresh scan, in order."""
        return list(self)

    def to_table(self) -> pa.Table:
        """The result of a fresh scan as a pyarrow Table."""
        stream = self._start()
        schema = stream.schema()
        return pa.Table.from_batches(list(stream.batches()), schema=schema)

    def to_reader(self) -> pa.RecordBatchReader:
        """A pyarrow RecordBatchReader reading a fresh scan directly from the
        library's stream (no Python per batch). Close it (or let it go) to
        release the scan."""
        return self._start().to_reader()

    def to_pandas(self, **kwargs: Any) -> "pandas.DataFrame":
        """The result as a pandas DataFrame (``kwargs`` go to
        :meth:`pyarrow.Table.to_pandas`)."""
        return self.to_table().to_pandas(**kwargs)

    def to_polars(self) -> "polars.DataFrame":
        """The result as a Polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_table())

    def count_rows(self) -> int:
        """The number of rows the scan returns, reading no user columns."""
        stream = self._start(columns=[], use_columns=True)
        return sum(b.num_rows for b in stream.batches())

    def explain(self) -> Dict[str, Any]:
        """The plan of this scan (DESIGN §4) without running it: segments
        read and pruned (with reasons), key range, merge strategy."""
        if self.segment_id is not None:
            raise TypeError("a segment scan has no plan to explain: it reads one file as stored")
        L = _ffi.lib()
        handle = self._db._handle()
        opts, keep = self._options()
        out = ctypes.c_void_p()
        table = _ffi.encode(self.table)
        _ffi.check(lambda err: L.kalam_explain(handle, table, ctypes.byref(opts), ctypes.byref(out), err))
        del keep
        text = L.take_string(out)
        return json.loads(text) if text else {}

    # ---- Arrow PyCapsule interface -------------------------------------------

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """Starts a fresh scan and returns it as an ``arrow_array_stream``
        PyCapsule. The capsule's destructor releases the stream only if no
        consumer took it (its release is still set)."""
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> object:
        """The result schema as an ``arrow_schema`` PyCapsule."""
        return self.schema.__arrow_c_schema__()
