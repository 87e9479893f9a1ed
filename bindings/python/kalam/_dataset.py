"""``Table.to_pyarrow_dataset``: a table version as a plain
:class:`pyarrow.dataset.Dataset` (see docs/REFERENCE.md, "An exact pyarrow
dataset").

The library decides which segments an engine may read as they are and
merges the rest into temporary Parquet files (``kalam_table_dataset``). The
dataset must keep those files, and the pins on the segments, for as long as
any engine can still read it — including copies pyarrow makes of it
(``Dataset.filter``, ``replace_schema``), which share the C++ dataset but
not the Python object. So the lifetime is tied to the dataset's file
system: a :class:`pyarrow.fs.PyFileSystem` whose handler owns the library's
dataset and releases it when the last C++ reference to the file system goes.
The fragments themselves read through native file systems — the local
one, or, for segments on object storage (``s3://`` paths), pyarrow's S3 file
system configured like the store's — never through Python: pyarrow's I/O
threads would need the GIL, and an engine that pulls batches while holding
it (DuckDB) would deadlock. The owning file system is only the dataset's
``filesystem`` (it also serves reads, for a caller that opens files
through it).
"""

from __future__ import annotations

import ctypes
import json
import os
import weakref
from typing import Any, Dict, List, Optional, Set, Tuple

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from . import _ffi


def _release(dataset_id: int) -> None:
    """Releases a library dataset; called once, at collection or exit."""
    try:
        L = _ffi.lib()
        err = _ffi.KalamError()
        L.kalam_dataset_release(ctypes.c_uint64(dataset_id), ctypes.byref(err))
        if err.release:
            L.kalam_error_release(ctypes.byref(err))
    except Exception:  # at interpreter exit the library may be gone
        pass


def _s3_filesystem(options: Dict[str, Any]) -> pafs.FileSystem:
    """pyarrow's S3 file system with the store's storage options, falling
    back to the environment variables the library reads (see
    docs/REFERENCE.md, "Object storage")."""
    endpoint = (
        options.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    )
    kwargs: Dict[str, Any] = {
        "region": options.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    }
    if options.get("access_key_id"):
        kwargs.update(access_key=options["access_key_id"], secret_key=options.get("secret_access_key"))
        if options.get("session_token"):
            kwargs["session_token"] = options["session_token"]
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    return pafs.S3FileSystem(**kwargs)


