"""Turning the host's data (pyarrow, pandas, Polars, Arrow PyCapsule objects)
into pyarrow readers and schemas without materialising streams."""

from __future__ import annotations

import sys
from typing import Any, Iterable, List, Mapping, Sequence

import pyarrow as pa

from .errors import InvalidArgument

__all__ = ["as_reader", "as_schema", "keys_as_reader", "is_schema_like", "infer_schema", "SchemaLike", "DataLike"]

#: Anything :func:`as_schema` accepts.
SchemaLike = Any
#: Anything :func:`as_reader` accepts.
DataLike = Any


def _is_pandas(obj: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _is_polars(obj: Any) -> bool:
    pl = sys.modules.get("polars")
    return pl is not None and isinstance(obj, (pl.DataFrame, pl.LazyFrame))


def _pandas_to_table(df: Any) -> pa.Table:
    # A named index (df.set_index("id")) is data; an unnamed one (the
    # RangeIndex, or what a filter leaves behind) is not, and as a column
    # "__index_level_0__" it would be rejected as unknown.
    keep_index = any(n is not None for n in df.index.names)
    return pa.Table.from_pandas(df, preserve_index=keep_index)


def as_reader(data: DataLike) -> pa.RecordBatchReader:
    """A RecordBatchReader over ``data``.

    Accepts pyarrow Table, RecordBatch and RecordBatchReader; pandas and
    Polars DataFrames (a Polars LazyFrame is collected); any object with
    ``__arrow_c_stream__`` (read lazily, batch by batch) or
    ``__arrow_c_array__`` (a struct array); a dict of columns or a list of row
    dicts. Raises TypeError for anything else.
    """
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.Table):
        return data.to_reader()
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(data.schema, [data])
    if _is_pandas(data):
        return _pandas_to_table(data).to_reader()
    if _is_polars(data):
        pl = sys.modules["polars"]
        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        return data.to_arrow().to_reader()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data)
    if hasattr(data, "__arrow_c_array__"):
        batch = pa.record_batch(data)
        return pa.RecordBatchReader.from_batches(batch.schema, [batch])
    if isinstance(data, Mapping):
        for name, values in data.items():
            # pyarrow reads a string as a sequence of characters: "abc" made
            # three rows, and {"id": "int64"} (a schema meant) five.
            if isinstance(values, (str, bytes)):
                raise TypeError(
                    f"column {name!r}: a {type(values).__name__} is not a column of values (give a list or array); "
                    "a schema takes pyarrow types, e.g. {'id': pa.int64()}"
                )
        return pa.table(dict(data)).to_reader()
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        return pa.Table.from_pylist(data).to_reader()
    raise TypeError(
        f"cannot read rows from {type(data).__module__}.{type(data).__name__}: expected a pyarrow "
        "Table/RecordBatch/RecordBatchReader, a pandas or Polars DataFrame, an object with "
        "__arrow_c_stream__ or __arrow_c_array__, a dict of columns or a list of row dicts"
    )


def keys_as_reader(keys: Any, key_fields: Sequence[pa.Field]) -> pa.RecordBatchReader:
    """A reader of key columns for a delete.

    Besides everything :func:`as_reader` takes, accepts a plain sequence of
    key values (one key column) or of tuples (composite keys), typed from
    ``key_fields``. A tabular input with more columns than the keys is
    projected to the key columns batch by batch, so a scan result can be
    passed as is.
    """
    if isinstance(keys, (list, tuple)) and not (keys and all(isinstance(k, Mapping) for k in keys)):
        cols: List[List[Any]] = [[] for _ in key_fields]
        for k in keys:
            parts = k if isinstance(k, tuple) else (k,)
            if len(parts) != len(key_fields):
                names = ", ".join(f.name for f in key_fields)
                raise ValueError(f"key {k!r} has {len(parts)} values; the key columns are ({names})")
            for i, v in enumerate(parts):
                cols[i].append(v)
        schema = pa.schema([pa.field(f.name, f.type, nullable=True) for f in key_fields])
        arrays = []
        for c, f in zip(cols, key_fields):
            try:
                arrays.append(pa.array(c, type=f.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
                raise InvalidArgument(f"key column {f.name!r} ({f.type}): {e}") from e
        return pa.Table.from_arrays(arrays, schema=schema).to_reader()
    reader = as_reader(keys)
    names = [f.name for f in key_fields]
    have = reader.schema.names
    if have == names or not all(n in have for n in names):
        # Exactly the keys, or something the library should report on.
        return reader
    sub = pa.schema([reader.schema.field(n) for n in names])

    def project(src: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for b in src:
            yield b.select(names)

    return pa.RecordBatchReader.from_batches(sub, project(reader))


def is_schema_like(obj: Any) -> bool:
    """Whether ``obj`` describes a schema (rather than holding rows): a
    pyarrow Schema, an ``__arrow_c_schema__``-only object, a mapping of name
    to pyarrow type, or a sequence of fields / (name, type) pairs."""
    if isinstance(obj, pa.Schema):
        return True
    if hasattr(obj, "__arrow_c_schema__") and not hasattr(obj, "__arrow_c_stream__") and not hasattr(obj, "__arrow_c_array__"):
        return True
    if isinstance(obj, Mapping):
        return bool(obj) and all(isinstance(v, pa.DataType) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(
            isinstance(f, pa.Field) or (isinstance(f, tuple) and len(f) == 2 and isinstance(f[1], pa.DataType)) for f in obj
        )
    return False


def plain_type(t: pa.DataType) -> pa.DataType:
    """The column type a table gets for input of type ``t`` (DESIGN §7):
    dictionaries (pandas categoricals) become their value type, large_utf8
    and utf8_view become utf8 (binary likewise), recursively in lists and
    structs."""
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_large_string(t) or t == pa.string_view():
        return pa.string()
    if pa.types.is_large_binary(t) or t == pa.binary_view():
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(pa.field(t.value_field.name, plain_type(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, plain_type(f.type), f.nullable) for f in t])
    return t


def infer_schema(schema: pa.Schema) -> pa.Schema:
    """The table schema inferred from input data's schema (see
    :func:`plain_type`); metadata (pandas') is dropped."""
    return pa.schema([pa.field(f.name, plain_type(f.type), f.nullable) for f in schema])


def as_schema(schema: SchemaLike) -> pa.Schema:
    """A pyarrow Schema from a Schema, an ``__arrow_c_schema__`` object, a
    mapping of name to type, or a sequence of fields / (name, type) pairs."""
    if isinstance(schema, pa.Schema):
        return schema
    if hasattr(schema, "__arrow_c_schema__"):
        return pa.schema(schema)
    if isinstance(schema, Mapping):
        return pa.schema(list(schema.items()))
    if isinstance(schema, (list, tuple)):
        return pa.schema(list(schema))
    raise TypeError(f"cannot use {type(schema).__name__} as a schema")
