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
from .errors import Error, InvalidArgument, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import polars

    from ._db import Database

__all__ = ["Scan", "ScanSplit", "SplitScan", "lossless_cast"]


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
        """A scan of ``table`` in ``db``; usually made by :meth:`Table.scan`
        or :meth:`Table.scan_segment`, whose parameters these are. Nothing
        is read until the scan is consumed."""
        if isinstance(columns, str):
            raise TypeError("columns must be a list of column names, not a string")
        if columns is not None:
            columns = list(columns)  # once: a generator would be used up by the check below
        if columns is not None and not all(isinstance(c, str) for c in columns):
            raise TypeError(f"columns must be a list of column names (str), got {list(columns)!r}")
        for name, value in (("filter", filter), ("sql", sql)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if segment_id is not None and (filter is not None or limit is not None or version is not None):
            raise TypeError("a segment scan takes columns and batch_rows only")
        self._db = db
        #: Qualified name of the scanned table ("app.events", "system.tables").
        self.table: str = table
        #: Projection (None: the default columns).
        self.columns: Optional[List[str]] = list(columns) if columns is not None else None
        #: Filter predicate (docs/REFERENCE.md, "Filter language"), or None.
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
        self._schema_of: Optional[pa.Schema] = None  # the table's schema _schema was planned with

    def __repr__(self) -> str:
        # Short whatever the request: long projections and filters are cut.
        parts = [repr(self.table)]
        for k in ("columns", "filter", "limit", "batch_rows", "version", "segment_id"):
            v = getattr(self, k)
            if v is None:
                continue
            if k == "columns" and len(v) > 6:
                text = "[" + ", ".join(repr(c) for c in v[:5]) + f", … {len(v) - 5} more]"
            else:
                text = repr(v)
            if len(text) > 80:
                text = text[:77] + "…"
            parts.append(f"{k}={text}")
        return f"kalam.Scan({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """Jupyter view: the request and its plan from :meth:`explain`
        (segments read and pruned with reasons, merge strategy, key range)."""
        from ._repr import scan_html

        return scan_html(self)

    # ---- starting streams ----------------------------------------------------

    def _options(self, columns: Optional[Sequence[str]] = None, use_columns: bool = False) -> tuple:
        version, at_ms = self.version, None
        if isinstance(version, datetime.datetime):
            version, at_ms = None, _unix_ms(version)
            if at_ms <= 0:
                # The library takes times after the epoch only; no version
                # is older than that anyway.
                raise NotFound(f"{self.table}: no version at or before {self.version.isoformat()}")
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
        stream = CStream(owner=self._db)
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

    # ---- splits (docs/REFERENCE.md, "Scan splits and distributed reads") ----

    def splits(self, max_splits: Optional[int] = None, target_rows: Optional[int] = None) -> List["ScanSplit"]:
        """Divides this scan into key-range tasks (:class:`ScanSplit`) that
        run anywhere a storage-only reader could open: by default about one
        per live segment of at most ~1 M rows. The splits read one committed
        version (this scan's ``version``, else the latest; hot rows are not
        part of it — flush first); their results, concatenated in order,
        equal the scan at that version row for row. A scan with a limit or of
        a system table cannot be split."""
        if self.segment_id is not None:
            raise TypeError("a segment scan cannot be split")
        L = _ffi.lib()
        handle = self._db._handle()
        opts, keep = self._options()
        so: Dict[str, int] = {}
        if max_splits is not None:
            so["max_splits"] = _ffi.int64_arg("max_splits", max_splits, 1, 2**31 - 1)
        if target_rows is not None:
            so["target_rows"] = _ffi.int64_arg("target_rows", target_rows, 1)
        text = json.dumps(so).encode() if so else None
        out = ctypes.c_void_p()
        table = _ffi.encode(self.table)
        _ffi.check(lambda err: L.kalam_scan_splits(handle, table, ctypes.byref(opts), text, ctypes.byref(out), err))
        del keep
        return [ScanSplit(json.dumps(d, separators=(",", ":"))) for d in json.loads(L.take_string(out) or "[]")]

    # ---- schema ----------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The schema of the scan's result (exactly the table's Arrow types),
        as the table is now: a column added or widened since the last call
        shows, as it does in the scan's data."""
        # Planning a scan costs ten times what the table's schema does: the
        # scan's schema is kept while the table's stays the same.
        live = self.version is None and self.segment_id is None
        current = None
        if live:
            try:
                current = table_schema(self._db, self.table)
            except Error:
                current = None  # not a table of the catalog: planned each time
        if self._schema is None or live and (current is None or self._schema_of is None
                                             or not current.equals(self._schema_of, check_metadata=True)):
            stream = self._start()
            try:
                self._schema = stream.schema()
            finally:
                stream.release()
            self._schema_of = current
        return self._schema

    # ---- consuming -----------------------------------------------------------

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """Iterates over the batches of a fresh scan."""
        return self._start().batches()

    def to_batches(self) -> List[pa.RecordBatch]:
        """Every batch of a fresh scan, in order."""
        return self._start().read_all()

    def to_table(self) -> pa.Table:
        """The result of a fresh scan as a pyarrow Table."""
        stream = self._start()
        schema = stream.schema()
        return pa.Table.from_batches(stream.read_all(), schema=schema)

    def to_reader(self) -> pa.RecordBatchReader:
        """A pyarrow RecordBatchReader reading a fresh scan directly from the
        library's stream (no Python per batch). Close it (or let it go) to
        release the scan. A failure while reading (a segment vacuumed
        under a storage-only reader, a storage error) comes from pyarrow
        as its own exception (``pyarrow.ArrowInvalid``, ``OSError``) with
        the library's message; iterating the :class:`Scan` itself, or
        :meth:`to_table`, raises the :class:`kalam.Error` subclass."""
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
        return sum(b.num_rows for b in stream.read_all())

    def explain(self) -> Dict[str, Any]:
        """The plan of this scan without running it: segments read and pruned
        (with reasons), key range, merge strategy. Every key is described in
        docs/REFERENCE.md, "Explain plans"."""
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
        PyCapsule (the Arrow PyCapsule interface, so ``pa.table(scan)``,
        ``pl.DataFrame(scan)`` and DuckDB's ``from scan`` read it).

        ``requested_schema`` (an ``arrow_schema`` capsule) selects columns:
        the stream has exactly its fields, in its order, and only those
        columns are read (they are the scan's projection). A name the scan
        cannot return is :class:`kalam.InvalidArgument` naming it (with a
        projection set on the Scan, only those columns may be requested). A
        requested type that differs from the column's is cast when the cast
        is lossless for every value of the column's type (integer and float
        widening, utf8/large_utf8/utf8_view, binary kinds, list kinds, finer
        time units, wider decimals, …); a non-nullable requested field over a
        nullable column is checked batch by batch. Any other type is
        :class:`kalam.InvalidArgument` naming the column and both types.

        The capsule's destructor releases the stream only if no consumer
        took it (its release is still set)."""
        if requested_schema is None:
            return self.to_reader().__arrow_c_stream__()
        target = pa.Schema._import_from_c_capsule(requested_schema)
        return self.reader_for_schema(target).__arrow_c_stream__()

    def reader_for_schema(self, schema: pa.Schema) -> pa.RecordBatchReader:
        """A fresh scan as a RecordBatchReader with exactly ``schema``'s
        fields (see :meth:`__arrow_c_stream__` for the rules): the requested
        names are pushed into libkalam as the projection."""
        if not isinstance(schema, pa.Schema):
            raise TypeError(f"reader_for_schema takes a pyarrow Schema, not {type(schema).__name__}")
        names = list(schema.names)
        seen = set()
        for n in names:
            if n in seen:
                raise InvalidArgument(f"requested schema for {self.table}: column {n!r} is requested twice")
            seen.add(n)
        if self.columns is not None:
            unknown = [n for n in names if n not in self.columns]
            if unknown:
                raise InvalidArgument(
                    f"requested schema for {self.table}: column {unknown[0]!r} is not in the scan's "
                    f"columns {self.columns}"
                )
        try:
            stream = self._start(columns=names, use_columns=True)
        except InvalidArgument as e:
            raise InvalidArgument(f"requested schema for {self.table}: {e}") from None
        try:
            src = stream.schema()
            cast = False
            must_check: List[int] = []  # nullable columns requested as non-nullable
            for i, (want, have) in enumerate(zip(schema, src)):
                if have.name != want.name:
                    # The store matched the name case-insensitively; the
                    # consumer asked for an exact name.
                    raise InvalidArgument(
                        f"requested schema for {self.table}: unknown column {want.name!r} (the table has {have.name!r})"
                    )
                if not want.type.equals(have.type):
                    if not lossless_cast(have.type, want.type):
                        raise InvalidArgument(
                            f"requested schema for {self.table}: column {want.name!r} of type {have.type} "
                            f"cannot be cast losslessly to {want.type}"
                        )
                    cast = True
                if have.nullable and not want.nullable:
                    must_check.append(i)
            reader = stream.to_reader()
        except BaseException:
            stream.release()
            raise
        if not cast and not must_check:
            return reader  # the library's stream itself, no Python per batch
        out = pa.schema(
            [pa.field(w.name, w.type, nullable=w.nullable, metadata=w.metadata) for w in schema],
            metadata=schema.metadata,
        )
        if not must_check:
            # pyarrow casts each batch as it is pulled, safely: a value out
            # of range of a finer time unit fails that read.
            return reader.cast(out)
        table = self.table

        def checked() -> Iterator[pa.RecordBatch]:
            with reader:
                for b in reader:
                    for i in must_check:
                        if b.column(i).null_count:
                            raise InvalidArgument(
                                f"requested schema for {table}: column {out.field(i).name!r} is requested "
                                f"non-nullable but holds a null"
                            )
                    yield b.cast(out) if cast else pa.RecordBatch.from_arrays(b.columns, schema=out)

        return pa.RecordBatchReader.from_batches(out, checked())

    def __arrow_c_schema__(self) -> object:
        """The result schema as an ``arrow_schema`` PyCapsule."""
        return self.schema.__arrow_c_schema__()


_TIME_RANK = {"s": 0, "ms": 1, "us": 2, "ns": 3}


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _is_list(t: pa.DataType) -> bool:
    # List views are left out: pyarrow 26 cannot cast a list to a list view.
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def lossless_cast(src: pa.DataType, dst: pa.DataType) -> bool:
    """True when every value of type ``src`` converts to ``dst`` without
    loss (up to range checks on finer time units, which pyarrow's safe cast
    enforces value by value)."""
    if src.equals(dst):
        return True
    if pa.types.is_dictionary(dst):
        return lossless_cast(src, dst.value_type)
    if pa.types.is_integer(src) and pa.types.is_integer(dst):
        s_signed, d_signed = pa.types.is_signed_integer(src), pa.types.is_signed_integer(dst)
        if s_signed == d_signed:
            return dst.bit_width >= src.bit_width
        return not s_signed and d_signed and dst.bit_width > src.bit_width
    if pa.types.is_integer(src) and pa.types.is_floating(dst):
        mantissa = {16: 11, 32: 24, 64: 53}[dst.bit_width]
        value_bits = src.bit_width - (1 if pa.types.is_signed_integer(src) else 0)
        return value_bits <= mantissa
    if pa.types.is_floating(src) and pa.types.is_floating(dst):
        return dst.bit_width >= src.bit_width
    if _is_string(src) and _is_string(dst):
        return True
    if _is_binary(src) and _is_binary(dst):
        return True
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst):
        return dst.scale >= src.scale and dst.precision - dst.scale >= src.precision - src.scale
    if pa.types.is_date32(src) and pa.types.is_date64(dst):
        return True
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst):
        return src.tz == dst.tz and _TIME_RANK[dst.unit] >= _TIME_RANK[src.unit]
    if pa.types.is_time(src) and pa.types.is_time(dst):
        return _TIME_RANK[dst.unit] >= _TIME_RANK[src.unit]
    if pa.types.is_duration(src) and pa.types.is_duration(dst):
        return _TIME_RANK[dst.unit] >= _TIME_RANK[src.unit]
    if _is_list(src) and _is_list(dst):
        return lossless_cast(src.value_type, dst.value_type)
    if pa.types.is_struct(src) and pa.types.is_struct(dst):
        if [f.name for f in src] != [f.name for f in dst]:
            return False
        return all(lossless_cast(a.type, b.type) and (b.nullable or not a.nullable) for a, b in zip(src, dst))
    return False


class ScanSplit:
    """One split of a scan (:meth:`Scan.splits`): a key range of one
    committed version of a table, the segments it needs, the projection and
    the filter. Small and picklable (it holds its JSON form, never
    credentials); :meth:`scan` runs it in any process."""

    def __init__(self, spec: str) -> None:
        #: The split as the library describes it (kalam_scan_splits).
        self.spec: str = spec
        try:
            d = json.loads(spec)
            #: Storage root, table ("ns.t") and manifest version it reads.
            self.storage: str = d["storage"]
            self.table: str = d["table"]
            self.version: int = int(d["version"])
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidArgument(f"not a scan split (Scan.splits makes them): {e!r}") from None
        #: Ids of the segments it reads.
        self.segments: List[str] = list(d.get("segments") or [])
        #: Rows of those segments (an upper bound of what it returns).
        self.rows: int = int(d.get("rows") or 0)

    def __reduce__(self) -> Any:
        return (ScanSplit, (self.spec,))

    def __repr__(self) -> str:
        return f"<kalam.ScanSplit {self.table} v{self.version} {len(self.segments)} segment(s), <= {self.rows} rows>"

    def scan(self, storage_options: Optional[Dict[str, Any]] = None) -> "Scan":
        """A :class:`Scan` of this split, read through a storage-only reader
        of the split's storage (``storage_options`` for credentials)."""
        return SplitScan(self, storage_options)


class SplitScan(Scan):
    """The scan of one :class:`ScanSplit`; every consumption opens its own
    storage-only reader, which the stream closes with itself."""

    def __init__(self, split: ScanSplit, storage_options: Optional[Dict[str, Any]] = None) -> None:
        d = json.loads(split.spec)
        super().__init__(None, split.table, columns=d.get("columns"), filter=d.get("filter") or None,  # type: ignore[arg-type]
                         version=split.version)
        self.split = split
        self.storage_options = dict(storage_options or {})

    def _start(self, columns: Optional[Sequence[str]] = None, use_columns: bool = False) -> CStream:
        L = _ffi.lib()
        spec = self.split.spec
        if use_columns:
            d = json.loads(spec)
            d["columns"] = list(columns or [])
            spec = json.dumps(d)
        opts = json.dumps({"storage_options": self.storage_options} if self.storage_options else {}).encode()
        stream = CStream()
        text = _ffi.encode(spec)
        _ffi.check(lambda err: L.kalam_scan_split(text, opts, ctypes.byref(stream.struct), err))
        return stream

    def explain(self) -> Dict[str, Any]:
        """The split itself: a split runs a plan of its own key range."""
        return json.loads(self.split.spec)

    def splits(self, max_splits: Optional[int] = None, target_rows: Optional[int] = None) -> List["ScanSplit"]:
        """Not available: raises TypeError (a split is one key range
        already; split the table's scan instead)."""
        raise TypeError("a split cannot be split again")


def table_schema(db: "Database", qname: str) -> pa.Schema:
    """The user columns' schema of table ``qname`` as the library has it now
    (``kalam_table_schema``, no cache)."""
    L = _ffi.lib()
    h = db._handle()
    out = _ffi.ArrowSchema()
    tname = _ffi.encode(qname)
    _ffi.check(lambda err: L.kalam_table_schema(h, tname, ctypes.byref(out), err))
    return pa.Schema._import_from_c(ctypes.addressof(out))
