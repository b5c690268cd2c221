"""Helpers for the import tests: files built from rows, uploaded through the real pages."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from django.test import Client

from importer.formats import TEMPLATE_COLUMNS


def csv_bytes(rows: list[dict[str, Any]], columns: list[str] | None = None, *, encoding: str = "utf-8") -> bytes:
    columns = columns or list(TEMPLATE_COLUMNS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column, "")) for column in columns])
    return out.getvalue().encode(encoding)


def _cell(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def person(mrn: str = "IMP-1", **extra: Any) -> dict[str, Any]:
    return {
        "mrn": mrn,
        "given_name": "Iris",
        "family_name": "Import",
        "date_of_birth": "1975-03-02",
        "conditions": "Fibromyalgia",
        **extra,
    }


def upload(client: Client, data: bytes, name: str = "doses.csv", *, clinic: Any, mrn: str = "") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/import/", {"clinic": clinic.pk, "file": SimpleUploadedFile(name, data), "mrn": mrn}, follow=False
    )


@pytest.fixture
def days(today: datetime.date):
    def day(ago: int) -> datetime.date:
        return today - datetime.timedelta(days=ago)

    return day
