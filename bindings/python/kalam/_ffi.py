"""ctypes declarations of ``include/kalam.h`` and the library loader.

The library is loaded once per process (a Go shared library must never be
unloaded or loaded twice) on first use, from, in order: the ``KALAM_LIBRARY``
environment variable, ``libkalam.so`` next to this file, the repository's
``build/libkalam.so``, and the system's library path.
"""

from __future__ import annotations

import ctypes
import errno
import ctypes.util
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

from .errors import Error, error_for_errno, error_for_status

__all__ = ["lib", "library_path", "check", "ABI_VERSION"]

#: The ABI version (KALAM_ABI_VERSION) this package is written against.
ABI_VERSION = 1

_LIB_NAMES = {"linux": "libkalam.so", "darwin": "libkalam.dylib", "win32": "kalam.dll"}


# ---- Arrow C data interface --------------------------------------------------


class ArrowSchema(ctypes.Structure):
    """struct ArrowSchema (only ever handled by address)."""


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class ArrowArray(ctypes.Structure):
    """struct ArrowArray (only ever handled by address)."""


ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.c_void_p),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class ArrowArrayStream(ctypes.Structure):
    """struct ArrowArrayStream. The callbacks are called through CFUNCTYPE
    prototypes, which release the GIL for the duration of the call."""


ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.c_void_p),
    ("get_next", ctypes.c_void_p),
    ("get_last_error", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

GET_SCHEMA = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowSchema))
GET_NEXT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowArray))
GET_LAST_ERROR = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream))
STREAM_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))
SCHEMA_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))
ARRAY_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))


# ---- kalam.h -------------------------------------------------------------------


class KalamError(ctypes.Structure):
    """kalam_error."""

    _fields_ = [
        ("code", ctypes.c_int32),
        ("message", ctypes.c_void_p),
        ("release", ctypes.c_void_p),
        ("private_data", ctypes.c_void_p),
    ]


class ScanOptions(ctypes.Structure):
    """kalam_scan_options."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("columns", ctypes.POINTER(ctypes.c_char_p)),
        ("n_columns", ctypes.c_int64),
        ("filter", ctypes.c_char_p),
        ("limit", ctypes.c_int64),
        ("batch_rows", ctypes.c_int64),
        ("as_of_version", ctypes.c_int64),
        ("sql", ctypes.c_char_p),
        ("as_of_time_ms", ctypes.c_int64),
    ]


class WriteOptions(ctypes.Structure):
    """kalam_write_options."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("mode", ctypes.c_int32),
        ("schema_mode", ctypes.c_int32),
    ]


