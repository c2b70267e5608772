"""JSON and JSON Lines as string record batches.

Owns: both JSON layouts. A ``.json`` file holds an array of objects, or an object with exactly one
member that is an array of objects (``{"data": [...], "total": 2}``); it is loaded whole. A
``.jsonl``/``.ndjson`` file holds one object per line and is streamed; a ``.json`` file that turns
out to be JSON Lines is read as such.

Each object is one row, its members the columns: strings as they are, ``true``/``false`` as text,
numbers as JSON writes them, null as null, nested objects and arrays as compact JSON text.
``_row`` is the item's position in the array, or the line number in JSON Lines (blank lines are
skipped but still counted). A line or array item that is not a JSON object is rejected as
``malformed_json``. Member names follow ``csv.unique_column_names``' rules (``ColumnNamer``).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats, RejectedRow, open_source
from servq.ingest.readers.csv import ColumnNamer

LINES_SUFFIXES = (".jsonl", ".ndjson")
# How many bad lines may open a JSON Lines file before it is judged not JSON Lines at all.
_MAX_LEADING_BAD_LINES = 1000


class JsonReader:
    format: str = "json"
    suffixes: tuple[str, ...] = (".json", ".jsonl", ".ndjson")

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Check the file now (a plain .json is parsed here); return the stream of batches."""
        path = Path(path)
        open_source(path, self.format, stats)
        encoding = _encoding(path, options)
        stats.encoding = encoding
        if path.suffix.lower() in LINES_SUFFIXES:
            return _lines(path, encoding, options, stats)
        data = path.read_bytes()
        try:
            doc = json.loads(data.decode(encoding))
        except UnicodeDecodeError as e:
            raise SourceError(
                path,
                f"cannot be decoded as {encoding} at byte {e.start}; set the right encoding in "
                "the profile's read options",
            ) from None
        except json.JSONDecodeError as e:
            if e.msg == "Extra data" and _first_line_is_object(data, encoding):
                return _lines(path, encoding, options, stats)
            raise SourceError(
                path, f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
            ) from None
        items = _records(path, doc)
        stats.bytes_read = stats.bytes_total
        return _array(items, options, stats)


def _encoding(path: Path, options: ReadOptions) -> str:
    if options.encoding:
        try:
            return codecs.lookup(options.encoding).name
        except LookupError:
            raise SourceError(path, f"unknown encoding '{options.encoding}'") from None
    with path.open("rb") as f:
        head = f.read(4096)
    # JSON is UTF-8 by its standard; json.detect_encoding also spots UTF-16/32 and a BOM
    return codecs.lookup(json.detect_encoding(head)).name


