"""The exception hierarchy of :mod:`kalam` and the one map from libkalam
status codes (``KALAM_*`` in ``kalam.h``) to exception classes."""

from __future__ import annotations

import errno as _errno
from typing import Dict, Optional, Type

__all__ = [
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
    "error_for_status",
    "STATUS_CLASSES",
]


class Error(Exception):
    """Base class of every error raised by libkalam.

    ``code`` is the library's status code (``KALAM_*``) and ``message`` its
    text, unchanged.
    """

    code: int = -1

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    """Bad input: a malformed name, schema, filter, option or row (KALAM_INVALID_ARGUMENT)."""

    code = 1


class NotFound(Error, KeyError):
    """An unknown table, namespace, segment, system table or version (KALAM_NOT_FOUND).

    Also a :class:`KeyError`, so ``except KeyError`` catches a missing table.
    """

    code = 2

    # KeyError.__str__ quotes its argument; the library's message reads better as is.
    def __str__(self) -> str:
        return self.message


class AlreadyExists(Error):
    """The namespace or table already exists (KALAM_ALREADY_EXISTS)."""

    code = 3


class StorageError(Error, OSError):
    """A file system or RocksDB failure (KALAM_IO); an :class:`OSError`."""

    code = 4

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        Error.__init__(self, message, code)
        # OSError.__init__ would reinterpret a 2-tuple as (errno, strerror);
        # one argument keeps str(e) == message.
        OSError.__init__(self, message)

    def __str__(self) -> str:
        return self.message


class Corruption(Error):
    """On-disk data failed validation (KALAM_CORRUPTION)."""

    code = 5


class Cancelled(Error):
    """The operation was cancelled (KALAM_CANCELLED)."""

    code = 6


class Closed(Error):
    """The database was closed (KALAM_CLOSED)."""

    code = 7


class ReadOnly(Error):
    """A write on a read-only database, or a write, delete, flush, compaction,
    vacuum, alter or drop of a system table (KALAM_READ_ONLY)."""

    code = 8


class Busy(Error):
    """The store is in use, e.g. locked by another process (KALAM_BUSY)."""

    code = 9


class InternalError(Error):
    """A bug in libkalam; the message says where (KALAM_INTERNAL)."""

    code = 10


#: Status code -> exception class. The only place the mapping is written down.
STATUS_CLASSES: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        StorageError,
        Corruption,
        Cancelled,
        Closed,
        ReadOnly,
        Busy,
        InternalError,
    )
}

# A stream callback reports an errno; when kalam_stream_error cannot tell the
# status (the stream is not the library's), this is the best guess.
_ERRNO_CLASSES: Dict[int, Type[Error]] = {
    _errno.EINVAL: InvalidArgument,
    _errno.ECANCELED: Cancelled,
    _errno.EIO: StorageError,
    _errno.ENOMEM: InternalError,
    _errno.ENOSYS: InvalidArgument,
}


def error_for_status(code: int, message: str) -> Error:
    """Builds the exception for a libkalam status code and message."""
    cls = STATUS_CLASSES.get(code, InternalError)
    return cls(message or f"libkalam status {code}", code)


def error_for_errno(errno_value: int, message: str) -> Error:
    """Builds an exception from a stream callback's errno when no status is known."""
    cls = _ERRNO_CLASSES.get(errno_value, InternalError)
    return cls(message or f"stream error: errno {errno_value}")
