"""Dask integration: a table in storage as a ``dask.dataframe.DataFrame``
(see docs/REFERENCE.md, "Scan splits and distributed reads").

    import kalam.dask
    df = kalam.dask.read_table("s3://bucket/store", "app.events",
                               columns=["id", "kind", "amount"], filter="amount > 10",
                               storage_options={"endpoint": "https://..."})
    df.groupby("kind").amount.sum().compute()

:func:`read_table` opens a storage-only reader on ``uri`` (nothing but what
storage holds: no RocksDB, no writer), plans the scan's splits
(:meth:`kalam.Scan.splits`) at one committed version — the ``version``
asked for, else the latest at the moment of the call — and closes the
reader. Each split becomes one partition: the task that computes it opens
its own storage-only reader in the worker process, reads the split's key
range at that version with the projection and filter pushed into libkalam,
and returns a pandas DataFrame. The partitions, concatenated in order,
equal ``t.scan(columns, filter, version=v).to_pandas()`` row for row.

Workers load libkalam themselves: run them as separate processes that were
not forked from a process that had loaded it (Dask's ``LocalCluster`` and
``dask worker`` spawn theirs; see the process rules in the README).
Hot rows live only with the writer: flush to publish them.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

import pyarrow as pa

from ._db import open as _open
from ._scan import ScanSplit

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["read_table", "plan_splits", "read_split"]


def _to_pandas(table: pa.Table) -> "pd.DataFrame":
    # One conversion for meta and partitions, so that their dtypes agree.
    return table.to_pandas()


def plan_splits(
    uri: str,
    table: str,
    columns: Optional[Sequence[str]] = None,
    filter: Optional[str] = None,
    version: "Optional[Union[int, datetime.datetime]]" = None,
    storage_options: Optional[Mapping[str, Any]] = None,
    max_splits: Optional[int] = None,
    target_rows: Optional[int] = None,
) -> "tuple[List[ScanSplit], pa.Schema]":
    """The splits of a scan of ``table`` under the storage root ``uri``
    and the scan's result schema, from a storage-only reader opened and
    closed here. Every split reads the same committed version (``version``,
    else the latest now). Shared by the Dask and Ray readers."""
    if isinstance(columns, str):
        raise TypeError("columns must be a list of column names, not a string")
    with _open(storage=uri, storage_options=storage_options, read_only=True) as db:
        t = db.table(table)
        splits = t.scan(columns=columns, filter=filter, version=version).splits(
            max_splits=max_splits, target_rows=target_rows
        )
        # The schema of the version the splits read (an alter after it
        # does not change what they return).
        schema = t.scan(columns=columns, version=splits[0].version).schema
    return splits, schema


def read_split(
    split: ScanSplit,
    storage_options: Optional[Mapping[str, Any]] = None,
    columns: Optional[Sequence[str]] = None,
) -> "pd.DataFrame":
    """Reads one split as a pandas DataFrame (the task of one partition;
    runs in a worker). ``columns`` narrows the split's projection: Dask
    passes the columns a query needs (``df[["a"]]``, a group-by's keys and
    values), and they are what libkalam reads."""
    if columns is not None:
        d = json.loads(split.spec)
        d["columns"] = [columns] if isinstance(columns, str) else list(columns)
        split = ScanSplit(json.dumps(d, separators=(",", ":")))
    return _to_pandas(split.scan(storage_options=dict(storage_options or {})).to_table())


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
) -> "dd.DataFrame":
    """A lazy Dask DataFrame of ``table`` (``"ns.table"``) under the storage
    root ``uri`` (a local path or ``s3://bucket/prefix``).

    ``columns`` (projection), ``filter`` (docs/REFERENCE.md, "Filter
    language") and ``version`` (an
    int or a datetime, as in :meth:`kalam.Table.scan`) are pushed into every
    task. ``storage_options`` (``endpoint``, ``region``, credentials,
    ``allow_http``; the workers' ``AWS_*`` environment fills what is
    missing) are used to plan here and are passed to every task, so they
    travel in the task graph: leave credentials to the workers' environment
    when the graph must not carry them. ``max_splits``/``target_rows`` go
    to :meth:`kalam.Scan.splits` (default: about one partition per live
    segment of at most ~1 M rows).

    One partition per split, in key order; ``divisions`` are unknown (the
    splits are ranges of encoded keys). Dask's column projection reaches
    libkalam: a query that needs fewer columns reads fewer. ``meta`` comes from the scan's
    schema. Raises :class:`kalam.NotFound` for a missing table or a vacuumed
    version, :class:`kalam.InvalidArgument` for a bad filter or column.
    """
    import dask
    import dask.dataframe as dd

    splits, schema = plan_splits(uri, table, columns, filter, version, storage_options, max_splits, target_rows)
    meta = _to_pandas(schema.empty_table())
    opts: Dict[str, Any] = dict(storage_options or {})
    # Dask's default converts every object column to strings, taking the
    # decimals, dates, nullable booleans, nested values and bytes that
    # to_pandas() gives as objects for text (and failing on bytes that
    # are not UTF-8): the partitions stay as to_pandas() makes them.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(
            read_split,
            splits,
            storage_options=opts,
            meta=meta,
            divisions=None,
            label="kalam-read-" + table.replace(".", "-"),
            enforce_metadata=True,
        )
