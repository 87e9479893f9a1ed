"""Database and Table: the catalog and write API over libkalam's C ABI."""

from __future__ import annotations

import builtins
import ctypes
import datetime
import json
import os
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import pyarrow.dataset

from . import _ffi
from ._convert import DataLike, SchemaLike, as_reader, as_schema, infer_schema, is_schema_like, keys_as_reader
from ._scan import Scan, table_schema
from ._stats import history_table, segment_stats_columns
from .errors import AlreadyExists, Closed, Error, InvalidArgument, NotFound

__all__ = ["open", "Database", "Table"]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: Default retention of :meth:`Table.vacuum`: 7 days, in milliseconds.
DEFAULT_VACUUM_RETENTION_MS = 7 * 24 * 3600 * 1000


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def qualify(name: str) -> str:
    """The qualified form of a table name: lower-cased, ``default.`` added to
    a bare name. The library validates the parts."""
    if not isinstance(name, str):
        raise TypeError(f"table name must be a str, not {type(name).__name__}")
    n = name.lower()
    return n if "." in n else "default." + n


def _system_name(name: str) -> str:
    n = name.lower()
    return n if n.startswith("system.") else "system." + n


def open(
    path: Optional[PathLike] = None,
    read_only: bool = False,
    session_id: Optional[str] = None,
    *,
    storage: Optional[str] = None,
    storage_options: Optional[Mapping[str, Any]] = None,
    **options: Any,
) -> "Database":
    """Opens (creating it if missing) the store at directory ``path``.

    ``storage`` puts the store's ``storage/`` elsewhere: a path or
    ``s3://bucket/prefix`` (see docs/REFERENCE.md, "Object storage"), with
    ``storage_options``
    (``endpoint``, ``region``, ``access_key_id``, ``secret_access_key``,
    ``session_token``, ``allow_http``; the ``AWS_*`` environment variables
    fill what is missing). With no ``path``, ``storage=URI,
    read_only=True`` opens a storage-only reader: every read works on the
    cold data storage holds, on any machine (else :class:`kalam.InvalidArgument`).
    ``options`` are the other kalam_open options: ``create_if_missing``
    (default True), ``max_concurrent_scans``, ``node_id``, ``recover``. The
    returned :class:`Database` is a context manager that closes on exit.
    """
    return Database(path, read_only=read_only, session_id=session_id, storage=storage,
                    storage_options=storage_options, **options)


