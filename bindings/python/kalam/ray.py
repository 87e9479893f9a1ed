"""Ray integration: a table in storage as a ``ray.data.Dataset`` (see
docs/REFERENCE.md, "Scan splits and distributed reads").

    import kalam.ray
    ds = kalam.ray.read_table("s3://bucket/store", "app.events", filter="amount > 10")
    ds.groupby("kind").sum("amount").to_pandas()

:func:`read_table` builds a :class:`KalamDatasource`: it plans the scan's
splits (:meth:`kalam.Scan.splits`) once, from a storage-only reader opened
and closed on the driver, at one committed version (``version``, else the
latest at the moment of the call). Ray gets one ``ReadTask`` per split; the
task opens its own storage-only reader in the Ray worker, reads the split's
key range at that version with the projection and filter pushed into
libkalam, and yields Arrow tables. The blocks, in task order, equal
``t.scan(columns, filter, version=v)`` row for row.

Ray workers are processes that Ray starts (never forked from the driver),
so each loads libkalam itself, as the process rules require. Hot rows live
only with the writer: flush to publish them.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import ReadTask

from ._scan import ScanSplit
from .dask import plan_splits

__all__ = ["read_table", "KalamDatasource"]

# In-memory width assumed for a value of a variable-width column (strings,
# binary, lists), for Ray's size estimates only.
_VARIABLE_WIDTH_BYTES = 32

# Rows per block a read task yields.
_BLOCK_ROWS = 1 << 20


def _row_width(schema: pa.Schema) -> int:
    """Estimated in-memory bytes per row of ``schema`` (fixed-width types
    exactly, plus a validity bit; variable-width ones by a guess)."""
    width = 0
    for f in schema:
        try:
            width += max(f.type.bit_width // 8, 1)
        except ValueError:  # not a fixed-width type
            width += _VARIABLE_WIDTH_BYTES
    return max(width, 1)


def _read_split_blocks(spec: str, storage_options: Dict[str, Any]) -> Iterable[pa.Table]:
    """The read function of one task (runs in a Ray worker): the split's
    batches, a few at a time, as Arrow tables."""
    reader = ScanSplit(spec).scan(storage_options=storage_options).to_reader()
    with reader:
        pending: List[pa.RecordBatch] = []
        rows, yielded = 0, False
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            # Blocks of about 1 M rows: big enough for Ray's per-block cost,
            # small enough to stream a split of many segments.
            if rows >= _BLOCK_ROWS:
                yield pa.Table.from_batches(pending, schema=reader.schema)
                pending, rows, yielded = [], 0, True
        if pending or not yielded:
            # An empty split still yields one (empty) block with the schema.
            yield pa.Table.from_batches(pending, schema=reader.schema)


class KalamDatasource(ray.data.Datasource):
    """A ``ray.data.Datasource`` over one libkalam table in storage: one
    read task per scan split, every task at the same committed version
    (see :func:`read_table`)."""

    def __init__(
        self,
        uri: str,
        table: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        version: "Optional[Union[int, datetime.datetime]]" = None,
        storage_options: Optional[Mapping[str, Any]] = None,
        max_splits: Optional[int] = None,
        target_rows: Optional[int] = None,
    ) -> None:
        """Plans the splits at once (parameters as for :func:`read_table`);
        the tasks read them later, each through a reader of its own."""
        super().__init__()
        self.uri = uri
        self.table = table
        self.storage_options: Dict[str, Any] = dict(storage_options or {})
        #: The planned splits (one read task each) and the result schema.
        self.splits, self.schema = plan_splits(
            uri, table, columns, filter, version, storage_options, max_splits, target_rows
        )
        #: The committed version every task reads.
        self.version: int = self.splits[0].version
        self._row_width = _row_width(self.schema)

    def get_name(self) -> str:
        """The name Ray shows for the read: table and version."""
        return f"Kalam({self.table}@v{self.version})"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        """Bytes the result takes in memory, estimated from the splits' row
        counts and the schema's column widths."""
        return sum(s.rows for s in self.splits) * self._row_width

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None,
                       data_context: Any = None) -> List[ReadTask]:
        """One ReadTask per split, whatever ``parallelism`` asks: the
        splits are the unit of work libkalam planned (their number is set
        by ``max_splits``/``target_rows`` of :func:`read_table`)."""
        tasks = []
        for s in self.splits:
            # num_rows stays None: a split knows only an upper bound of its
            # rows (its segments' rows, overwritten versions, tombstones and
            # filtered-out rows included), and Ray takes a known num_rows as
            # exact — Dataset.count() would return the sum without reading.
            # The bound goes into the size estimate instead.
            meta = BlockMetadata(num_rows=None, size_bytes=s.rows * self._row_width,
                                 input_files=None, exec_stats=None)
            spec, opts = s.spec, self.storage_options
            kwargs: Dict[str, Any] = {}
            if per_task_row_limit is not None:
                kwargs["per_task_row_limit"] = per_task_row_limit
            tasks.append(ReadTask(lambda spec=spec, opts=opts: _read_split_blocks(spec, opts), meta,
                                  schema=self.schema, **kwargs))
        return tasks


def read_table(
    uri: str,
    table: str,
    columns: Optional[Sequence[str]] = None,
    filter: Optional[str] = None,
    version: "Optional[Union[int, datetime.datetime]]" = None,
    storage_options: Optional[Mapping[str, Any]] = None,
    *,
    max_splits: Optional[int] = None,
    target_rows: Optional[int] = None,
    **read_args: Any,
) -> "ray.data.Dataset":
    """A Ray Dataset of ``table`` (``"ns.table"``) under the storage root
    ``uri`` (a local path or ``s3://bucket/prefix``): one read task per
    scan split, every task at the same committed version.

    ``columns``, ``filter``, ``version``, ``storage_options``,
    ``max_splits`` and ``target_rows`` mean what they mean for
    :func:`kalam.dask.read_table` (``storage_options`` travel with the read
    tasks). ``read_args`` go to ``ray.data.read_datasource`` (e.g.
    ``ray_remote_args``). Each task's metadata carries the schema and a size
    estimate from the split's row bound; its row count is left unknown
    (the bound is not exact), so ``count()`` reads.
    """
    ds = KalamDatasource(uri, table, columns, filter, version, storage_options, max_splits, target_rows)
    return ray.data.read_datasource(ds, **read_args)
