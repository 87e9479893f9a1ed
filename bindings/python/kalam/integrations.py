"""Query-engine glue: DataFusion catalog registration.

:func:`register_datafusion` registers one schema provider per namespace
whose ``table(name)`` is asked for each table when DataFusion plans a query.

With the ``kalam_datafusion`` extension installed (the ``kalam-datafusion``
wheel, ``make datafusion-wheel``), each table is a Rust ``TableProvider``
over libkalam's C ABI, handed to DataFusion through the datafusion-ffi
capsule: the query's projection, its translatable filters and its limit
reach ``kalam_scan`` (``EXPLAIN`` shows a ``KalamScanExec`` with the filter
libkalam received), and the scan streams when the query runs.

Without it, a fallback: ``table(name)`` starts a fresh libkalam scan of the
whole table and hands it to DataFusion as an in-memory pyarrow dataset.
Results are the same (upserts, deletes and hot rows seen exactly as
``Table.scan`` sees them), but every column and row is read at planning
time, and a DataFrame keeps what it read if it is collected again. A
warning says so.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Set

from ._ffi import library_path
from .errors import NotFound, ReadOnly


if TYPE_CHECKING:  # pragma: no cover
    from ._db import Database

__all__ = ["register_datafusion"]


def _system_table_names(db: "Database") -> Set[str]:
    t = db.system("tables", columns=["table_name"], filter="type = 'system'")
    return set(t.column("table_name").to_pylist())


def _user_table_names(db: "Database", namespace: str) -> Set[str]:
    return {q.split(".", 1)[1] for q in db.tables() if q.split(".", 1)[0] == namespace}


def _ffi_provider_class() -> Optional[Callable[..., Any]]:
    """``kalam_datafusion.KalamTableProvider`` when the extension is
    installed, else None."""
    try:
        from kalam_datafusion import KalamTableProvider
    except ImportError:
        return None
    return KalamTableProvider


def _make_schema_provider(
    db: "Database", namespace: str, ctx: Any, provider_class: Optional[Callable[..., Any]]
) -> Any:
    import pyarrow.dataset as ds
    from datafusion.catalog import SchemaProvider, Table

    class KalamSchemaProvider(SchemaProvider):
        """The tables of one libkalam namespace, looked up at each planning."""

        def owner_name(self) -> Optional[str]:
            return None

        def table_names(self) -> Set[str]:
            if namespace == "system":
                return _system_table_names(db)
            return _user_table_names(db, namespace)

        def table(self, name: str) -> Optional[Table]:
            # Asked at every planning: the lookup itself says whether the
            # table exists (listing the namespace first cost a query about
            # 0.6 ms, a tenth of a selective scan).
            qualified = f"{namespace}.{name.lower()}"
            try:
                if provider_class is not None:
                    # The Database keeps owning the handle; this closure
                    # keeps the Database alive as long as the schema is
                    # registered.
                    provider = provider_class(library_path(), db._handle(), qualified)
                    return Table(provider, ctx)
                scan = db.scan(qualified)
            except NotFound:
                return None
            return Table(ds.dataset(scan.to_reader()))

        def table_exist(self, name: str) -> bool:
            return name.lower() in self.table_names()

        # The registered schemas are read-only views of the store: tables are
        # created and dropped through the Database, never through SQL.
        def register_table(self, name: str, table: Any) -> None:
            raise ReadOnly(
                f"cannot register {name!r} in {namespace!r}: libkalam tables are created with Database.create_table"
            )

        def deregister_table(self, name: str, cascade: bool) -> None:
            raise ReadOnly(f"cannot drop {namespace}.{name} through DataFusion; use Database.drop_table")

    return KalamSchemaProvider()


def register_datafusion(ctx: Any, db: "Database", catalog: str = "datafusion") -> List[str]:
    """Registers every namespace of ``db`` (``system`` included) as a schema
    of DataFusion ``ctx``'s catalog ``catalog``, so that
    ``ctx.sql("select * from app.events")`` and
    ``ctx.sql("select * from system.tables")`` read through libkalam scans.

    Tables created later in a registered namespace are seen without
    registering again; a namespace created later needs another call.
    Returns the registered schema names.

    With ``kalam_datafusion`` installed, projection, filters and limit are
    pushed into libkalam; without it a warning says that nothing is.
    """
    from ._db import Database

    if not isinstance(db, Database):
        raise TypeError(f"register_datafusion takes a kalam.Database, not {type(db).__name__}")
    provider_class = _ffi_provider_class()
    if provider_class is None:
        warnings.warn(
            "kalam_datafusion is not installed: kalam.register_datafusion falls back to reading whole "
            "tables at planning time, and no projection, filter or limit is pushed down into libkalam. "
            "Install the kalam-datafusion wheel (`make datafusion-wheel`) for pushdown.",
            RuntimeWarning,
            stacklevel=2,
        )
    cat = ctx.catalog(catalog)
    names = db.namespaces()
    if "system" not in names:
        names.append("system")
    for ns in names:
        cat.register_schema(ns, _make_schema_provider(db, ns, ctx, provider_class))
    return names


