"""What every file reader gives the ingest engine.

Owns: the reader contract. A reader turns one file into a stream of Arrow record batches whose
columns are all strings (``pa.string()``; a missing value is null) plus ``_row``, the 1-based
record number in the source (for CSV the data line after the header, for XES the event's position
in the file). Batches of one file may differ in their columns (JSON, XES); the engine unions them.
Rows the reader could parse only in part (a CSV line with the wrong number of fields, a truncated
last line) are not raised: they are reported as ``RejectedRow`` so they reach the quarantine.
A file that cannot be read at all raises ``SourceError`` before the first batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from servq.errors import SourceError

ROW_COLUMN = "_row"
DEFAULT_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str  # a short code, e.g. "malformed_row"
    detail: str  # human text: what was wrong
    raw: str  # the source text of the row, as far as it could be read


@dataclass(frozen=True)
class ReadOptions:
    """Options a mapping profile may set; ``None`` means detect."""

    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None  # Excel
    batch_rows: int = DEFAULT_BATCH_ROWS
    header_row: int = 1  # CSV/Excel: 1-based line of the header


@dataclass
class ReadStats:
    """Filled in by a reader while it reads: what it detected and how far it got."""

    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    bytes_total: int = 0
    bytes_read: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


def open_source(path: Path, format: str, stats: ReadStats) -> int:
    """The checks every reader makes first: the file exists and is not empty. Records the
    format and size in ``stats`` and returns the size in bytes."""
    stats.format = format
    if not path.is_file():
        raise SourceError(path, "no such file")
    size = path.stat().st_size
    stats.bytes_total = size
    stats.bytes_read = 0
    if size == 0:
        raise SourceError(path, "the file is empty (0 bytes)")
    return size


@dataclass(frozen=True)
class DirectScan:
    """A DuckDB table expression that reads the file itself, for readers that can offer one.

    It must yield exactly the rows and values ``read`` would, in file order, every column
    VARCHAR and without ``_row`` (the engine numbers the rows). Where ``read`` would reject a row
    or fail, reading it must raise a DuckDB error instead: the engine then falls back to ``read``,
    which reports the problem properly.
    """

    sql: str
    columns: tuple[str, ...]


class Reader(Protocol):
    format: str
    suffixes: tuple[str, ...]

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Yield record batches; append to ``stats.rejected``; raise SourceError if unreadable."""
        ...
