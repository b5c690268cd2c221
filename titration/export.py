"""The CSV export of a patient's record: every dose entry and check-in, voided ones marked.

Cells a spreadsheet would run as a formula are neutralised in one place for every CSV: patients.csv_stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from patients.csv_stream import csv_cell, csv_lines
from patients.models import Patient

from .models import CheckIn, DoseEntry

HEADER = [
    "record",
    "date",
    "dose_mg",
    "scheduled_dose_mg",
    "status",
    "formulation",
    "pain_score",
    "sleep_quality",
    "side_effects",
    "notes",
    "override_reason",
    "flags",
    "recorded_by",
    "recorded_at",
    "voided",
    "voided_by",
    "voided_at",
    "void_reason",
]
BATCH = 2000
neutralise = csv_cell  # a cell as the CSV writes it: numbers as numbers, formula-like text neutralised


def _flags(record: DoseEntry | CheckIn) -> str:
    return "; ".join(f"{flag.kind}:{flag.get_severity_display().lower()}" for flag in record.flags.all())


def _common(record: DoseEntry | CheckIn) -> list[Any]:
    return [
        record.recorded_by.username,
        record.recorded_at.isoformat(timespec="seconds"),
        "yes" if record.voided_at else "no",
        record.voided_by.username if record.voided_by else "",
        record.voided_at.isoformat(timespec="seconds") if record.voided_at else "",
        record.void_reason,
    ]


def rows(patient: Patient) -> Iterator[list[str]]:
    yield HEADER
    entries = (
        DoseEntry.objects.filter(patient=patient)
        .select_related("recorded_by", "voided_by")
        .prefetch_related("flags")
        .order_by("taken_on", "recorded_at")
    )
    for entry in entries.iterator(chunk_size=BATCH):
        dose = [entry.dose_mg, entry.scheduled_dose_mg, entry.status, entry.formulation, "", "", ""]
        notes = [entry.notes, entry.override_reason, _flags(entry)]
        yield [neutralise(v) for v in ["dose", entry.taken_on.isoformat(), *dose, *notes, *_common(entry)]]
    checkins = (
        CheckIn.objects.filter(patient=patient)
        .select_related("recorded_by", "voided_by")
        .prefetch_related("side_effects", "flags")
        .order_by("checked_on", "recorded_at")
    )
    for checkin in checkins.iterator(chunk_size=BATCH):
        effects = "; ".join(str(effect) for effect in checkin.side_effects.all())
        outcome = ["", "", "", "", checkin.pain_score, checkin.sleep_quality, effects]
        notes = [checkin.notes, "", _flags(checkin)]
        yield [neutralise(v) for v in ["checkin", checkin.checked_on.isoformat(), *outcome, *notes, *_common(checkin)]]


def stream(patient: Patient) -> Iterable[str]:
    return csv_lines(rows(patient))
