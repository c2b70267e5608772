"""Which reader reads a file: by the profile's ``read.format``, else by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from servq.errors import SourceError
from servq.ingest.readers.base import Reader
from servq.ingest.readers.csv import CsvReader
from servq.ingest.readers.excel import ExcelReader
from servq.ingest.readers.jsonl import JsonReader
from servq.ingest.readers.parquet import ParquetReader
from servq.ingest.readers.xes import XesReader

READERS: dict[str, Reader] = {
    r.format: r for r in (CsvReader(), ExcelReader(), JsonReader(), ParquetReader(), XesReader())
}


def supported_suffixes() -> list[str]:
    return sorted({s for r in READERS.values() for s in r.suffixes})


def reader_for(path: Path, format: str | None = None) -> Reader:
    """The reader for ``format`` if given, else the one whose suffix ends the file name."""
    if format is not None:
        reader = READERS.get(format.lower())
        if reader is None:
            raise SourceError(
                path, f"unknown format '{format}'; the formats are: {', '.join(sorted(READERS))}"
            )
        return reader
    name = Path(path).name.lower()
    # the longest suffix first, so that "x.xes.gz" is XES and not an unknown ".gz"
    for suffix, reader in sorted(
        ((s, r) for r in READERS.values() for s in r.suffixes), key=lambda sr: -len(sr[0])
    ):
        if name.endswith(suffix):
            return reader
    found = "".join(Path(path).suffixes[-2:]) or "no suffix"
    raise SourceError(
        path,
        f"cannot tell the file's format from its name ({found}); supported: "
        + ", ".join(supported_suffixes())
        + " (or set read.format in the profile)",
    )
