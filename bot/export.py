"""Writing an export: tables (already localized and masked by the use case) as .xlsx or .csv.

The Excel file has one sheet per table, a bold frozen header row and real date cells. The CSV
file is UTF-8 with a byte-order mark, so Excel opens the Chinese text correctly, and holds the
tables one after another, each under a `# <name>` line and separated by an empty line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any


class Percent(float):
    """A rate as a fraction (0.982), written as a percentage: an Excel cell holding 0.982 with
    a percent format, so it shows 98.2 % and computes as a rate; "98.2%" in the CSV, which
    Excel reads back as the same number."""


PERCENT_FORMAT = "0.0%"

Cell = str | int | float | datetime | None
Progress = Callable[[str, int, int], None]  # (table name, rows written, rows in the table)

FORMATS = ("xlsx", "csv")
PROGRESS_EVERY = 200
MAX_COLUMN_WIDTH = 60
EXCEL_SHEET_NAME = 31  # Excel's limit on a sheet name


@dataclass
class Table:
    name: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    widths: dict[int, int] = field(default_factory=dict)  # column index -> width in characters


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"{path}: the file name must end in .xlsx or .csv")
    return suffix


def _cell(value: Cell) -> Cell:
    if isinstance(value, datetime):
        # Excel has no time zones: the time is written as the station's local time.
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        # Text from residents must never become a formula in someone's spreadsheet.
        return "'" + value
    return value


def _report(progress: Progress | None, name: str, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(name, done, total)


def write_xlsx(
    tables: Sequence[Table], out: IO[bytes] | str | Path, progress: Progress | None = None
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=False)
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name[:EXCEL_SHEET_NAME])
        sheet.append(table.headers)
        for cell in sheet[1]:
            cell.font = bold
        sheet.freeze_panes = "A2"
        for i, row in enumerate(table.rows, start=1):
            sheet.append([_cell(v) for v in row])
            _report(progress, table.name, i, len(table.rows))
        for col, header in enumerate(table.headers, start=1):
            letter = get_column_letter(col)
            values = [str(header)] + [
                str(r[col - 1])
                for r in table.rows[:200]
                if col - 1 < len(r) and r[col - 1] is not None
            ]
            width = table.widths.get(col - 1) or min(
                MAX_COLUMN_WIDTH, max(_display_width(v) for v in values) + 2
            )
            sheet.column_dimensions[letter].width = width
            wrap = width >= MAX_COLUMN_WIDTH
            # one pass over the column: the wrap used to be applied to the whole column once per
            # row of the table (quadratic: minutes for a station's year of wishes)
            for cell in sheet[letter][1:]:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                if wrap:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        for r, row in enumerate(table.rows, start=2):
            for col, value in enumerate(row, start=1):
                if isinstance(value, Percent):  # openpyxl keeps the value, not the subclass
                    sheet.cell(row=r, column=col).number_format = PERCENT_FORMAT
        if not table.rows:
            _report(progress, table.name, 0, 0)
    workbook.save(out)


def write_csv(
    tables: Sequence[Table], out: IO[bytes] | str | Path, progress: Progress | None = None
) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
        writer.writerow([f"# {table.name}"])
        writer.writerow(table.headers)
        for i, row in enumerate(table.rows, start=1):
            writer.writerow([_csv_value(v) for v in row])
            _report(progress, table.name, i, len(table.rows))
    data = text.getvalue().encode("utf-8-sig")
    if isinstance(out, str | Path):
        Path(out).write_bytes(data)
    else:
        out.write(data)


def _csv_value(value: Cell) -> Any:
    if isinstance(value, Percent):
        return f"{value * 100:.1f}%"
    value = _cell(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else value


def write(
    tables: Sequence[Table], fmt: str, out: IO[bytes] | str | Path, progress: Progress | None = None
) -> None:
    if fmt == "xlsx":
        write_xlsx(tables, out, progress)
    elif fmt == "csv":
        write_csv(tables, out, progress)
    else:
        raise ValueError(f"unknown export format {fmt!r}")


def to_bytes(tables: Sequence[Table], fmt: str) -> bytes:
    buffer = io.BytesIO()
    write(tables, fmt, buffer)
    return buffer.getvalue()


def _display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: Chinese characters count double."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
