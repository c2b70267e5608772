"""Excel workbooks (.xlsx, .xlsm) as string record batches.

Owns: reading one worksheet row by row (openpyxl's read-only mode, cached formula results) and
writing cells as text. Dates and times become ISO 8601 (``2024-01-02T03:04:05``; a time alone
``03:04:05``), durations ``H:MM:SS``, whole numbers have no ``.0``, other numbers are written with
Excel's 15 significant digits (``0.1 + 0.2`` is ``0.3``), booleans ``true``/``false``; an empty
cell is null. Blank rows are skipped.

``_row`` is the row number on the sheet, so it matches what a user sees in Excel (the first data
row under a header in row 1 is row 2). The header names follow ``csv.unique_column_names``'
rules; a data cell right of the last named column gets ``col_<column number>``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats, open_source
from servq.ingest.readers.csv import unique_column_names


class ExcelReader:
    format: str = "excel"
    suffixes: tuple[str, ...] = (".xlsx", ".xlsm")

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Check the file now; the workbook itself is opened when the first batch is asked for."""
        path = Path(path)
        open_source(path, self.format, stats)
        if not zipfile.is_zipfile(path):
            raise SourceError(
                path,
                "not an .xlsx workbook (it is not a zip archive); old .xls files and "
                "password-protected workbooks cannot be read: save it as .xlsx or CSV",
            )
        return _stream(path, options, stats)


def _stream(path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds (KeyError, InvalidFileException, ...)
        raise SourceError(path, f"cannot open the workbook: {e or type(e).__name__}") from None
    try:
        if options.sheet is None:
            ws = wb.worksheets[0] if wb.worksheets else None
            if ws is None:
                raise SourceError(path, "the workbook has no worksheet")
        elif options.sheet in wb.sheetnames:
            ws = wb[options.sheet]
        else:
            raise SourceError(
                path,
                f"no sheet named '{options.sheet}'; the sheets are: " + ", ".join(wb.sheetnames),
            )
        yield from _rows(path, ws, options, stats)
    finally:
        wb.close()


def _rows(path: Path, ws: Any, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    # The stated size only guides the progress bar: some writers get it wrong, so it must not
    # limit what is read (reset_dimensions makes openpyxl read every row there is).
    stated_rows = ws.max_row if isinstance(ws.max_row, int) else None
    ws.reset_dimensions()
    header_row = max(options.header_row, 0)
    names: list[str] = []
    columns: list[list[str | None]] = []
    numbers: list[int] = []
    yielded = False
    try:
        rows = ws.iter_rows(min_row=max(header_row, 1), values_only=True)
        for number, values in enumerate(rows, start=max(header_row, 1)):
            if number == header_row:
                names = _header(values)
                columns = [[] for _ in names]
                continue
            texts = [cell_text(v) for v in values]
            if all(t is None or not t.strip() for t in texts):
                continue
            last = max(i for i, t in enumerate(texts) if t is not None)
            if last >= len(names):
                # values right of the header get columns named after their position
                names.extend(f"col_{j}" for j in range(len(names) + 1, last + 2))
                columns.extend([None] * len(numbers) for _ in range(len(columns), last + 1))
            for i, col in enumerate(columns):
                col.append(texts[i] if i < len(texts) else None)
            numbers.append(number)
            if len(numbers) >= options.batch_rows:
                if stated_rows:
                    stats.bytes_read = min(
                        stats.bytes_total * number // stated_rows, stats.bytes_total
                    )
                yielded = True
                yield _batch(names, columns, numbers)
                columns = [[] for _ in names]
                numbers = []
    except SourceError:
        raise
    except Exception as e:  # a damaged sheet XML surfaces as whatever the parser raised
        raise SourceError(
            path, f"cannot read sheet '{ws.title}': {e or type(e).__name__}"
        ) from None
    stats.bytes_read = stats.bytes_total
    if numbers or not yielded:
        yield _batch(names, columns, numbers)


def _header(values: tuple[Any, ...]) -> list[str]:
    texts = [cell_text(v) for v in values]
    while texts and (texts[-1] is None or not texts[-1].strip()):
        texts.pop()  # formatting often stretches a sheet far right of its last named column
    return unique_column_names(texts)


def _batch(names: list[str], columns: list[list[str | None]], numbers: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(col, pa.string()) for col in columns]
    arrays.append(pa.array(numbers, pa.int64()))
    # names made for cells right of the header can clash with header names: keep them apart
    return pa.RecordBatch.from_arrays(arrays, names=[*unique_column_names(names), ROW_COLUMN])


def cell_text(value: Any) -> str | None:
    """One cell value as text (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value)
    return str(value)


def _duration(value: timedelta) -> str:
    micros = value // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, micros = divmod(abs(micros), 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micros:06d}".rstrip("0") if micros else text