class Database:
    """An open libkalam store. Thread-safe: any method may be called from
    several threads at once. Use :func:`kalam.open` to create one.

    :meth:`close` (or ``with``) gives the handle back and fails its open
    streams. A Database that is garbage-collected without being closed is
    detached instead: streams it opened that live on (a reader, an Arrow
    stream moved into DuckDB or Polars) read to their end, and the store
    closes after the last of them."""

    def __init__(
        self,
        path: Optional[PathLike] = None,
        read_only: bool = False,
        session_id: Optional[str] = None,
        *,
        storage: Optional[str] = None,
        storage_options: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> None:
        L = _ffi.lib()
        self._ptr: Optional[int] = None
        self._lock = threading.Lock()
        if not isinstance(read_only, bool):
            # "no" is truthy: a string here opened the store read-only.
            raise TypeError(f"read_only must be True or False, not {read_only!r}")
        if path is None and (storage is None or not read_only):
            raise InvalidArgument("kalam.open without a path needs storage=... and read_only=True (a storage-only reader)")
        #: The store's root directory, as given (None for a storage-only reader).
        self.path: Optional[str] = os.fsdecode(path) if path is not None else None
        #: Where storage/ lives when given (a path or s3://bucket/prefix).
        self.storage: Optional[str] = storage
        #: True when opened read-only.
        self.read_only: bool = bool(read_only)
        opts: Dict[str, Any] = dict(options)
        if read_only:
            opts["read_only"] = True
        if session_id is not None:
            opts["session_id"] = session_id
        if storage is not None:
            opts["storage"] = storage
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise TypeError(f"storage_options must be a mapping (endpoint, region, ...), not {builtins.type(storage_options).__name__}")
        if storage_options:
            opts["storage_options"] = dict(storage_options)
        # Kept for engines that read segments on object storage themselves
        # (to_pyarrow_dataset); never shown in reprs.
        self._storage_options: Dict[str, Any] = dict(storage_options or {})
        #: The session id given to open (None: a UUID chosen by the library).
        self.session_id: Optional[str] = session_id
        text = _options_json("open", opts)
        out = ctypes.c_void_p()
        root = _ffi.encode(self.path) if self.path is not None else None
        _ffi.check(lambda err: L.kalam_open(root, text, ctypes.byref(out), err))
        self._ptr = out.value

    # ---- lifecycle -----------------------------------------------------------

    def _handle(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise Closed(f"database {self.path or self.storage!r} is closed")
        return ptr

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._ptr is None

    def close(self) -> None:
        """Closes the store. Idempotent. Scans still open fail with
        :class:`kalam.Closed` on their next read; every later call on this
        object or its tables that reaches the store raises
        :class:`kalam.Closed`. A table's metadata snapshot already read
        (:attr:`Table.info`, ``schema``, ``version``, …) stays readable as it
        was; ``refresh()`` raises."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            L = _ffi.lib()
            _ffi.check(lambda err: L.kalam_close(ptr, err))

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned handle would keep the store's RocksDB lock until exit,
        # so it is given back here — detached, not closed: a stream it
        # opened may live on without it (``kalam.open(p).table(t).scan()``
        # read through ``to_reader()`` or moved into DuckDB or Polars as an
        # Arrow PyCapsule), and kalam_close would fail it. kalam_detach
        # lets such streams finish; RocksDB closes after the last one.
        try:
            ptr = getattr(self, "_ptr", None)
            if ptr is None:
                return
            self._ptr = None
            L = _ffi.lib()
            _ffi.check(lambda err: L.kalam_detach(ptr, err))
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.read_only else "open")
        where = self.path if self.path is not None else f"storage={self.storage}"  # a storage-only reader
        return f"<kalam.Database {where!r} {state}>"

    def _repr_html_(self) -> str:
        """Jupyter view: path, state and the tables with their segment and
        row counts (see :func:`kalam._repr.database_html`)."""
        from ._repr import database_html

        return database_html(self)

    # ---- catalog -------------------------------------------------------------

    def create_namespace(self, name: str, exist_ok: bool = False) -> None:
        """Creates namespace ``name``; :class:`kalam.AlreadyExists` if it
        exists, unless ``exist_ok``."""
        L = _ffi.lib()
        h = self._handle()
        ns = _ffi.encode(name)
        try:
            _ffi.check(lambda err: L.kalam_create_namespace(h, ns, err))
        except AlreadyExists:
            if not exist_ok:
                raise

    def namespaces(self) -> List[str]:
        """Names of every namespace, ``default`` included."""
        return sorted(self.system("namespaces").column("namespace").to_pylist())

    def create_table(
        self,
        name: str,
        schema: Union[SchemaLike, DataLike],
        type: str = "shared",
        primary_key: Optional[Union[str, Sequence[str]]] = None,
        options: Optional[Mapping[str, Any]] = None,
        exist_ok: bool = False,
    ) -> "Table":
        """Creates table ``name`` ("ns.table" or "table" in namespace default).

        ``schema`` is either a schema — a pyarrow Schema (or anything with
        ``__arrow_c_schema__``), a dict of name → pyarrow type, a list of
        fields — or data: a pyarrow Table/RecordBatch/RecordBatchReader, a
        pandas or Polars DataFrame, any ``__arrow_c_stream__`` object. From
        data the schema is inferred (dictionary/categorical columns become
        their value type; large_utf8 and utf8_view become utf8) and the rows
        are appended in the same call (when they cannot be, the table this
        call made is dropped again and the error raised; should that drop
        fail too, on a full disk say, the error's note says the table
        stays, empty); key columns become non-nullable.
        ``type`` is "shared" or "user".
        ``primary_key`` (a column name or a list) becomes the ``primary_key``
        option; ``options`` are the other table options (values turned into
        strings). With ``exist_ok`` an existing table is returned instead of
        :class:`kalam.AlreadyExists` (and data is upserted into it).
        """
        L = _ffi.lib()
        h = self._handle()
        rows: Optional[pa.RecordBatchReader] = None
        if is_schema_like(schema):
            sch = as_schema(schema)
        else:
            rows = as_reader(schema)
            sch = infer_schema(rows.schema)
            # Key columns (and the user column) cannot hold nulls: say so in
            # the schema instead of leaving them nullable as inferred.
            keys = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
            if type == "user":
                keys.append(str((options or {}).get("user_column", "user_id")))
            sch = pa.schema([f.with_nullable(False) if f.name in keys else f for f in sch])
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a mapping of option -> value, not {builtins.type(options).__name__}")
        if primary_key is not None and not isinstance(primary_key, str) and not (
            isinstance(primary_key, Sequence) and all(isinstance(p, str) for p in primary_key)
        ):
            raise TypeError(f"primary_key must be a column name or a list of them, not {primary_key!r}")
        opts: Dict[str, str] = {}
        for k, v in (options or {}).items():
            opts[str(k)] = v if isinstance(v, str) else json.dumps(v) if isinstance(v, bool) else str(v)
        if primary_key is not None:
            pk = primary_key if isinstance(primary_key, str) else ",".join(primary_key)
            if "primary_key" in opts and opts["primary_key"] != pk:
                raise InvalidArgument(
                    f"primary_key={pk!r} conflicts with options['primary_key']={opts['primary_key']!r}"
                )
            opts["primary_key"] = pk
        c_schema = _ffi.ArrowSchema()
        sch._export_to_c(ctypes.addressof(c_schema))
        tname = _ffi.encode(name)
        ttype = _ffi.encode(type)
        text = _options_json("create_table", opts)
        created = True
        try:
            _ffi.check(lambda err: L.kalam_create_table(h, tname, ttype, ctypes.byref(c_schema), text, err))
        except AlreadyExists:
            if not exist_ok:
                raise
            created = False
        finally:
            if c_schema.release:  # consumed by contract; never leak if it was not
                _ffi.SCHEMA_RELEASE(c_schema.release)(ctypes.byref(c_schema))
        t = Table(self, qualify(name))
        if rows is not None:
            try:
                t.append(rows)
            except BaseException as exc:
                # The call failed: a table it made stays no more than its
                # rows do (a retry would meet AlreadyExists).
                if created:
                    try:
                        self.drop_table(name)
                    except Error as drop_exc:
                        # It stays (a full disk refuses the drop too): say
                        # so rather than let a retry meet AlreadyExists.
                        add_note = getattr(exc, "add_note", None)  # Python 3.11+
                        if add_note is not None:
                            add_note(
                                f"the table {qualify(name)!r} was created, and dropping it again failed "
                                f"({drop_exc}): it exists, empty; drop it or append to it"
                            )
                raise
        return t

    def table(self, name: str) -> "Table":
        """The table ``name``; :class:`kalam.NotFound` (a KeyError) if missing."""
        return Table(self, qualify(name)).refresh()

    def __getitem__(self, name: str) -> "Table":
        return self.table(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return qualify(name) in self.tables()

    def drop_table(self, name: str) -> None:
        """Drops a user table and its files. Once the drop has committed it
        succeeds: a file that cannot be removed then (a full or read-only
        disk) stays until the store is next opened."""
        L = _ffi.lib()
        h = self._handle()
        tname = _ffi.encode(name)
        _ffi.check(lambda err: L.kalam_drop_table(h, tname, err))

    def tables(self) -> List[str]:
        """Qualified names of every user table, sorted: ``["app.events", ...]``."""
        t = self.system("tables", filter="type != 'system'", columns=["namespace", "table_name"])
        return sorted(f"{ns}.{n}" for ns, n in zip(t.column("namespace").to_pylist(), t.column("table_name").to_pylist()))

    def system(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> pa.Table:
        """A system table (``"tables"`` or ``"system.tables"``, ``live_queries``,
        ``namespaces``, ``manifests``, ``segments``) as a pyarrow Table;
        projection, filter and limit apply as for any scan."""
        return self.scan_system(name, columns=columns, filter=filter, limit=limit).to_table()

    def scan_system(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Scan:
        """A :class:`Scan` of a system table (each consumption re-reads it)."""
        if not isinstance(name, str):
            raise TypeError(f"a system table name is a str, not {builtins.type(name).__name__}")
        return Scan(self, _system_name(name), columns=columns, filter=filter, limit=limit)

    def scan(self, table: str, **kwargs: Any) -> Scan:
        """Shorthand for ``db.table(table).scan(**kwargs)`` (also for system tables)."""
        if qualify(table).startswith("system."):
            return Scan(self, qualify(table), **kwargs)
        return self.table(table).scan(**kwargs)



def _is_float(v: Any) -> bool:
    """Whether v is a Python or NumPy floating-point number."""
    if isinstance(v, float):
        return True
    t = builtins.type(v)
    return t.__module__ == "numpy" and t.__name__.startswith("float")

class Table:
    """A user or system table. Obtained from :meth:`Database.table` or
    :meth:`Database.create_table`.

    Its metadata (:attr:`info`: schema, type, options, key, version, hot
    rows) is one snapshot read from the library (``kalam_table_info``) and
    cached; this Table's own writes and maintenance refresh it, and
    :meth:`refresh` re-reads it after changes made elsewhere (another Table
    object, another handle). Scans and writes always see the store as it is.
    """

    def __init__(self, db: Database, qualified_name: str) -> None:
        self._db = db
        self._qname = qualified_name
        ns, _, name = qualified_name.partition(".")
        self._namespace = ns
        self._name = name
        self._info: Optional[Dict[str, Any]] = None
        self._schema: Optional[pa.Schema] = None

    def __repr__(self) -> str:
        return f"<kalam.Table {self._qname}>"

    def _repr_html_(self) -> str:
        """Jupyter view: schema (key columns marked), type, options, live
        rows, segments and hot rows (see :func:`kalam._repr.table_html`)."""
        from ._repr import table_html

        return table_html(self)

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """A full scan of the table as an Arrow PyCapsule stream, so that
        ``duckdb.sql("select … from t")``, ``pa.table(t)`` and
        ``pl.DataFrame(t)`` read it; each call is a fresh scan.
        ``requested_schema`` selects and casts columns as in
        :meth:`kalam.Scan.__arrow_c_stream__`."""
        return self.scan().__arrow_c_stream__(requested_schema)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and other._db is self._db and other._qname == self._qname

    def __hash__(self) -> int:
        return hash((id(self._db), self._qname))

    # ---- metadata ----------------------------------------------------------------

    def refresh(self) -> "Table":
        """Re-reads the table's metadata (:attr:`info`, :attr:`schema`) from
        the library; :class:`kalam.NotFound` if the table is gone. Returns self."""
        L = _ffi.lib()
        h = self._db._handle()
        out = ctypes.c_void_p()
        tname = _ffi.encode(self._qname)
        _ffi.check(lambda err: L.kalam_table_info(h, tname, ctypes.byref(out), err))
        info = json.loads(L.take_string(out) or "{}")
        schema_out = _ffi.ArrowSchema()
        _ffi.check(lambda err: L.kalam_table_schema(h, tname, ctypes.byref(schema_out), err))
        self._schema = pa.Schema._import_from_c(ctypes.addressof(schema_out))
        self._info = info
        return self

    def _live_schema(self) -> pa.Schema:
        """The table's schema as the library has it now, for converting the
        values of a write. The cached :attr:`schema` may predate a change
        made through another handle or Table object (a widened column), and
        Python values converted to the old type lose what the new one holds
        (0.1 stored through float32)."""
        return table_schema(self._db, self._qname)

    @property
    def info(self) -> Dict[str, Any]:
        """The table's metadata (``kalam_table_info``), cached: ``namespace``,
        ``table_name``, ``type``, ``user_column`` (or None), ``primary_key``,
        ``key_columns``, ``options``, ``created_at`` (Unix ms),
        ``schema_version``, ``version`` (manifest), ``hot_rows`` (unflushed
        row versions), ``columns`` (name, field_id, type as an Arrow format
        string, nullable, key) and ``background_error`` (the last failure of
        an automatic flush or compaction, or None)."""
        if self._info is None:
            self.refresh()
        assert self._info is not None
        return self._info

    @property
    def db(self) -> Database:
        """The Database this table belongs to."""
        return self._db

    @property
    def name(self) -> str:
        """The table's name without namespace."""
        return self._name

    @property
    def namespace(self) -> str:
        """The table's namespace."""
        return self._namespace

    @property
    def qualified_name(self) -> str:
        """``namespace.name``."""
        return self._qname

    @property
    def schema(self) -> pa.Schema:
        """The user columns' Arrow schema (cached with :attr:`info`): every
        column a scan can ask for. ``system.tables`` has two that a scan
        returns only when named (``schema_version``, ``schema``), so its
        ``scan()`` without ``columns`` has five of these seven."""
        if self._schema is None:
            self.refresh()
        assert self._schema is not None
        return self._schema

    @property
    def type(self) -> str:
        """``"shared"``, ``"user"`` or ``"system"``."""
        return str(self.info["type"])

    @property
    def options(self) -> Dict[str, str]:
        """The table options (``primary_key``, ``compression``, …) as strings."""
        return dict(self.info["options"])

    @property
    def created_at(self) -> datetime.datetime:
        """Creation time (a timezone-aware datetime, UTC)."""
        return datetime.datetime.fromtimestamp(self.info["created_at"] / 1000, tz=datetime.timezone.utc)

    @property
    def primary_key(self) -> List[str]:
        """The primary-key columns (empty when the table has none)."""
        return list(self.info["primary_key"])

    @property
    def key_columns(self) -> List[str]:
        """The columns a delete takes, as the library defines the row key: the
        user column (user tables), then the primary key, or ``_seq`` when there
        is no primary key."""
        return list(self.info["key_columns"])

    @property
    def version(self) -> int:
        """The manifest version of the cached metadata (1 on create, +1 per
        commit); :meth:`refresh` for changes made elsewhere."""
        return int(self.info["version"])

    @property
    def hot_rows(self) -> int:
        """Unflushed row versions (tombstones included) at the last refresh."""
        return int(self.info["hot_rows"])

    # ---- writes ----------------------------------------------------------------

    def append(self, data: DataLike) -> int:
        """Appends (upserts) rows; returns the number written.

        ``data``: pyarrow Table/RecordBatch/RecordBatchReader, pandas or
        Polars DataFrame, any ``__arrow_c_stream__``/``__arrow_c_array__``
        object. Columns match by name. A reader is streamed to the library
        batch by batch, never materialised.
        """
        try:
            return self._write("kalam_append", as_reader(data, self._live_schema))
        finally:
            # Like write: the metadata (schema included, which a dict's
            # column types were read from) is read again when next asked.
            self._info = None
            self._schema = None

    def write(self, data: DataLike, mode: str = "upsert", schema_mode: str = "strict") -> int:
        """Writes rows in ``mode`` and returns how many produced a new version.

        ``mode``: ``"upsert"`` (the row is the key's whole new version),
        ``"insert"`` (rows whose key has a live row are skipped),
        ``"update"`` (the current row with the input's columns replaced; keys
        without a live row are skipped) or ``"merge"`` (update, or insert
        when the key has no live row). ``schema_mode="merge"`` first adds
        input columns the table lacks (nullable, one alter commit);
        ``"strict"`` refuses them. Each input batch is atomic. ``data``: as
        for :meth:`append`. Integers wider than a column are accepted when
        every value fits (else :class:`kalam.InvalidArgument` naming the
        column, row and value).
        """
        modes = {"upsert": 0, "insert": 1, "update": 2, "merge": 3}
        schema_modes = {"strict": 0, "merge": 1}
        if mode not in modes:
            raise InvalidArgument(f"mode={mode!r}: expected one of {', '.join(modes)}")
        if schema_mode not in schema_modes:
            raise InvalidArgument(f"schema_mode={schema_mode!r}: expected one of {', '.join(schema_modes)}")
        opts = _ffi.WriteOptions()
        opts.struct_size = ctypes.sizeof(_ffi.WriteOptions)
        opts.mode = modes[mode]
        opts.schema_mode = schema_modes[schema_mode]
        try:
            return self._write("kalam_write", as_reader(data, self._live_schema), ctypes.byref(opts))
        finally:
            self._info = None
            self._schema = None

    def delete(self, keys: Any = None, *, filter: Optional[str] = None) -> int:
        """Deletes rows; returns how many had a live row.

        Exactly one of ``keys`` and ``filter`` (else TypeError). ``keys``:
        tabular data holding the key columns (see :attr:`key_columns`; extra
        columns are dropped), or a list of key values (tuples for a composite
        key). ``filter``: a predicate (docs/REFERENCE.md, "Filter language";
        ``"TRUE"`` deletes every
        row): every matching row at the call's snapshot is deleted in one
        atomic write.
        """
        if (keys is None) == (filter is None):
            raise TypeError("delete() takes exactly one of keys and filter=")
        try:
            if filter is not None:
                L = _ffi.lib()
                h = self._db._handle()
                tname = _ffi.encode(self._qname)
                f = _ffi.encode(filter)
                n = ctypes.c_int64(0)
                _ffi.check(lambda err: L.kalam_delete_where(h, tname, f, ctypes.byref(n), err))
                return int(n.value)
            cols = self.key_columns
            schema = self._live_schema()
            fields = []
            for c in cols:
                if c == "_seq":
                    fields.append(pa.field("_seq", pa.int64()))
                else:
                    fields.append(schema.field(c))
            return self._write("kalam_delete", keys_as_reader(keys, fields))
        finally:
            self._info = None

    def update(self, values: Mapping[str, Any], filter: Optional[str] = None) -> int:
        """Sets columns of every row matching ``filter`` (None: every row) to
        the given values — ``{"status": "done", "score": None}`` — keeping the
        others, in one atomic write; returns the number of rows matched. Key
        columns cannot be set. A value is converted to its column's type
        when that loses nothing (2.0 into an integer column, not 2.5:
        :class:`kalam.InvalidArgument`)."""
        if not isinstance(values, Mapping) or not values:
            raise TypeError("update() takes a non-empty dict of column -> value")
        schema = self._live_schema()
        arrays, fields = [], []
        for name, v in values.items():
            if not isinstance(name, str):
                raise TypeError(f"column names must be str, not {type(name).__name__}")
            typ = schema.field(name).type if name in schema.names else None
            if typ is not None and pa.types.is_integer(typ) and _is_float(v) and not float(v).is_integer():
                # pyarrow truncates 2.5 into an integer type; writes refuse it.
                raise InvalidArgument(f"update {self._qname}: column {name!r}: value {v!r} is not a whole number; "
                                      f"the column is {typ}")
            try:
                arr = pa.array([v], type=typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                raise InvalidArgument(f"update {self._qname}: column {name!r}: value {v!r}: {e}") from None
            arrays.append(arr)
            fields.append(pa.field(name, arr.type))
        row = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
        L = _ffi.lib()
        h = self._db._handle()
        tname = _ffi.encode(self._qname)
        f = _ffi.encode(filter) if filter is not None else None
        stream = _ffi.ArrowArrayStream()
        row.to_reader()._export_to_c(ctypes.addressof(stream))
        n = ctypes.c_int64(0)
        try:
            _ffi.check(lambda err: L.kalam_update(h, tname, f, ctypes.byref(stream), ctypes.byref(n), err))
        finally:
            if stream.release:
                _ffi.STREAM_RELEASE(stream.release)(ctypes.byref(stream))
            self._info = None
        return int(n.value)

    # ---- schema evolution ------------------------------------------------------

    def add_columns(self, fields: Union[pa.Schema, pa.Field, Sequence[pa.Field]]) -> None:
        """Adds nullable columns after the existing ones (one commit); rows
        written before read them as null. :class:`kalam.AlreadyExists` for a
        name in use."""
        if isinstance(fields, pa.Field):
            fields = [fields]
        if not isinstance(fields, pa.Schema):
            if isinstance(fields, (str, bytes, Mapping)) or not isinstance(fields, Sequence) or \
                    not all(isinstance(f, pa.Field) for f in fields):
                raise TypeError("add_columns takes a pyarrow Field, a list of Fields or a Schema "
                                f"(pa.field('x', pa.int64())), not {fields!r}")
        sch = fields if isinstance(fields, pa.Schema) else pa.schema(list(fields))
        c_schema = _ffi.ArrowSchema()
        sch._export_to_c(ctypes.addressof(c_schema))
        self._alter(lambda L, h, t, err: L.kalam_add_columns(h, t, ctypes.byref(c_schema), err), c_schema)

    def drop_columns(self, names: Union[str, Sequence[str]]) -> None:
        """Drops columns (not key columns); their data is no longer returned,
        and a later column of the same name never shows it."""
        if isinstance(names, str):
            names = [names]
        if not names:
            raise InvalidArgument("drop_columns() needs at least one column name")
        enc = [_ffi.encode(n) for n in names]
        arr = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        self._alter(lambda L, h, t, err: L.kalam_drop_columns(h, t, arr, len(enc), err))

    def rename_column(self, old: str, new: str) -> None:
        """Renames a column (key columns too); its data is kept."""
        o, n = _ffi.encode(old), _ffi.encode(new)
        self._alter(lambda L, h, t, err: L.kalam_rename_column(h, t, o, n, err))

    def widen_column(self, name: str, type: pa.DataType) -> None:
        """Widens a column's type: int8→16→32→64 (unsigned likewise),
        float32→float64, utf8→large_utf8, binary→large_binary."""
        if not isinstance(type, pa.DataType):
            raise TypeError(f"type must be a pyarrow DataType, not {builtins.type(type).__name__}")
        c_type = _ffi.ArrowSchema()
        type._export_to_c(ctypes.addressof(c_type))
        col = _ffi.encode(name)
        self._alter(lambda L, h, t, err: L.kalam_widen_column(h, t, col, ctypes.byref(c_type), err), c_type)

    def _alter(self, call: Any, consumed: Optional[Any] = None) -> None:
        L = _ffi.lib()
        h = self._db._handle()
        tname = _ffi.encode(self._qname)
        try:
            _ffi.check(lambda err: call(L, h, tname, err))
        finally:
            if consumed is not None and consumed.release:
                _ffi.SCHEMA_RELEASE(consumed.release)(ctypes.byref(consumed))
            self._info = None
            self._schema = None

    def _write(self, fname: str, reader: pa.RecordBatchReader, *extra: Any) -> int:
        L = _ffi.lib()
        h = self._db._handle()
        # The input is read by the library through a C stream, which carries
        # an errno and a message, not the exception: kept here, it comes back
        # as itself (a KeyboardInterrupt or SystemExit) or as the library error's
        # cause.
        raised: List[BaseException] = []

        def batches() -> Any:
            try:
                yield from reader
            except GeneratorExit:
                raise  # the library stopped reading: not the source's failure
            except BaseException as e:
                raised.append(e)
                raise

        source = pa.RecordBatchReader.from_batches(reader.schema, batches())
        stream = _ffi.ArrowArrayStream()
        source._export_to_c(ctypes.addressof(stream))
        rows = ctypes.c_int64(0)
        tname = _ffi.encode(self._qname)
        fn = getattr(L, fname)
        try:
            _ffi.check(lambda err: fn(h, tname, ctypes.byref(stream), *extra, ctypes.byref(rows), err))
        except Error as e:
            if raised and not isinstance(raised[0], Exception):
                raise raised[0] from e  # KeyboardInterrupt, SystemExit
            if raised:
                raise e from raised[0]
            raise
        finally:
            if stream.release:  # consumed by contract; never leak if it was not
                _ffi.STREAM_RELEASE(stream.release)(ctypes.byref(stream))
        return int(rows.value)

    def flush(self) -> Optional[str]:
        """Writes the hot rows to a new Parquet segment; returns its id, or
        None when there was nothing to flush."""
        L = _ffi.lib()
        h = self._db._handle()
        out = ctypes.c_void_p()
        tname = _ffi.encode(self._qname)
        try:
            _ffi.check(lambda err: L.kalam_flush(h, tname, ctypes.byref(out), err))
        finally:
            self._info = None
        return L.take_string(out)

    # ---- reads -------------------------------------------------------------------

    def scan(
        self,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        batch_rows: Optional[int] = None,
        version: Optional[Union[int, datetime.datetime]] = None,
        sql: Optional[str] = None,
    ) -> Scan:
        """A scan of the table: projection by name (``_seq``/``_deleted`` on
        request), ``filter`` in the store's predicate language, ``limit``,
        ``batch_rows`` per batch, ``version`` for time travel — a manifest
        version, or a datetime for the newest version committed at or before
        it (a naive datetime is UTC); segments of that version only — and
        ``sql`` as the label in system.live_queries."""
        return Scan(
            self._db,
            self._qname,
            columns=columns,
            filter=filter,
            limit=limit,
            batch_rows=batch_rows,
            version=version,
            sql=sql,
        )

    def scan_segment(
        self, segment_id: str, columns: Optional[Sequence[str]] = None, batch_rows: Optional[int] = None
    ) -> Scan:
        """A scan of one segment file as stored: every version and tombstone,
        with ``_seq`` and ``_deleted`` by default. ``segment_id`` is an ``id``
        of :meth:`segments`."""
        if not isinstance(segment_id, str):
            # None made it a scan of the whole table.
            raise TypeError(f"segment_id must be a str, not {type(segment_id).__name__}")
        return Scan(self._db, self._qname, columns=columns, batch_rows=batch_rows, segment_id=segment_id)

    def count_rows(self, filter: Optional[str] = None) -> int:
        """Number of live rows (matching ``filter``)."""
        return self.scan(filter=filter).count_rows()

    def segments(self) -> pa.Table:
        """This table's rows of ``system.segments`` (tombstoned ones included),
        followed by the segments' column statistics from the manifest.

        The first columns are those of ``system.segments``, unchanged. Then,
        for each user column that has statistics (orderable types: numbers,
        strings, booleans, dates, times, timestamps, durations), in schema
        order: ``<col>_min`` and ``<col>_max``, typed as the column when the
        statistic converts exactly (else utf8 holding its JSON text), and
        ``<col>_null_count`` (uint64). A segment without statistics for the
        column (e.g. one whose float values include NaN has no min/max) gets
        nulls.
        """
        # Manifest first: a commit between the two reads adds segments the
        # manifest does not know (their statistics are null) but never shows
        # statistics of a segment that system.segments lacks.
        man = self.manifest()
        base = self._db.system(
            "segments",
            filter=f"namespace = {_sql_string(self._namespace)} AND table_name = {_sql_string(self._name)}",
        )
        ids = base.column("id").to_pylist()
        # No system.segments column ends in _min, _max or _null_count, so
        # the added names never clash with the first columns.
        names = {c["name"]: c.get("names_by_schema_version") for c in self.refresh().info["columns"]}
        for name, arr in segment_stats_columns(self.schema, ids, man, names):
            base = base.append_column(name, arr)
        return base

    def manifest(self) -> Dict[str, Any]:
        """The table's current manifest (the content of manifest.json)."""
        L = _ffi.lib()
        h = self._db._handle()
        out = ctypes.c_void_p()
        tname = _ffi.encode(self._qname)
        _ffi.check(lambda err: L.kalam_manifest_json(h, tname, ctypes.byref(out), err))
        text = L.take_string(out)
        return json.loads(text) if text else {}

    # ---- maintenance --------------------------------------------------------------

    def compact(self, target_rows: Optional[int] = None, min_segments: Optional[int] = None) -> Dict[str, Any]:
        """Merges every live segment into new segments holding only the newest
        version of each key, dropping delete tombstones; returns the report.

        ``target_rows`` (>= 1) splits the output into segments of at most that
        many rows (default 1 000 000); ``min_segments`` skips the work when
        fewer live segments exist. Hot rows are not touched (flush first).
        The replaced segments stay readable by older versions and open scans
        until :meth:`vacuum`. The report is a dict: ``table``, ``skipped``,
        ``reason`` (when skipped), ``version`` (after the compaction),
        ``input_segments``, ``output_segments`` (ids), ``rows_read``,
        ``rows_written``, ``tombstones_dropped``, ``versions_dropped``,
        ``bytes_read``, ``bytes_written``.
        """
        opts: Dict[str, int] = {}
        for key, value in (("target_rows", target_rows), ("min_segments", min_segments)):
            if value is None:
                continue
            opts[key] = _ffi.int64_arg(key, value)  # numpy integers too
        L = _ffi.lib()
        h = self._db._handle()
        tname = _ffi.encode(self._qname)
        text = _options_json("compact", opts)
        out = ctypes.c_void_p()
        try:
            _ffi.check(lambda err: L.kalam_compact(h, tname, text, ctypes.byref(out), err))
        finally:
            self._info = None
        report = L.take_string(out)
        return json.loads(report) if report else {}

    def vacuum(
        self, retention_ms: int = DEFAULT_VACUUM_RETENTION_MS, dry_run: bool = False
    ) -> Union[int, List[str]]:
        """Deletes the files of segments replaced (by compaction) at least
        ``retention_ms`` milliseconds ago (0: all) that no open scan reads.

        Returns the number of segment files vacuumed, or with
        ``dry_run=True`` the paths (relative to :attr:`storage_path`) that
        would be, deleting nothing. Versions that needed a deleted file can no longer be read:
        ``scan(version=...)`` then raises :class:`kalam.NotFound` naming the
        oldest version left. A negative retention is
        :class:`kalam.InvalidArgument`. Once the vacuum has committed it
        succeeds: files that cannot be removed then (a full or read-only
        disk) are the table's ``background_error`` (:meth:`info`) until
        the next vacuum, or open, removes them.
        """
        retention_ms = _ffi.int64_arg("retention_ms", retention_ms)  # numpy integers too
        L = _ffi.lib()
        h = self._db._handle()
        tname = _ffi.encode(self._qname)
        if dry_run:
            out = ctypes.c_void_p()
            _ffi.check(lambda err: L.kalam_vacuum_dry_run(h, tname, retention_ms, ctypes.byref(out), err))
            text = L.take_string(out)
            return [str(p) for p in json.loads(text)] if text else []
        removed = ctypes.c_int64(0)
        try:
            _ffi.check(lambda err: L.kalam_vacuum(h, tname, retention_ms, ctypes.byref(removed), err))
        finally:
            self._info = None
        return int(removed.value)

    def history(self) -> pa.Table:
        """One row per commit of the table, oldest first: ``version`` (uint64),
        ``time`` (timestamp[ms, UTC]), ``operation`` (``"create"``,
        ``"flush"``, ``"compact"``, ``"vacuum"``, ``"alter"``), ``segments_added`` and
        ``segments_removed`` (uint64). Rows stay after vacuum, which only
        makes old versions unreadable, and after a recover (storage keeps
        the history of the versions a vacuum removed). A storage-only
        reader (and a recover) infers the commits since the last vacuum
        from the versions storage keeps."""
        L = _ffi.lib()
        h = self._db._handle()
        tname = _ffi.encode(self._qname)
        out = ctypes.c_void_p()
        _ffi.check(lambda err: L.kalam_table_history(h, tname, ctypes.byref(out), err))
        text = L.take_string(out)
        return history_table(json.loads(text) if text else [])

    @property
    def storage_path(self) -> str:
        """Where the table's files are: ``{storage}/{namespace}/{table}``
        (``storage`` is ``{root}/storage`` unless the store was opened with
        another; for object storage this is a ``s3://`` URI)."""
        base = self._db.storage if self._db.storage is not None else os.path.join(str(self._db.path), "storage")
        if "://" in base:
            return base.rstrip("/") + f"/{self._namespace}/{self._name}"
        return os.path.join(base, self._namespace, self._name)

    def to_pyarrow_dataset(self, version: Optional[Union[int, datetime.datetime]] = None) -> "pyarrow.dataset.Dataset":
        """A plain :class:`pyarrow.dataset.Dataset` of the table (``version``:
        as for :meth:`scan`; default the latest, hot rows included) that
        reads exactly what ``t.scan(version=...)`` returns, for engines that
        read Parquet themselves and push projection and filters into it
        (DuckDB, DataFusion's ``register_dataset``, Polars'
        ``scan_pyarrow_dataset``, Dask).

        Segments no other input can hold keys of, without tombstones and with
        their columns under the current names, are fragments as they are;
        everything else (hot rows, overlapping segments, renamed columns) is
        merged by the library now, into temporary Parquet files under the
        store (``{root}/tmp/datasets``; with object storage, every part).
        The dataset is a snapshot: later writes are not in it. Its segments
        are pinned — vacuum in this process leaves them while the store is
        open — and its temporary files are removed when the dataset (and
        every dataset pyarrow derived from it) has been garbage-collected.
        Making it costs a scan of the merged parts. It is a
        :class:`pyarrow.dataset.FileSystemDataset` (``kalam.KalamDataset``)
        whose ``count_rows()`` counts only the row groups it lists of a
        segment, where pyarrow's own counts the whole file.
        """
        from ._dataset import table_dataset

        opts, keep = Scan(self._db, self._qname, version=version)._options()
        try:
            return table_dataset(self._db, self._qname, opts)
        finally:
            del keep


def _options_json(call: str, opts: Mapping[str, Any]) -> Optional[bytes]:
    """``opts`` as the JSON text ``call`` hands the library (None when
    empty); a value JSON cannot hold is a TypeError naming its option."""
    for k, v in opts.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            raise TypeError(f"{call} option {k}={v!r}: a {builtins.type(v).__name__} is not a JSON value") from None
    return json.dumps(opts).encode() if opts else None
