"""The post-live review's exports: CSV of one table (UTF-8 with a byte-order mark, so spreadsheet programs read the
Chinese right) and a spreadsheet with one sheet per table (openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]

from domain.review_tables import TABLES, table

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula (a SKU named "=HYPERLINK(...)") is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _sheet_cell(value: Any) -> Any:
    """An xlsx cell: text without the control characters the format cannot hold, never read as a formula."""
    if isinstance(value, str):
        return _cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def csv_bytes(review: Mapping[str, Any], name: str) -> bytes:
    header, rows = table(review, name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(review: Mapping[str, Any]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name in TABLES:
        header, rows = table(review, name)
        sheet = book.create_sheet(title=name)
        sheet.append(list(header))
        for row in rows:
            sheet.append([_sheet_cell(v) for v in row])
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
