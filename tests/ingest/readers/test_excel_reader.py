"""ExcelReader: workbooks written with openpyxl, read back cell by cell."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from openpyxl import Workbook

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.ingest.readers.excel import ExcelReader, cell_text


def read(path: Path, **options: object) -> tuple[pa.Table, ReadStats, int]:
    stats = ReadStats()
    batches = list(ExcelReader().read(path, ReadOptions(**options), stats))  # type: ignore[arg-type]
    for b in batches:
        assert b.schema.field(ROW_COLUMN).type == pa.int64()
        assert all(f.type == pa.string() for f in b.schema if f.name != ROW_COLUMN)
    return pa.Table.from_batches(batches), stats, len(batches)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Tickets"
    ws.append(["id", "created", "amount", "count", "vip", None, "ID"])
    ws.append(["T1", datetime(2024, 1, 2, 3, 4, 5), 0.1 + 0.2, 3, True, None, "dup header"])
    ws.append([])  # a blank row: skipped, but row numbers stay the sheet's
    ws.append(["T2", date(2024, 1, 3), 2.0, 4.5, False])
    ws.append([None, "  "])  # only blanks: skipped too
    ws.append(["T3", time(3, 4, 5), timedelta(hours=26, minutes=3, seconds=4), 1e20])
    ws["H6"] = "right of the header"
    other = wb.create_sheet("Notes")
    other.append(["Exported 2024-01-05"])
    other.append([])
    other.append(["key", "value"])
    other.append(["a", 1])
    path = tmp_path / "tickets.xlsx"
    wb.save(path)
    return path


def test_first_sheet_values_as_text(workbook: Path) -> None:
    table, stats, _ = read(workbook)
    assert table.to_pylist() == [
        {
            "id": "T1", "created": "2024-01-02T03:04:05", "amount": "0.3", "count": "3",
            "vip": "true", "col_6": None, "ID_2": "dup header", "col_8": None, ROW_COLUMN: 2,
        },
        {
            # Excel has no date type: a date cell is a datetime at midnight
            "id": "T2", "created": "2024-01-03T00:00:00", "amount": "2", "count": "4.5",
            "vip": "false", "col_6": None, "ID_2": None, "col_8": None, ROW_COLUMN: 4,
        },
        {
            "id": "T3", "created": "03:04:05", "amount": "26:03:04", "count": "1e+20",
            "vip": None, "col_6": None, "ID_2": None, "col_8": "right of the header",
            ROW_COLUMN: 6,
        },
    ]  # fmt: skip
    assert (stats.format, stats.bytes_read, stats.rejected) == (
        "excel",
        workbook.stat().st_size,
        [],
    )


def test_sheet_by_name_with_a_header_below_a_title(workbook: Path) -> None:
    table, _, _ = read(workbook, sheet="Notes", header_row=3)
    assert table.to_pylist() == [{"key": "a", "value": "1", ROW_COLUMN: 4}]


def test_unknown_sheet_lists_the_sheets(workbook: Path) -> None:
    with pytest.raises(SourceError, match="no sheet named 'Nope'; the sheets are: Tickets, Notes"):
        read(workbook, sheet="Nope")


def test_many_rows_come_in_batches(tmp_path: Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(["n", "square"])
    for i in range(1, 2501):
        ws.append([i, i * i])
    path = tmp_path / "many.xlsx"
    wb.save(path)
    table, stats, batches = read(path, batch_rows=1000)
    assert batches == 3
    assert table.column(ROW_COLUMN).to_pylist() == list(range(2, 2502))
    assert table.column("square").to_pylist()[-1] == str(2500 * 2500)
    assert stats.bytes_read == stats.bytes_total


def test_header_only_sheet(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["id", "status"])
    path = tmp_path / "empty.xlsx"
    wb.save(path)
    table, _, batches = read(path)
    assert (table.num_rows, table.column_names, batches) == (0, ["id", "status", ROW_COLUMN], 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("x", "x"),
        (True, "true"),
        (7, "7"),
        (7.0, "7"),
        (-0.5, "-0.5"),
        (1 / 3, "0.333333333333333"),
        (datetime(2024, 1, 2, 3, 4, 5, 250000), "2024-01-02T03:04:05.250000"),
        (timedelta(seconds=-90), "-0:01:30"),
        (timedelta(seconds=1.5), "0:00:01.5"),
    ],
)
def test_cell_text(value: object, text: str | None) -> None:
    assert cell_text(value) == text


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        read(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(600))  # what an old .xls starts with
    with pytest.raises(SourceError, match=r"not an \.xlsx workbook \(it is not a zip archive\)"):
        ExcelReader().read(path, ReadOptions(), ReadStats())  # raised before any batch


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(SourceError, match="cannot open the workbook"):
        read(path)


def test_no_header_row(workbook: Path) -> None:
    table, _, _ = read(workbook, sheet="Notes", header_row=0)
    assert table.to_pylist() == [
        {"col_1": "Exported 2024-01-05", "col_2": None, ROW_COLUMN: 1},
        {"col_1": "key", "col_2": "value", ROW_COLUMN: 3},
        {"col_1": "a", "col_2": "1", ROW_COLUMN: 4},
    ]
