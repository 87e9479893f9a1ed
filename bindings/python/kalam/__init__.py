"""kalam — Python bindings of libkalam, an embeddable table store (hot rows in
RocksDB, cold Parquet segments) whose every read is an Arrow C stream.

    import kalam, pyarrow as pa
    with kalam.open("/data") as db:
        t = db.create_table("events", pa.schema([("id", pa.int64()), ("v", pa.utf8())]),
                            primary_key=["id"])
        t.append(pa.table({"id": [1, 2], "v": ["a", "b"]}))
        t.scan(filter="id >= 2").to_pandas()

Pure ctypes over ``libkalam.so``; Arrow data crosses as C structs through
pyarrow, zero-copy. See bindings/python/README.md for the Python API and
docs/REFERENCE.md for the behaviour behind it.
"""

from __future__ import annotations

from ._dataset import KalamDataset, release_dataset
from ._db import Database, Table, open
from ._ffi import library_path
from ._scan import Scan, ScanSplit
from .errors import (
    AlreadyExists,
    Busy,
    Cancelled,
    Closed,
    Corruption,
    Error,
    InternalError,
    InvalidArgument,
    NotFound,
    ReadOnly,
    StorageError,
)
from .integrations import register_datafusion

__version__ = "0.1.0"

__all__ = [
    "open",
    "Database",
    "Table",
    "Scan",
    "ScanSplit",
    "register_datafusion",
    "release_dataset",
    "KalamDataset",
    "library_path",
    "library_version",
    "Error",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "StorageError",
    "Corruption",
    "Cancelled",
    "Closed",
    "ReadOnly",
    "Busy",
    "InternalError",
]


def __getattr__(name: str) -> object:
    # kalam.polars, kalam.duckdb, kalam.dask and kalam.ray import optional
    # dependencies (Polars, DuckDB, Dask, Ray): loaded on first use of the
    # attribute (``import kalam.polars`` works as well).
    if name in ("polars", "duckdb", "dask", "ray"):
        import importlib

        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'kalam' has no attribute {name!r}")


def library_version() -> str:
    """The loaded libkalam's version string, e.g. ``"0.1.0"``."""
    from . import _ffi

    return _ffi.lib().kalam_version_string().decode()