def _first_line_is_object(data: bytes, encoding: str) -> bool:
    line = data.split(b"\n", 1)[0]
    try:
        return isinstance(json.loads(line.decode(encoding)), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _records(path: Path, doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        lists = [
            k
            for k, v in doc.items()
            if isinstance(v, list) and all(isinstance(item, dict) for item in v)
        ]
        if len(lists) == 1:
            items: list[Any] = doc[lists[0]]
            return items
        if len(lists) > 1:
            raise SourceError(
                path,
                "the object has several arrays of objects ("
                + ", ".join(lists)
                + '); expected exactly one, such as {"data": [...]}',
            )
        raise SourceError(
            path,
            "expected an array of objects or an object with one array-of-objects member "
            '(such as {"data": [...]}); found an object with members: '
            + (", ".join(list(doc)[:10]) or "none"),
        )
    raise SourceError(path, f"expected an array of objects; found a JSON {_kind(doc)}")


def _array(items: list[Any], options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    namer = ColumnNamer()
    rows: list[dict[str, str | None]] = []
    numbers: list[int] = []
    yielded = False
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rows.append({k: cell(v) for k, v in item.items()})
            numbers.append(i)
        else:
            stats.rejected.append(
                RejectedRow(
                    i,
                    "malformed_json",
                    f"array item {i} is a JSON {_kind(item)}, not an object",
                    json.dumps(item, ensure_ascii=False),
                )
            )
        if len(rows) >= options.batch_rows:
            yielded = True
            yield records_to_batch(rows, numbers, namer)
            rows, numbers = [], []
    if rows or not yielded:
        yield records_to_batch(rows, numbers, namer)


def _lines(
    path: Path, encoding: str, options: ReadOptions, stats: ReadStats
) -> Iterator[pa.RecordBatch]:
    if encoding.startswith(("utf-16", "utf-32")):
        # lines are split on the byte 0x0a, which only ASCII-compatible encodings allow
        raise SourceError(
            path, f"JSON Lines must be in UTF-8 or another ASCII-based encoding, not {encoding}"
        )
    namer = ColumnNamer()
    rows: list[dict[str, str | None]] = []
    numbers: list[int] = []
    yielded = False
    blank = True
    # Rejections before the first good line are held back: if no good line ever comes, the file
    # is not JSON Lines at all and must fail whole, with nothing in the quarantine.
    leading: list[RejectedRow] | None = []
    decoder_name = "utf-8-sig" if encoding == "utf-8" else encoding
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            stats.bytes_read += len(raw)
            try:
                line = raw.decode(decoder_name if number == 1 else encoding)
            except UnicodeDecodeError as e:
                bad: RejectedRow | None = RejectedRow(
                    number,
                    "malformed_json",
                    f"line {number} is not valid {encoding} (byte {e.start + 1} of the line)",
                    raw.decode(encoding, errors="replace").rstrip("\r\n"),
                )
            else:
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                blank = False
                bad = None
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    detail = f"line {number} is not valid JSON: {e.msg} at column {e.colno}"
                    bad = RejectedRow(number, "malformed_json", detail, line)
                else:
                    if isinstance(obj, dict):
                        rows.append({k: cell(v) for k, v in obj.items()})
                        numbers.append(number)
                    else:
                        detail = f"line {number} is a JSON {_kind(obj)}, not an object"
                        bad = RejectedRow(number, "malformed_json", detail, line)
            if bad is not None:
                if leading is None:
                    stats.rejected.append(bad)
                else:
                    leading.append(bad)
                    if len(leading) >= _MAX_LEADING_BAD_LINES:
                        raise _not_json_lines(path, leading)
            elif leading is not None:
                stats.rejected.extend(leading)
                leading = None
            if len(rows) >= options.batch_rows:
                yielded = True
                yield records_to_batch(rows, numbers, namer)
                rows, numbers = [], []
    if leading:
        raise _not_json_lines(path, leading)
    if blank:
        raise SourceError(path, "the file has no data (only blank lines)")
    stats.bytes_read = stats.bytes_total
    if rows or not yielded:
        yield records_to_batch(rows, numbers, namer)


def _not_json_lines(path: Path, bad: list[RejectedRow]) -> SourceError:
    return SourceError(
        path,
        f"not JSON Lines: none of the first {len(bad)} lines is a JSON object ({bad[0].detail})",
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def cell(value: Any) -> str | None:
    """One JSON value as the text a string column holds."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def records_to_batch(
    rows: list[dict[str, str | None]],
    numbers: list[int],
    namer: Callable[[str], str] | None = None,
) -> pa.RecordBatch:
    """Rows of text (any keys per row) as a string batch with ``_row``; ``namer`` names columns."""
    columns: dict[str, list[str | None]] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            col = columns.get(name)
            if col is None:
                # a column first met at row i was missing (null) in the rows before
                col = columns[name] = [None] * i
            col.append(value)
        for col in columns.values():
            if len(col) == i:
                col.append(None)
    arrays = [pa.array(col, pa.string()) for col in columns.values()]
    arrays.append(pa.array(numbers, pa.int64()))
    names = [namer(k) for k in columns] if namer is not None else list(columns)
    return pa.RecordBatch.from_arrays(arrays, names=[*names, ROW_COLUMN])
