"""Delimited text (CSV, TSV, semicolon or pipe separated) as string record batches.

Owns: encoding and delimiter detection, header naming, and the streamed parse. The parse itself is
pyarrow's C++ CSV reader; Python only looks at a sample of the file and numbers the rows.

Detection, when the profile does not say:

* encoding: a byte-order mark wins (UTF-8, UTF-16, UTF-32). Otherwise the first stretch of
  non-ASCII bytes in the file is decoded as UTF-8, then as GB18030 (a superset of GBK, which
  Chinese exports use), then handed to charset_normalizer. A pure ASCII file is UTF-8.
* delimiter: ``.tsv`` means tab; otherwise the one of ``, TAB ; |`` that splits the first lines
  into the most consistent number of fields (at least two).

Values are kept exactly as written: an empty field is the empty string, not null (the mapping
profile's ``null_values`` decide what counts as missing). Line ends may be LF, CRLF or bare CR;
quoted values may span lines. ``_row`` is the record number after the header (1 = first data
record), counting rejected records too, so it points at the record in the file. ``header_row``
counts physical lines (title lines above the header are skipped); 0 means the file has no
header and the columns are ``col_1``, ``col_2``, ...

Header names (see ``unique_column_names``) are stripped of surrounding spaces; an empty name becomes
``col_<position>``; a repeated name gets ``_2``, ``_3``, ... Names are compared without regard
to case because the staging database folds case, and ``_row`` is reserved for the row number.

``scan`` offers the engine a faster way for the common case: DuckDB's own parallel ``read_csv``
over the file, with every option given (no sniffing). It is offered only where DuckDB is known to
read the file exactly as pyarrow does: UTF-8 text, the header on the first line, at least two
columns (DuckDB keeps a blank line of a one-column file as an empty value), an ASCII delimiter,
and no space between a quote and the delimiter or line end (DuckDB drops such spaces, pyarrow
keeps them). A row with the wrong number of fields, bad UTF-8 or a stray quote make DuckDB raise,
and the engine then reads the file again with ``read``, which quarantines or reports them.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from servq.errors import SourceError
from servq.ingest.readers.base import (
    ROW_COLUMN,
    DirectScan,
    ReadOptions,
    ReadStats,
    RejectedRow,
    open_source,
)

DELIMITERS = (",", "\t", ";", "|")
SAMPLE_BYTES = 1 << 20
_SNIFF_RECORDS = 50
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_LINE_END = re.compile(r"\r\n|\r|\n")
_MIN_BLOCK = 1 << 20
_MAX_BLOCK = 64 << 20

# Magic numbers of formats people mistake for text exports; naming them makes the error actionable.
_MAGIC = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook?)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls?)"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"\x89PNG", "a PNG image"),
)


def unique_column_names(names: Iterable[str | None]) -> list[str]:
    """Usable, distinct column names for a header, in the same order.

    Surrounding spaces are stripped and an empty name becomes ``col_<1-based position>``. The first
    occurrence of a name keeps it; later ones become ``name_2``, ``name_3``, ... skipping any
    name already in the header. Comparison ignores case; ``_row`` is reserved (a source column
    called ``_row`` becomes ``_row_2``).
    """
    base = [(n or "").strip() or f"col_{i}" for i, n in enumerate(names, start=1)]
    taken = {ROW_COLUMN.lower()}
    keep = []
    for name in base:
        keep.append(name.lower() not in taken)
        taken.add(name.lower())
    out = []
    for name, kept in zip(base, keep, strict=True):
        if kept:
            out.append(name)
        else:
            new = _suffixed(name, taken)
            taken.add(new.lower())
            out.append(new)
    return out


class ColumnNamer:
    """The same naming rules as ``unique_column_names`` for keys met one at a time (JSON, XES)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._taken = {ROW_COLUMN.lower()}

    def __call__(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            name = key.strip() or f"col_{len(self._names) + 1}"
            if name.lower() in self._taken:
                name = _suffixed(name, self._taken)
            self._taken.add(name.lower())
            self._names[key] = name
        return name


def _suffixed(name: str, taken: set[str]) -> str:
    k = 2
    while f"{name}_{k}".lower() in taken:
        k += 1
    return f"{name}_{k}"


@dataclass(frozen=True)
class _Plan:
    names: list[str]
    encoding: str  # a Python codec name
    delimiter: str
    skip_rows: int  # physical lines pyarrow skips: everything up to and including the header
    block_size: int


class CsvReader:
    format: str = "csv"
    suffixes: tuple[str, ...] = (".csv", ".tsv", ".txt")

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Check the file and detect its layout now; return the stream of batches."""
        path = Path(path)
        size = open_source(path, self.format, stats)
        plan = _plan(path, size, options, stats)
        return _stream(path, plan, options, stats)

    def scan(self, path: Path, options: ReadOptions, stats: ReadStats) -> DirectScan | None:
        """Check the file and detect its layout now, like ``read``; a DuckDB ``read_csv`` of it
        if DuckDB reads this file exactly as ``read`` does, else None."""
        path = Path(path)
        size = open_source(path, self.format, stats)
        plan = _plan(path, size, options, stats)
        if not _duckdb_reads_alike(path, plan):
            return None
        columns = ", ".join(f"{_sql_text(n)}: 'VARCHAR'" for n in plan.names)
        names = ", ".join(_sql_text(n) for n in plan.names)
        sql = (
            f"read_csv({_sql_text(str(path.resolve()))}, header = true, auto_detect = false, "
            f"columns = {{{columns}}}, delim = {_sql_text(plan.delimiter)}, quote = '\"', "
            "escape = '\"', encoding = 'utf-8', compression = 'none', strict_mode = true, "
            f"null_padding = false, ignore_errors = false, force_not_null = [{names}])"
        )
        return DirectScan(sql=sql, columns=tuple(plan.names))


def _plan(path: Path, size: int, options: ReadOptions, stats: ReadStats) -> _Plan:
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    at_eof = len(head) >= size

    if options.encoding:
        try:
            encoding = codecs.lookup(options.encoding).name
        except LookupError:
            raise SourceError(path, f"unknown encoding '{options.encoding}'") from None
    else:
        encoding = _bom_encoding(head) or ""
    if not encoding.startswith(("utf-16", "utf-32")):
        _reject_binary(path, head)
    if not encoding:
        encoding = _detect_encoding(path, head, size)
    stats.encoding = encoding

    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=at_eof)
    except UnicodeError as e:
        where = (
            f"byte 0x{head[e.start]:02x} at offset {e.start} is not valid there"
            if isinstance(e, UnicodeDecodeError)
            else str(e)
        )
        raise SourceError(
            path,
            f"cannot be decoded as {encoding}: {where}; set the right encoding in the profile's "
            "read options",
        ) from None
    text = text.removeprefix("\ufeff")
    if not at_eof:
        # the sample may end mid-record; only whole lines take part in detection
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut >= 0 else text
    if _looks_binary(text):
        raise SourceError(path, f"does not look like text in {encoding} (many control characters)")
    if not text.strip():
        raise SourceError(path, "the file has no data (only blank lines)")

    header_row = max(options.header_row, 0)
    body = _after_lines(text, header_row - 1) if header_row > 0 else text
    if not body.strip():
        raise SourceError(path, f"no header: the file has fewer than {header_row} lines")

    if options.delimiter:
        # a profile may spell tab as the two characters \t (a quoted-literal YAML string)
        delimiter = {"\\t": "\t", "tab": "\t"}.get(options.delimiter.lower(), options.delimiter)
        if len(delimiter) != 1:
            raise SourceError(path, f"the delimiter must be one character, not {delimiter!r}")
    elif path.suffix.lower() == ".tsv":
        delimiter = "\t"
    else:
        delimiter = _sniff_delimiter(body)
    stats.delimiter = delimiter

    try:
        first = next(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter), [])
    except csv.Error as e:
        raise SourceError(path, f"cannot read the header line: {e}") from None
    if header_row > 0:
        names = unique_column_names(first)
    else:
        names = [f"col_{i}" for i in range(1, len(first) + 1)]

    lines = max(len(_LINE_END.findall(text)), 1)
    per_line = max(len(head) // lines, 1) if not at_eof else max(size // lines, 1)
    block = min(max(per_line * options.batch_rows, _MIN_BLOCK), _MAX_BLOCK)
    return _Plan(names, encoding, delimiter, max(header_row, 0), block)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_reads_alike(path: Path, plan: _Plan) -> bool:
    """Whether DuckDB's read_csv gives this file's rows exactly as pyarrow does (see the module
    documentation); reads the file once, at the speed of a memory search."""
    if plan.encoding not in ("utf-8", "utf-8-sig", "ascii") or plan.skip_rows != 1:
        return False
    if len(plan.names) < 2 or not plan.delimiter.isascii() or plan.delimiter in '"\r\n':
        return False
    if any(ch in str(path) for ch in "*?[{"):  # DuckDB would take the name for a pattern
        return False
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(b'"') < 0:
            return True
        d = plan.delimiter.encode()
        spaced = (b'" ', d + b' "', b'\n "', b'\r "')
        starts = (b' "', codecs.BOM_UTF8 + b' "')
        return not data[:8].startswith(starts) and all(data.find(s) < 0 for s in spaced)


def _bom_encoding(head: bytes) -> str | None:
    # UTF-32 LE starts with the UTF-16 LE mark, so it is tested first
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _reject_binary(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise SourceError(path, f"this is {what}, not delimited text")
    if b"\x00" in head:
        raise SourceError(
            path,
            "contains NUL bytes: binary data, or UTF-16 without a byte-order mark "
            "(then set the encoding in the profile's read options)",
        )


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n\f")
    return controls > max(len(sample) // 100, 2)


def _detect_encoding(path: Path, head: bytes, size: int) -> str:
    sample, at_eof = head, len(head) >= size
    if head.isascii():
        # An ASCII start says nothing: a GBK export may have its first Chinese text deep inside.
        found = _first_non_ascii(path, len(head))
        if found is None:
            return "utf-8"
        with path.open("rb") as f:
            f.seek(found)
            sample = f.read(SAMPLE_BYTES)
        at_eof = found + len(sample) >= size
    else:
        start = _NON_ASCII.search(head)
        sample = head[start.start() if start else 0 :]
    if _decodes(sample, "utf-8", at_eof):
        return "utf-8"
    if _decodes(sample, "gb18030", at_eof) and _plausibly_chinese(sample, at_eof):
        return "gb18030"
    return _guess_with_charset_normalizer(path, sample)


def _first_non_ascii(path: Path, offset: int) -> int | None:
    with path.open("rb") as f:
        f.seek(offset)
        while chunk := f.read(SAMPLE_BYTES):
            # isascii() is a fast C scan; the regex only runs on the chunk known to match
            if not chunk.isascii():
                m = _NON_ASCII.search(chunk)
                return offset + (m.start() if m else 0)
            offset += len(chunk)
    return None


def _decodes(sample: bytes, encoding: str, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _plausibly_chinese(sample: bytes, final: bool) -> bool:
    """Western single-byte text often decodes as GB18030 too, into rare characters.

    In mis-decoded Latin-1 an accented letter pairs with the ASCII letter after it, so the second
    byte is below 0xA1; Chinese text is mostly GB2312 characters, whose bytes are all 0xA1 or
    more (four-byte GB18030 sequences never come from Latin-1 text either).
    """
    text = codecs.getincrementaldecoder("gb18030")().decode(sample[:65536], final=final)
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide:
        return False
    typical = 0
    for ch in wide:
        encoded = ch.encode("gb18030")
        typical += len(encoded) == 4 or encoded[-1] >= 0xA1
    return typical >= 0.5 * len(wide)


def _guess_with_charset_normalizer(path: Path, sample: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(sample[: 256 * 1024]).best()
    if best is None:
        raise SourceError(
            path,
            "the text encoding could not be recognised (not UTF-8, not GBK/GB18030); "
            "set the encoding in the profile's read options",
        )
    return str(codecs.lookup(best.encoding).name)


def _after_lines(text: str, n: int) -> str:
    pos = 0
    for _ in range(n):
        m = _LINE_END.search(text, pos)
        if m is None:
            return ""
        pos = m.end()
    return text[pos:]


def _sniff_delimiter(text: str) -> str:
    """The candidate splitting most lines into the same number (two or more) of fields.

    Ties go to more fields, then to the order of ``DELIMITERS``; ',' when nothing qualifies (a
    single-column file). The modal count, not the header's, is compared so that a stray title or
    short header line does not decide.
    """
    best: tuple[float, int] | None = None
    chosen = ","
    for delimiter in DELIMITERS:
        try:
            rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            counts = [len(r) for _, r in zip(range(_SNIFF_RECORDS), rows, strict=False) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        agree = counts.count(mode) / len(counts)
        if mode < 2 or agree < 0.5:
            continue
        if best is None or (agree, mode) > best:
            best, chosen = (agree, mode), delimiter
    return chosen


def _stream(
    path: Path, plan: _Plan, options: ReadOptions, stats: ReadStats
) -> Iterator[pa.RecordBatch]:
    width = len(plan.names)
    holes: deque[int] = deque()  # record numbers of rejected rows not yet passed by the numbering

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # pyarrow counts skipped lines too, and only knows the number when not multithreaded
        number = -1 if row.number is None else int(row.number) - plan.skip_rows
        stats.rejected.append(
            RejectedRow(
                row=number,
                reason="malformed_row",
                detail=f"expected {width} fields, found {row.actual_columns}",
                raw=str(row.text),
            )
        )
        if number > 0:
            holes.append(number)
        return "skip"

    schema = pa.schema([*((n, pa.string()) for n in plan.names), (ROW_COLUMN, pa.int64())])
    next_row = 1
    yielded = False
    with path.open("rb") as f:
        try:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(
                    use_threads=False,  # pyarrow reports invalid rows' numbers only when serial
                    block_size=plan.block_size,
                    skip_rows=plan.skip_rows,
                    column_names=plan.names,
                    encoding=_arrow_encoding(plan.encoding),
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=plan.delimiter,
                    newlines_in_values=True,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in plan.names},
                    strings_can_be_null=False,
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                numbers, next_row = _number_rows(batch.num_rows, next_row, holes)
                batch = pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.array(numbers, pa.int64())], schema=schema
                )
                stats.bytes_read = min(f.tell(), stats.bytes_total)
                for offset in range(0, batch.num_rows, options.batch_rows):
                    yielded = True
                    yield batch.slice(offset, options.batch_rows)
        except (pa.ArrowException, UnicodeError, ValueError) as e:
            raise SourceError(path, _stream_error(e, plan.encoding, next_row - 1)) from None
        truncated = not _ends_with_line_break(f)
    stats.bytes_read = stats.bytes_total
    if truncated and stats.rejected and stats.rejected[-1].row >= next_row:
        last = stats.rejected[-1]
        stats.rejected[-1] = RejectedRow(
            last.row,
            last.reason,
            f"{last.detail}; the file ends in the middle of this line (cut off?)",
            last.raw,
        )
    if not yielded:
        # a header-only file still tells the engine its columns
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _arrow_encoding(encoding: str) -> str:
    # pyarrow parses UTF-8 natively (and skips its BOM); anything else goes through Python codecs
    return "utf8" if encoding in ("utf-8", "utf-8-sig", "ascii") else encoding


def _number_rows(count: int, start: int, holes: deque[int]) -> tuple[npt.NDArray[np.int64], int]:
    """Record numbers of ``count`` good rows from ``start``, stepping over rejected records."""
    end = start + count
    skipped = []
    while holes and holes[0] < end:
        hole = holes.popleft()
        if hole >= start:
            skipped.append(hole)
            end += 1
    numbers = np.arange(start, end, dtype=np.int64)
    if skipped:
        numbers = np.setdiff1d(numbers, np.array(skipped, dtype=np.int64), assume_unique=True)
    return numbers, end


def _ends_with_line_break(f: BinaryIO) -> bool:
    f.seek(0, io.SEEK_END)
    size = f.tell()
    f.seek(max(size - 4, 0))
    return f.read().rstrip(b"\x00").endswith((b"\n", b"\r"))


def _stream_error(e: Exception, encoding: str, rows_done: int) -> str:
    where = f"after record {rows_done}" if rows_done else "in the first records"
    if isinstance(e, UnicodeError) or "invalid UTF8" in str(e):
        return (
            f"text {where} cannot be decoded as {encoding} although the start of the file "
            "could; set the encoding in the profile's read options"
        )
    return f"cannot parse the file {where}: {e}"
