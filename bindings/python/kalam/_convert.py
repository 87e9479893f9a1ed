"""Turning the host's data (pyarrow, pandas, Polars, Arrow PyCapsule objects)
into pyarrow readers and schemas without materialising streams."""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

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


def _kind(t: pa.DataType) -> Any:
    """What a Python value of type ``t`` is, whatever Arrow's width or
    layout: ("list", kind of the values) for every list type."""
    if pa.types.is_null(t):
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ("list", _kind(t.value_type))
    for kind, test in (("bool", pa.types.is_boolean), ("int", pa.types.is_integer), ("float", pa.types.is_floating),
                       ("str", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x) or pa.types.is_string_view(x)),
                       ("bin", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)
                        or pa.types.is_fixed_size_binary(x) or pa.types.is_binary_view(x)),
                       ("decimal", pa.types.is_decimal), ("timestamp", pa.types.is_timestamp),
                       ("date", pa.types.is_date), ("time", pa.types.is_time), ("duration", pa.types.is_duration)):
        if test(t):
            return kind
    return str(t)


def _same_kind(inferred: Any, target: Any) -> bool:
    """Whether Python values pyarrow inferred as kind ``inferred`` are the
    same kind of value as ``target`` (ints are numbers for a float column)."""
    if inferred is None or inferred == target:
        return True
    if isinstance(inferred, tuple) and isinstance(target, tuple):
        return _same_kind(inferred[1], target[1])
    return inferred == "int" and target == "float"


def _column(name: str, values: Any, types: Optional[pa.Schema]) -> Any:
    """``values`` of a dict of columns as an array: a list of Python values
    takes the table's type for that column (a Python float has no width:
    [0.5] is the float32 of a float32 column, a list of lists the
    fixed_size_list of an embedding column), when pyarrow converts them to
    it and they are the same kind of value (no bool as int, no float as
    int); anything else is left to pyarrow's inference, and the library
    then casts it losslessly or names what does not fit."""
    if types is None or not isinstance(values, (list, tuple)):
        return values
    idx = types.get_field_index(name)
    if idx < 0:
        return values
    target = types.field(idx).type
    if pa.types.is_struct(target) or pa.types.is_map(target):
        # Dicts (keys in any order, missing keys null) and key-value pairs
        # take the column's layout; inferred alone, another key order or a
        # missing key made another struct type, which no cast matches.
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
            pass
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return values  # let pyarrow say why, in context
    if inferred.type == target or not _same_kind(_kind(inferred.type), _kind(target)):
        return inferred
    try:
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
        return inferred


def as_reader(data: DataLike, types: Optional[Callable[[], pa.Schema]] = None) -> pa.RecordBatchReader:
    """A RecordBatchReader over ``data``.

    Accepts pyarrow Table, RecordBatch and RecordBatchReader; pandas and
    Polars DataFrames (a Polars LazyFrame is collected); any object with
    ``__arrow_c_stream__`` (read lazily, batch by batch) or
    ``__arrow_c_array__`` (a struct array); a dict of columns or a list of row
    dicts. Raises TypeError for anything else. ``types``, when given, returns
    the schema of the table written to: Python values of a dict of columns
    or of row dicts take its column types where they convert (see
    :func:`_column`).
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
        hint = types() if types is not None else None
        return pa.table({name: _column(name, values, hint) for name, values in data.items()}).to_reader()
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        if types is None:
            return pa.Table.from_pylist(data).to_reader()
        names: Dict[str, None] = {}
        for r in data:
            names.update(dict.fromkeys(r))
        hint = types()
        return pa.table({n: _column(n, [r.get(n) for r in data], hint) for n in names}).to_reader()
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
    """The column type a table gets for input of type ``t`` (see
    docs/REFERENCE.md, "Creating a table from data"):
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