class _DatasetFiles(pafs.FileSystemHandler):
    """A read-only view of the dataset's files that owns them."""

    def __init__(self, dataset_id: int, info: Dict[str, Any], storage_options: Dict[str, Any]) -> None:
        self._local = pafs.LocalFileSystem()
        self._storage_options = storage_options
        self._s3: Any = None  # made on first use: only datasets with s3:// files need it
        self.dataset_id = dataset_id
        self.info = info
        self._finalizer = weakref.finalize(self, _release, dataset_id)

    def route(self, path: str) -> Tuple[pafs.FileSystem, str]:
        """The native file system that reads ``path``, and the path in it."""
        if path.startswith("s3://"):
            if self._s3 is None:
                self._s3 = _s3_filesystem(self._storage_options)
            return self._s3, path[len("s3://") :]
        return self._local, path

    def close(self) -> None:
        """Releases the files now (the dataset is unusable afterwards)."""
        self._finalizer()

    # -- reads: the local file system ------------------------------------------
    def get_type_name(self) -> str:
        return "kalam-dataset"

    def equals(self, other: Any) -> bool:
        return isinstance(other, _DatasetFiles) and other.dataset_id == self.dataset_id

    def normalize_path(self, path: str) -> str:
        if path.startswith("s3://"):
            return path
        return self._local.normalize_path(path)

    def get_file_info(self, paths: List[str]) -> List[pafs.FileInfo]:
        out = []
        for p in paths:
            fs, inner = self.route(p)
            info = fs.get_file_info(inner)
            out.append(pafs.FileInfo(p, type=info.type, size=info.size, mtime=info.mtime))
        return out

    def get_file_info_selector(self, selector: pafs.FileSelector) -> List[pafs.FileInfo]:
        return self._local.get_file_info(selector)

    def open_input_stream(self, path: str) -> Any:
        fs, inner = self.route(path)
        return fs.open_input_stream(inner)

    def open_input_file(self, path: str) -> Any:
        fs, inner = self.route(path)
        return fs.open_input_file(inner)

    # -- writes: refused --------------------------------------------------------
    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError("a kalam dataset is read-only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


def release_dataset(dataset: ds.Dataset) -> None:
    """Releases a dataset of :meth:`kalam.Table.to_pyarrow_dataset` now:
    unpins its segments and removes its temporary files, instead of when the
    dataset is garbage-collected. The dataset (and every dataset derived
    from it) cannot be read afterwards. Needed where an engine keeps a
    dataset alive: DuckDB's replacement scan (``duckdb.sql("... from d")``)
    keeps a copy of the calling frame's variables. Releasing twice is a
    no-op."""
    fs = getattr(dataset, "filesystem", None)
    handler = getattr(fs, "handler", None)
    if not isinstance(handler, _DatasetFiles):
        raise TypeError("release_dataset() takes a dataset made by Table.to_pyarrow_dataset()")
    handler.close()


class KalamDataset(ds.FileSystemDataset):
    """The dataset ``Table.to_pyarrow_dataset`` returns: a
    :class:`pyarrow.dataset.FileSystemDataset` (engines take it as one)
    whose :meth:`count_rows` counts the row groups each fragment holds.
    pyarrow (26.0.1) answers ``count_rows()`` without a filter from each
    file's footer, counting every row group of a segment of which the
    dataset lists only some (the others' keys have newer versions in a
    merged file), so it counted those rows twice; with a filter, and in
    scans, it reads only the listed row groups. :meth:`scanner` makes
    the scanners count right too; ``Scanner.from_dataset(dataset)``,
    which bypasses the dataset's methods, still has pyarrow's bug."""

    def count_rows(self, filter: Optional[ds.Expression] = None, **kwargs: Any) -> int:
        """Rows of the dataset, or of those matching ``filter`` (other
        arguments as :meth:`pyarrow.dataset.Dataset.count_rows`)."""
        if filter is not None or kwargs:
            # Through scanner(): a filter every row of a fragment satisfies
            # (id >= 0 within its key bounds) let pyarrow count from the
            # footer, unlisted row groups too.
            return self.scanner(filter=filter, **kwargs).count_rows()
        try:
            frags = list(self.get_fragments())
        except ValueError:
            # A filtered dataset (d.filter(...)) lists no fragments.
            return self.scanner().count_rows()
        total = 0
        for frag in frags:
            frag.ensure_complete_metadata()  # the footer: row groups and their sizes
            total += sum(rg.num_rows for rg in frag.row_groups)
        return total

    def replace_schema(self, schema: pa.Schema) -> "KalamDataset":
        """The dataset with ``schema`` (as pyarrow's), still a
        :class:`KalamDataset`: pyarrow's returns a plain dataset, whose
        ``count_rows`` counts unlisted row groups."""
        d = KalamDataset(list(self.get_fragments()), schema=schema, format=self.format, filesystem=self.filesystem)
        d._partial = getattr(self, "_partial", False)
        d._every_row = getattr(self, "_every_row", None)
        return d

    def scanner(self, *args: Any, **kwargs: Any) -> ds.Scanner:
        """A :class:`pyarrow.dataset.Scanner` of the dataset (arguments as
        :meth:`pyarrow.dataset.Dataset.scanner`). Without a filter, and when
        a fragment lists only some of its file's row groups, the scanner
        filters on an expression every row satisfies (``_every_row``):
        pyarrow's ``Scanner.count_rows()`` answers a scan
        with no filter, or one that names no column, from the file footers
        and would count the unlisted row groups too; with a column named it
        counts the listed row groups from their statistics or by reading
        them. Scans get the same rows either way."""
        if len(args) > 1:  # filter given positionally
            args, kwargs = args[:1], {**kwargs, "filter": args[1]}
        if getattr(self, "_partial", False) and getattr(self, "_every_row", None) is not None:
            # With a filter too: one every row of a fragment satisfies
            # (id >= 0 within its key bounds) folds to true against the
            # fragment's guarantee, and pyarrow counts from the footer.
            given = kwargs.get("filter")
            kwargs["filter"] = self._every_row if given is None else given & self._every_row
        return super().scanner(*args, **kwargs)


def _guarantee(file: Dict[str, Any], schema: pa.Schema) -> Optional[ds.Expression]:
    """What every row of a file satisfies (its key column's bounds, from the
    manifest): engines skip the file for a key filter without opening it,
    as pyarrow does for partitions."""
    kb = file.get("key_bounds")
    if not kb or schema.get_field_index(kb["column"]) < 0:
        return None
    typ = schema.field(kb["column"]).type
    col = ds.field(kb["column"])
    return (col >= pa.scalar(kb["min"], typ)) & (col <= pa.scalar(kb["max"], typ))


def table_dataset(db: Any, table: str, opts: Any) -> ds.Dataset:
    """Runs ``kalam_table_dataset`` and wraps its files (see module doc)."""
    L = _ffi.lib()
    handle = db._handle()
    schema_out = _ffi.ArrowSchema()
    text = ctypes.c_void_p()
    ident = ctypes.c_uint64()
    name = _ffi.encode(table)
    _ffi.check(
        lambda err: L.kalam_table_dataset(
            handle, name, ctypes.byref(opts), ctypes.byref(schema_out), ctypes.byref(text), ctypes.byref(ident), err
        )
    )
    files = None
    try:
        info = json.loads(L.take_string(text) or "{}")
        schema = pa.Schema._import_from_c(ctypes.addressof(schema_out))
        files = _DatasetFiles(ident.value, info, getattr(db, "_storage_options", {}))
    finally:
        if files is None:
            _release(ident.value)
    owner = pafs.PyFileSystem(files)
    fmt = ds.ParquetFileFormat()
    # Fragments read through native file systems: a read through the
    # PyFileSystem would need the GIL on pyarrow's I/O threads, which
    # deadlocks against an engine that pulls batches while holding it
    # (DuckDB does). The dataset's own file system is the owner, so the
    # C++ dataset, and every dataset derived from it, keeps the files.
    frags = []
    for f in info["files"]:
        native, path = files.route(f["path"])
        # With "row_groups" a file belongs to the dataset with those row
        # groups only (the others' keys have newer versions in merged files).
        frags.append(
            fmt.make_fragment(
                path, filesystem=native, partition_expression=_guarantee(f, schema), row_groups=f.get("row_groups")
            )
        )
    d = KalamDataset(frags, schema=schema, format=fmt, filesystem=owner)
    # Some file is listed with only some of its row groups (see scanner).
    d._partial = any(f.get("row_groups") is not None for f in info["files"])
    d._every_row = _every_row(schema, {f["key_bounds"]["column"] for f in info["files"] if f.get("key_bounds")})
    return d


def _every_row(schema: pa.Schema, bounded: Set[str]) -> ds.Expression:
    """An expression every row satisfies that pyarrow cannot fold to
    ``true`` from a fragment's guarantee (which bounds the columns in
    ``bounded``, making them non-null): it names a column the guarantees
    leave open, or compares a bounded one with itself."""
    for f in schema:
        if f.name not in bounded:
            c = ds.field(f.name)
            return c.is_valid() | c.is_null()
    c = ds.field(schema.field(0).name)
    return (c == c) | c.is_null()
