"""The downloadable import template, as CSV and XLSX, with example rows dated in the last few days."""

from __future__ import annotations

import datetime
import io
from typing import Any

from patients.csv_stream import csv_lines

from .formats import TEMPLATE_COLUMNS


def example_rows(today: datetime.date) -> list[dict[str, Any]]:
    """Two example patients: a new one starting at 0.5 mg with a missed day, and a second on 1.5 mg, once taken
    in the morning. (A volume in dose_ml needs the patient's liquid plan, which a new patient has not yet.)"""

    def day(days_ago: int) -> datetime.date:
        return today - datetime.timedelta(days=days_ago)

    first = {
        "mrn": "EXAMPLE-001",
        "given_name": "Alex",
        "family_name": "Example",
        "date_of_birth": datetime.date(1978, 5, 14),
        "sex": "female",
        "conditions": "Fibromyalgia",
    }
    second = {
        "mrn": "EXAMPLE-002",
        "given_name": "Sam",
        "family_name": "Sample",
        "date_of_birth": datetime.date(1965, 11, 2),
        "sex": "male",
        "conditions": "M79.7; Crohn's disease",
    }
    rows = [
        {**first, "date": day(6), "dose_mg": "0.5", "pain_score": 7, "sleep_quality": 5},
        {**first, "date": day(5), "dose_mg": "0.5", "pain_score": 7, "side_effects": "Vivid dreams (mild)"},
        {**first, "date": day(4), "status": "missed", "notes": "Forgot the dose"},
        {**first, "date": day(3), "dose_mg": "0.5", "pain_score": 6},
        {**second, "date": day(3), "dose_mg": "1.5", "formulation": "liquid", "pain_score": 5},
        {**second, "date": day(2), "dose_mg": "1.5", "formulation": "liquid", "time_of_day": "morning"},
        {**second, "date": day(1), "dose_mg": "1.5", "formulation": "liquid", "pain_score": 4, "sleep_quality": 7},
    ]
    return [{column: row.get(column, "") for column in TEMPLATE_COLUMNS} for row in rows]


def template_csv(today: datetime.date) -> str:
    rows = [list(TEMPLATE_COLUMNS)]
    for row in example_rows(today):
        rows.append([value.isoformat() if isinstance(value, datetime.date) else value for value in row.values()])
    return "".join(csv_lines(rows))


def template_xlsx(today: datetime.date) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    workbook = Workbook()
    sheet = workbook.active
    if not isinstance(sheet, Worksheet):  # a new workbook opens on its one worksheet
        raise TypeError("a new workbook has no active worksheet")
    sheet.title = "Doses"
    sheet.append(list(TEMPLATE_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in example_rows(today):
        sheet.append(list(row.values()))
    for column in ("D", "G"):  # date_of_birth, date
        for cell in sheet[column][1:]:
            cell.number_format = "yyyy-mm-dd"
        sheet.column_dimensions[column].width = 12
    help_sheet = workbook.create_sheet("Columns")
    help_sheet.append(["column", "what it holds"])
    for name, text in TEMPLATE_COLUMNS.items():
        help_sheet.append([name, text])
    help_sheet.column_dimensions["B"].width = 100
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
