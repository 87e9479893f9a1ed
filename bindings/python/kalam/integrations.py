"""Query-engine glue: DataFusion catalog registration.

DataFusion (the pinned ``datafusion`` Python package) cannot take a table
provider implemented in Python: its ``Table`` wraps built-in providers, Rust
FFI capsules, DataFrames and pyarrow datasets. It does take a *schema
provider* implemented in Python, and asks it for each table when it plans
each query. So :func:`register_datafusion` registers one schema provider per
namespace whose ``table(name)`` starts a fresh libkalam scan and hands it to
DataFusion as an in-memory pyarrow dataset: every ``ctx.sql(...)`` reads the
store as of its planning, through libkalam (upserts, deletes and hot rows
seen exactly as ``Table.scan`` sees them). The price: the scan reads every
column and row of each referenced table at planning time (no projection or
filter pushdown into libkalam), and a DataFusion DataFrame keeps what it
read if it is collected again. For pushdown over large cold tables, use
``Table.to_pyarrow_dataset()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Set

from .errors import ReadOnly


if TYPE_CHECKING:  # pragma: no cover
    from ._db import Database

__all__ = ["register_datafusion"]


def _system_table_names(db: "Database") -> Set[str]:
    t = db.system("tables", columns=["table_name"], filter="type = 'system'")
    return set(t.column("table_name").to_pylist())


def _user_table_names(db: "Database", namespace: str) -> Set[str]:
    return {q.split(".", 1)[1] for q in db.tables() if q.split(".", 1)[0] == namespace}


def _make_schema_provider(db: "Database", namespace: str) -> Any:
    import pyarrow.dataset as ds
    from datafusion.catalog import SchemaProvider, Table

    class KalamSchemaProvider(SchemaProvider):
        """The tables of one libkalam namespace; each lookup is a fresh scan."""

        def owner_name(self) -> Optional[str]:
            return None

        def table_names(self) -> Set[str]:
            if namespace == "system":
                return _system_table_names(db)
            return _user_table_names(db, namespace)

        def table(self, name: str) -> Optional[Table]:
            if not self.table_exist(name):
                return None
            scan = db.scan(f"{namespace}.{name}")
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
    """
    cat = ctx.catalog(catalog)
    names = db.namespaces()
    if "system" not in names:
        names.append("system")
    for ns in names:
        cat.register_schema(ns, _make_schema_provider(db, ns))
    return names


