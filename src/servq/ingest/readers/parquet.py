"""Parquet as string record batches.

Owns: turning typed Parquet columns into text the way a person would write them. Timestamps
become ISO 8601 (``2024-01-02T03:04:05``, fractions only when present); a zoned timestamp is
written in its zone with the offset (``2024-01-02T04:04:05+01:00``). Dates are ``YYYY-MM-DD``,
booleans ``true``/``false``, numbers their plain text (``2.0`` is ``2``), nested values
(structs, lists, maps) compact JSON. ``_row`` is the row's position in the file.
Column names follow ``csv.unique_column_names``' rules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats, open_source
from servq.ingest.readers.csv import unique_column_names


class ParquetReader:
    format: str = "parquet"
    suffixes: tuple[str, ...] = (".parquet", ".pq")

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Check the file's footer now; return the stream of batches."""
        path = Path(path)
        open_source(path, self.format, stats)
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError) as e:
            raise SourceError(path, f"not a readable Parquet file: {e}") from None
        return _stream(path, meta.num_rows, options, stats)


def _stream(
    path: Path, total_rows: int, options: ReadOptions, stats: ReadStats
) -> Iterator[pa.RecordBatch]:
    done = 0
    try:
        with pq.ParquetFile(path) as pf:
            names = unique_column_names(pf.schema_arrow.names)
            schema = pa.schema([*((n, pa.string()) for n in names), (ROW_COLUMN, pa.int64())])
            yielded = False
            for batch in pf.iter_batches(batch_size=options.batch_rows):
                arrays = [as_text(col) for col in batch.columns]
                arrays.append(pa.array(range(done + 1, done + batch.num_rows + 1), pa.int64()))
                done += batch.num_rows
                stats.bytes_read = stats.bytes_total * done // max(total_rows, 1)
                yielded = True
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    except (pa.ArrowException, OSError) as e:
        raise SourceError(path, f"cannot read the Parquet data after row {done}: {e}") from None
    stats.bytes_read = stats.bytes_total
    if not yielded:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def as_text(col: pa.Array) -> pa.Array:
    """One typed Arrow column as a string column (nulls stay null)."""
    t = col.type
    if pa.types.is_dictionary(t):
        return as_text(col.dictionary_decode())
    if pa.types.is_string(t):
        return col
    if pa.types.is_timestamp(t):
        return _timestamps(col)
    if pa.types.is_time(t):
        # like timestamps: no ".000000" on whole seconds
        return pc.replace_substring_regex(col.cast(pa.string()), pattern=r"\.0+$", replacement="")
    if pa.types.is_large_string(t) or pa.types.is_date(t) or _plain_cast(t):
        return col.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array([_bytes_text(v) for v in col.to_pylist()], pa.string())
    values = col.to_pylist(maps_as_pydicts="lossy")
    if pa.types.is_nested(t):
        return pa.array([None if v is None else _json(v) for v in values], pa.string())
    # durations, intervals and other rare scalars: Python's own text for them
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _json(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def _plain_cast(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def _timestamps(col: pa.Array) -> pa.Array:
    """ISO 8601 like ``datetime.isoformat``: no fraction on whole seconds, offset as ``+HH:MM``."""
    tz = col.type.tz
    fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if tz else "")
    if col.type.unit == "s":
        text = pc.strftime(col, format=fmt)
    else:
        # strftime prints a fraction for any unit finer than seconds, even ".000000": whole
        # seconds are formatted from a seconds-unit copy instead
        seconds = col.cast(pa.timestamp("s", tz), safe=False)
        whole = pc.equal(seconds.cast(col.type), col)
        text = pc.if_else(whole, pc.strftime(seconds, format=fmt), pc.strftime(col, format=fmt))
    if tz:
        text = pc.replace_substring_regex(text, pattern=r"([+-]\d\d)(\d\d)$", replacement=r"\1:\2")
    return text


def _bytes_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # not text: base64 keeps it intact and recognisable
        return "base64:" + base64.b64encode(value).decode("ascii")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return _bytes_text(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
