"""reader_for: the reader is chosen by the profile's format, else by the file's suffix."""

from __future__ import annotations

from pathlib import Path

import pytest

from servq.errors import SourceError
from servq.ingest.readers.csv import CsvReader
from servq.ingest.readers.excel import ExcelReader
from servq.ingest.readers.jsonl import JsonReader
from servq.ingest.readers.parquet import ParquetReader
from servq.ingest.readers.registry import READERS, reader_for
from servq.ingest.readers.xes import XesReader


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("calls.csv", CsvReader),
        ("CALLS.TSV", CsvReader),
        ("notes.txt", CsvReader),
        ("book.xlsx", ExcelReader),
        ("macro.xlsm", ExcelReader),
        ("dump.json", JsonReader),
        ("stream.jsonl", JsonReader),
        ("stream.ndjson", JsonReader),
        ("t.parquet", ParquetReader),
        ("log.xes", XesReader),
        ("log.xes.gz", XesReader),
        ("my.log.XES.GZ", XesReader),
    ],
)
def test_by_suffix(name: str, kind: type) -> None:
    assert isinstance(reader_for(Path(name)), kind)


def test_format_wins_over_suffix() -> None:
    assert isinstance(reader_for(Path("export.dat"), "csv"), CsvReader)
    assert reader_for(Path("x.csv"), "xes") is READERS["xes"]


def test_every_format_is_registered() -> None:
    assert sorted(READERS) == ["csv", "excel", "json", "parquet", "xes"]
    assert all(r.format == name for name, r in READERS.items())


def test_unknown_suffix_lists_the_supported_ones() -> None:
    with pytest.raises(SourceError) as e:
        reader_for(Path("calls.csv.gz"))
    assert e.value.message == (
        "cannot tell the file's format from its name (.csv.gz); supported: .csv, .json, .jsonl, "
        ".ndjson, .parquet, .pq, .tsv, .txt, .xes, .xes.gz, .xlsm, .xlsx "
        "(or set read.format in the profile)"
    )


def test_unknown_format() -> None:
    with pytest.raises(SourceError, match="unknown format 'xls'; the formats are: csv, excel"):
        reader_for(Path("a.xls"), "xls")
