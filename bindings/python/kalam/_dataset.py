"""``Table.to_pyarrow_dataset``: a table version as a plain
:class:`pyarrow.dataset.Dataset` (DESIGN §11).

The library decides which segments an engine may read as they are and
merges the rest into temporary Parquet files (``kalam_table_dataset``). The
dataset must keep those files, and the pins on the segments, for as long as
any engine can still read it — including copies pyarrow makes of it
(``Dataset.filter``, ``replace_schema``), which share the C++ dataset but
not the Python object. So the lifetime is tied to the dataset's file
system: a :class:`pyarrow.fs.PyFileSystem` whose handler owns the library's
dataset and releases it when the last C++ reference to the file system goes.
The handler delegates every read to the local file system (the files it
returns are native, so reads do not go through Python).
"""

from __future__ import annotations

import ctypes
import json
import weakref
from typing import Any, Dict, List

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


class _DatasetFiles(pafs.FileSystemHandler):
    """A read-only view of the dataset's files that owns them."""

    def __init__(self, dataset_id: int, info: Dict[str, Any]) -> None:
        self._local = pafs.LocalFileSystem()
        self.dataset_id = dataset_id
        self.info = info
        self._finalizer = weakref.finalize(self, _release, dataset_id)

    def close(self) -> None:
        """Releases the files now (the dataset is unusable afterwards)."""
        self._finalizer()

    # -- reads: the local file system ------------------------------------------
    def get_type_name(self) -> str:
        return "kalam-dataset"

    def equals(self, other: Any) -> bool:
        return isinstance(other, _DatasetFiles) and other.dataset_id == self.dataset_id

    def normalize_path(self, path: str) -> str:
        return self._local.normalize_path(path)

    def get_file_info(self, paths: List[str]) -> List[pafs.FileInfo]:
        return self._local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> List[pafs.FileInfo]:
        return self._local.get_file_info(selector)

    def open_input_stream(self, path: str) -> Any:
        return self._local.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self._local.open_input_file(path)

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
        files = _DatasetFiles(ident.value, info)
    finally:
        if files is None:
            _release(ident.value)
    fs = pafs.PyFileSystem(files)
    fmt = ds.ParquetFileFormat()
    # A file listed with "row_groups" belongs to the dataset with those row
    # groups only (the others' keys have newer versions in merged files).
    frags = [fmt.make_fragment(f["path"], filesystem=fs, row_groups=f.get("row_groups")) for f in info["files"]]
    return ds.FileSystemDataset(frags, schema=schema, format=fmt, filesystem=fs)