def make_scan_options(
    columns: Optional[Sequence[str]] = None,
    filter: Optional[str] = None,
    limit: Optional[int] = None,
    batch_rows: Optional[int] = None,
    version: Optional[int] = None,
    sql: Optional[str] = None,
    as_of_time_ms: Optional[int] = None,
) -> tuple:
    """Builds a kalam_scan_options (KALAM_SCAN_OPTIONS_INIT plus the given
    fields). Returns (options, keepalive); keepalive owns the C strings and
    must outlive every call that reads the options. Integers are checked to
    fit in 64 bits (TypeError for a non-integer, InvalidArgument naming the
    argument otherwise): ctypes would silently wrap them."""
    opts = ScanOptions()
    opts.struct_size = ctypes.sizeof(ScanOptions)
    opts.n_columns = -1
    opts.limit = -1
    keep: List[Any] = []
    if columns is not None:
        encoded = [encode(c) for c in columns]
        arr = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        keep.append(arr)
        opts.columns = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        opts.n_columns = len(encoded)
    if filter is not None:
        opts.filter = encode(filter)
    if limit is not None:
        opts.limit = int64_arg("limit", limit, 0)
    if batch_rows is not None:
        opts.batch_rows = int64_arg("batch_rows", batch_rows, 1)
    if version is not None:
        opts.as_of_version = int64_arg("version", version, 1)
    if as_of_time_ms is not None:
        opts.as_of_time_ms = int64_arg("as_of_time_ms", as_of_time_ms, 1)
    if sql is not None:
        opts.sql = encode(sql)
    return opts, keep


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def int64_arg(name: str, value: Any, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """``value`` as an int in [lo, hi] (within int64): TypeError for a
    non-integer (bools included), InvalidArgument naming ``name`` when out of
    range."""
    import operator

    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
    if not max(lo, INT64_MIN) <= v <= min(hi, INT64_MAX):
        from .errors import InvalidArgument

        raise InvalidArgument(f"{name}={v} is out of range {max(lo, INT64_MIN)}..{min(hi, INT64_MAX)}")
    return v


def encode(s: str) -> bytes:
    """UTF-8 bytes of a name or string argument; rejects embedded NULs, which
    C would silently truncate at."""
    if not isinstance(s, str):
        raise TypeError(f"expected str, got {type(s).__name__}")
    b = s.encode("utf-8")
    if b"\x00" in b:
        from .errors import InvalidArgument

        raise InvalidArgument(f"string {s!r} contains a NUL character")
    return b


_c_db_p = ctypes.c_void_p
_c_err_p = ctypes.POINTER(KalamError)
_c_status = ctypes.c_int32

_PROTOTYPES = {
    "kalam_error_release": (None, [_c_err_p]),
    "kalam_free": (None, [ctypes.c_void_p]),
    "kalam_version_string": (ctypes.c_char_p, []),
    "kalam_abi_version": (ctypes.c_int32, []),
    "kalam_open": (_c_status, [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p]),
    "kalam_close": (_c_status, [_c_db_p, _c_err_p]),
    "kalam_detach": (_c_status, [_c_db_p, _c_err_p]),
    "kalam_create_namespace": (_c_status, [_c_db_p, ctypes.c_char_p, _c_err_p]),
    "kalam_create_table": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ArrowSchema), ctypes.c_char_p, _c_err_p],
    ),
    "kalam_drop_table": (_c_status, [_c_db_p, ctypes.c_char_p, _c_err_p]),
    "kalam_table_schema": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowSchema), _c_err_p]),
    "kalam_append": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ctypes.c_int64), _c_err_p],
    ),
    "kalam_delete": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ctypes.c_int64), _c_err_p],
    ),
    "kalam_flush": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p]),
    "kalam_scan": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ScanOptions), ctypes.POINTER(ArrowArrayStream), _c_err_p],
    ),
    "kalam_scan_segment": (
        _c_status,
        [
            _c_db_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.POINTER(ScanOptions),
            ctypes.POINTER(ArrowArrayStream),
            _c_err_p,
        ],
    ),
    "kalam_system_table": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), _c_err_p]),
    "kalam_explain": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ScanOptions), ctypes.POINTER(ctypes.c_void_p), _c_err_p],
    ),
    "kalam_manifest_json": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p]),
    "kalam_stream_error": (_c_status, [ctypes.POINTER(ArrowArrayStream), _c_err_p]),
    "kalam_compact": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p],
    ),
    "kalam_vacuum": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64), _c_err_p],
    ),
    # libkalam extensions of the design's ABI (see kalam.h).
    "kalam_vacuum_dry_run": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p), _c_err_p],
    ),
    "kalam_table_history": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p]),
    "kalam_table_info": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p]),
    "kalam_write": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(WriteOptions), ctypes.POINTER(ctypes.c_int64), _c_err_p],
    ),
    "kalam_delete_where": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64), _c_err_p]),
    "kalam_update": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ctypes.c_int64), _c_err_p],
    ),
    "kalam_add_columns": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ArrowSchema), _c_err_p]),
    "kalam_drop_columns": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, _c_err_p]),
    "kalam_rename_column": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _c_err_p]),
    "kalam_widen_column": (_c_status, [_c_db_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ArrowSchema), _c_err_p]),
    "kalam_scan_splits": (
        _c_status,
        [_c_db_p, ctypes.c_char_p, ctypes.POINTER(ScanOptions), ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), _c_err_p],
    ),
    "kalam_table_dataset": (
        _c_status,
        [
            _c_db_p,
            ctypes.c_char_p,
            ctypes.POINTER(ScanOptions),
            ctypes.POINTER(ArrowSchema),
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_uint64),
            _c_err_p,
        ],
    ),
    "kalam_dataset_release": (_c_status, [ctypes.c_uint64, _c_err_p]),
    "kalam_scan_split": (_c_status, [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream), _c_err_p]),
}


def _candidates() -> List[Path]:
    name = _LIB_NAMES.get(sys.platform, "libkalam.so")
    out: List[Path] = []
    env = os.environ.get("KALAM_LIBRARY")
    if env:
        out.append(Path(env))
    here = Path(__file__).resolve().parent
    out.append(here / name)
    # bindings/python/kalam -> repository root (editable installs and tests).
    out.append(here.parents[2] / "build" / name)
    return out


