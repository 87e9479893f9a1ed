"""A libkalam ArrowArrayStream held by Python: schema and batch import
through pyarrow's C data interface, interruptible reads, idempotent release."""

from __future__ import annotations

import ctypes
import queue
import threading
from typing import Iterator, List, Optional

import pyarrow as pa

from . import _ffi
from ._ffi import ArrowArray, ArrowArrayStream, ArrowSchema

# How often a main-thread reader waiting on get_next wakes up to let Python
# run signal handlers (Ctrl-C). Short enough to feel immediate.
_POLL_SECONDS = 0.05


class CStream:
    """Owns one ArrowArrayStream produced by libkalam.

    The struct lives in Python memory; the library fills it. ``release`` may
    be called from any thread, any number of times (the library allows a
    release during a get_next on another thread and cancels that call).
    """

    def __init__(self, owner: Optional[object] = None) -> None:
        # The Database the stream belongs to, kept alive while the stream
        # is (a collected Database would be detached: the stream would read
        # on, but the owner's other calls could not).
        self._owner = owner
        self.struct = ArrowArrayStream()
        self._lock = threading.Lock()
        self._schema: Optional[pa.Schema] = None
        self._worker: Optional[_Worker] = None

    @property
    def address(self) -> int:
        """Address of the struct, for kalam_scan's ``out`` argument and pyarrow."""
        return ctypes.addressof(self.struct)

    @property
    def released(self) -> bool:
        """True once the stream was released or handed to another owner."""
        return not self.struct.release

    def schema(self) -> pa.Schema:
        """The stream's schema (get_schema), imported once."""
        if self._schema is None:
            if self.released:
                raise _ffi.error_for_status(6, "the scan was cancelled or released")
            out = ArrowSchema()
            rc = _ffi.GET_SCHEMA(self.struct.get_schema)(ctypes.byref(self.struct), ctypes.byref(out))
            if rc != 0:
                raise _ffi.stream_error(self.struct, rc)
            self._schema = pa.Schema._import_from_c(ctypes.addressof(out))
        return self._schema

    def _get_next(self, out: ArrowArray) -> int:
        with self._lock:
            fn = self.struct.get_next
        if not fn:
            return -1
        return _ffi.GET_NEXT(fn)(ctypes.byref(self.struct), ctypes.byref(out))

    def next(self) -> Optional[pa.RecordBatch]:
        """The next batch, or None at the end of the stream.

        On the main thread the call into the library runs on a helper thread
        while this thread waits in short slices, so Ctrl-C raises
        KeyboardInterrupt at once even when get_next blocks (a queued scan
        waiting for a slot); the stream is then released, which cancels the
        pending get_next.
        """
        schema = self.schema()
        out = ArrowArray()
        if threading.current_thread() is threading.main_thread():
            if self._worker is None:
                self._worker = _Worker(self)
            try:
                rc = self._worker.get_next(out)
            except BaseException:
                self.release()
                raise
        else:
            rc = self._get_next(out)
        return self._batch_of(rc, out, schema)

    def _batch_of(self, rc: int, out: ArrowArray, schema: pa.Schema) -> Optional[pa.RecordBatch]:
        """The batch a get_next returned (None at the end), or its error."""
        if rc == -1:
            raise _ffi.error_for_status(6, "the scan was cancelled or released")
        if rc != 0:
            raise _ffi.stream_error(self.struct, rc)
        if not out.release:
            return None
        return pa.RecordBatch._import_from_c(ctypes.addressof(out), schema)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yields every batch, then releases the stream; also released when
        the iteration stops early (exception, Ctrl-C, generator closed)."""
        try:
            while True:
                b = self.next()
                if b is None:
                    return
                yield b
        finally:
            self.release()

    def read_all(self) -> List[pa.RecordBatch]:
        """Every remaining batch, then releases the stream.

        Unlike :meth:`batches`, the main thread hands the whole read to one
        helper thread instead of one hand-off per batch (each costs tens of
        microseconds, which adds up over thousands of small batches), and
        still raises KeyboardInterrupt at once on Ctrl-C: the stream is then
        released, which cancels the helper's pending get_next.
        """
        schema = self.schema()
        if threading.current_thread() is not threading.main_thread():
            try:
                return self._drain(schema)
            finally:
                self.release()
        result: List[pa.RecordBatch] = []
        failure: List[BaseException] = []

        def run() -> None:
            try:
                result.extend(self._drain(schema))
            except BaseException as e:  # reported to the waiting thread
                failure.append(e)

        th = threading.Thread(target=run, name="kalam-read-all", daemon=True)
        th.start()
        try:
            while th.is_alive():
                th.join(_POLL_SECONDS)
        finally:
            # Also on Ctrl-C: the release cancels a get_next in progress, so
            # the helper ends; what it read is dropped with it.
            self.release()
        if failure:
            raise failure[0]
        return result

    def _drain(self, schema: pa.Schema) -> List[pa.RecordBatch]:
        out: List[pa.RecordBatch] = []
        while True:
            arr = ArrowArray()
            b = self._batch_of(self._get_next(arr), arr, schema)
            if b is None:
                return out
            out.append(b)

    def to_reader(self) -> pa.RecordBatchReader:
        """Moves the stream into a pyarrow RecordBatchReader (zero-copy);
        this object no longer owns it."""
        with self._lock:
            if self.released:
                raise _ffi.error_for_status(6, "the scan was cancelled or released")
            reader = pa.RecordBatchReader._import_from_c(self.address)
        return reader

    def release(self) -> None:
        """Releases the stream if it is still owned; idempotent, any thread."""
        with self._lock:
            fn = self.struct.release
            if fn:
                _ffi.STREAM_RELEASE(fn)(ctypes.byref(self.struct))
                # The contract says release marks the struct released; make
                # sure a second call can never reach a stale pointer.
                self.struct.release = None
        w = self._worker
        if w is not None:
            w.stop()
            self._worker = None

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass


class _Request:
    """One get_next handed to the worker; ``lock`` orders the worker's result
    against the waiter giving up, so a batch that arrives late is freed
    exactly once."""

    __slots__ = ("out", "done", "lock", "rc", "exc", "abandoned")

    def __init__(self, out: ArrowArray) -> None:
        self.out = out
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.rc: Optional[int] = None
        self.exc: Optional[BaseException] = None
        self.abandoned = False

    def drop_batch(self) -> None:
        if self.rc == 0 and self.out.release:
            _ffi.ARRAY_RELEASE(self.out.release)(ctypes.byref(self.out))


class _Worker:
    """A helper thread that performs get_next for a main-thread reader."""

    def __init__(self, stream: CStream) -> None:
        self._stream = stream
        self._requests: "queue.SimpleQueue[Optional[_Request]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kalam-scan", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            req = self._requests.get()
            if req is None:
                return
            rc: Optional[int] = None
            exc: Optional[BaseException] = None
            try:
                rc = self._stream._get_next(req.out)
            except BaseException as e:  # a ctypes failure; reported to the waiter
                exc = e
            with req.lock:
                req.rc, req.exc = rc, exc
                if req.abandoned:
                    req.drop_batch()
                req.done.set()

    def get_next(self, out: ArrowArray) -> int:
        req = _Request(out)
        self._requests.put(req)
        try:
            while not req.done.wait(_POLL_SECONDS):
                pass
        except BaseException:
            with req.lock:
                req.abandoned = True
                if req.done.is_set():
                    req.drop_batch()
            raise
        if req.exc is not None:
            raise req.exc
        assert req.rc is not None
        return req.rc

    def stop(self) -> None:
        self._requests.put(None)
