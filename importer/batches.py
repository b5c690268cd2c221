"""An uploaded file's way from preview to commit. The file's bytes are kept in its ImportBatch row: the commit
reads them again (checked against their checksum), never rows posted back by the browser."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils import timezone

from patients.models import Clinic

from . import formats
from .models import ImportBatch
from .services import PreviewChanged, Report, import_run

ALREADY_COMMITTED = "This file was already imported."
REASONS_CHANGED = "The reasons changed: the preview now takes them into account. Check it, then import."
CHECKSUM_MISMATCH = "The stored file does not match its checksum: upload it again."


class BatchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parsed(batch: ImportBatch) -> formats.Parsed:
    data = bytes(batch.data)
    if checksum(data) != batch.checksum:
        raise BatchError(CHECKSUM_MISMATCH)
    return formats.parse(data, batch.file_name, mrn=batch.patient_mrn)


def _reasons(batch: ImportBatch) -> dict[int, str]:
    return {int(row): reason for row, reason in batch.reasons.items()}


def batch_create(*, clinic: Clinic, by: Any, file_name: str, data: bytes, mrn: str = "") -> ImportBatch:
    """Read the file and preview it (nothing is imported). A file that cannot be read raises ImportFileError."""
    parsed = formats.parse(data, file_name, mrn=mrn)
    report = import_run(clinic=clinic, by=by, parsed=parsed, file_name=file_name)
    return ImportBatch.objects.create(
        clinic=clinic,
        uploaded_by=by,
        file_name=file_name,
        checksum=checksum(data),
        size=len(data),
        data=data,
        patient_mrn=mrn.strip(),
        file_format=parsed.format,
        preview=report.as_json(),
        rows_total=report.rows,
        rows_refused=report.refused_count,
    )


def batch_preview(*, batch: ImportBatch, by: Any, reasons: dict[int, str]) -> ImportBatch:
    """Preview again with the reasons given for the rows that need a confirmation."""
    if batch.is_committed:
        raise BatchError(ALREADY_COMMITTED)
    batch.reasons = {str(row): reason for row, reason in reasons.items()}
    report = import_run(
        clinic=batch.clinic, by=by, parsed=_parsed(batch), file_name=batch.file_name, reasons=_reasons(batch)
    )
    batch.preview = report.as_json()
    batch.rows_refused = report.refused_count
    batch.save(update_fields=["reasons", "preview", "rows_refused"])
    return batch


def previewed_reasons(batch: ImportBatch) -> dict[int, str]:
    """The reason each row needing a confirmation had in the last preview (from the file or the preview)."""
    return {item["row"]: item["reason"] for item in Report.from_json(batch.preview).confirm}


def batch_commit(*, batch: ImportBatch, by: Any, reasons: dict[int, str]) -> ImportBatch:
    """Import exactly the rows of the last preview, in one transaction.

    Reasons that differ from the preview's, or a record that changed since, refresh the preview and raise
    BatchError: nothing is imported until the user has seen what will be.
    """
    if batch.is_committed:
        raise BatchError(ALREADY_COMMITTED)
    if reasons != previewed_reasons(batch):
        batch_preview(batch=batch, by=by, reasons=reasons)
        raise BatchError(REASONS_CHANGED)
    try:
        return _commit(batch, by)
    except PreviewChanged as exc:
        batch_preview(batch=batch, by=by, reasons=reasons)
        raise BatchError(str(exc)) from None


@transaction.atomic
def _commit(batch: ImportBatch, by: Any) -> ImportBatch:
    batch = ImportBatch.objects.select_for_update().select_related("clinic").get(pk=batch.pk)
    if batch.is_committed:  # a second click, or another tab, was first
        raise BatchError(ALREADY_COMMITTED)
    report = import_run(
        clinic=batch.clinic,
        by=by,
        parsed=_parsed(batch),
        file_name=batch.file_name,
        reasons=_reasons(batch),
        commit=True,
        expected_rows=Report.from_json(batch.preview).stored_rows,
    )
    return batch_committed(batch, report)


def batch_committed(batch: ImportBatch, report: Report) -> ImportBatch:
    batch.status = ImportBatch.Status.COMMITTED
    batch.committed_at = timezone.now()
    batch.preview = report.as_json()
    batch.rows_total = report.rows
    batch.patients_created = report.patients_created
    batch.entries_added = report.entries
    batch.checkins_added = report.checkins
    batch.rows_refused = report.refused_count
    batch.save()
    return batch