class _Library:
    """The loaded library and its typed functions."""

    def __init__(self, path: str, cdll: ctypes.CDLL) -> None:
        self.path = path
        self.cdll = cdll
        for fname, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(cdll, fname)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, fname, fn)

    def take_string(self, ptr: ctypes.c_void_p) -> Optional[str]:
        """Decodes and frees (kalam_free) a string the library returned."""
        if not ptr.value:
            return None
        try:
            return ctypes.string_at(ptr.value).decode("utf-8")
        finally:
            self.kalam_free(ptr)


_lock = threading.Lock()
_loaded: Optional[_Library] = None


def lib() -> _Library:
    """Returns the loaded library, loading it on first use.

    Raises :class:`ImportError` naming every path tried when none loads, or
    when the library's ABI version is not the one this package expects.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        tried: List[str] = []
        cdll = None
        path = None
        env = os.environ.get("KALAM_LIBRARY")
        if env and not Path(env).is_file():
            # An explicit choice that does not exist is an error, not a cue
            # to load some other build.
            raise ImportError(f"KALAM_LIBRARY={env!r} is not a file")
        for cand in _candidates():
            if not cand.is_file():
                tried.append(f"{cand} (missing)")
                continue
            try:
                cdll = ctypes.CDLL(str(cand))
                path = str(cand)
                break
            except OSError as e:
                tried.append(f"{cand} ({e})")
        if cdll is None:
            found = ctypes.util.find_library("kalam")
            if found:
                try:
                    cdll = ctypes.CDLL(found)
                    path = found
                except OSError as e:
                    tried.append(f"{found} ({e})")
            else:
                tried.append("system library path (no libkalam)")
        if cdll is None or path is None:
            raise ImportError(
                "cannot load libkalam; set KALAM_LIBRARY to the path of libkalam.so "
                "or build it with `make lib`. Tried: " + "; ".join(tried)
            )
        loaded = _Library(path, cdll)
        abi = loaded.kalam_abi_version()
        if abi != ABI_VERSION:
            raise ImportError(f"{path} implements kalam ABI {abi}; this package needs ABI {ABI_VERSION}")
        _loaded = loaded
        return loaded


def library_path() -> str:
    """The path of the loaded libkalam shared library (loading it if needed)."""
    return lib().path


def check(call: Callable[[ctypes._Pointer], int]) -> None:
    """Runs ``call(err_ptr)`` and raises the mapped :class:`kalam.Error` when
    it returns a status other than KALAM_OK. The error struct is always
    released."""
    L = lib()
    err = KalamError()
    status = call(ctypes.byref(err))
    if status == 0:
        if err.release:
            L.kalam_error_release(ctypes.byref(err))
        return
    raise _consume_error(err, status)


def _consume_error(err: KalamError, status: int) -> Error:
    L = lib()
    message = ""
    if err.message:
        message = ctypes.string_at(err.message).decode("utf-8", "replace")
    code = err.code or status
    L.kalam_error_release(ctypes.byref(err))
    return error_for_status(code, message)


def stream_error(stream: ArrowArrayStream, rc: int) -> Error:
    """The exception for a failed get_schema/get_next of a libkalam stream
    that returned errno ``rc``: kalam_stream_error gives the status and the
    message; the errno is the fallback when it has none."""
    if not stream.release:
        # Released meanwhile by another thread (a release cancels a pending
        # get_next): the stream's rich error went with it, the errno remains.
        return error_for_errno(rc, f"{os.strerror(rc)} (the stream was released)")
    L = lib()
    err = KalamError()
    status = L.kalam_stream_error(ctypes.byref(stream), ctypes.byref(err))
    if status != 0:
        e = _consume_error(err, status)
        # A release on another thread may land between get_next and this
        # call; kalam_stream_error then reports the released stream, not the
        # failure. ECANCELED (KALAM_CANCELLED = 6) is authoritative then.
        if not stream.release or (rc == errno.ECANCELED and e.code != 6):
            return error_for_errno(rc, f"{os.strerror(rc)} (the stream was released)")
        return e
    if not stream.release:
        return error_for_errno(rc, f"{os.strerror(rc)} (the stream was released)")
    text = ""
    if stream.get_last_error:
        raw = GET_LAST_ERROR(stream.get_last_error)(ctypes.byref(stream))
        if raw:
            text = raw.decode("utf-8", "replace")
    return error_for_errno(rc, text)


__all__ += ["ArrowSchema", "ArrowArray", "ArrowArrayStream", "KalamError", "ScanOptions", "make_scan_options"]
