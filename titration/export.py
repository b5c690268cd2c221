"""The CSV export of a patient's record: every dose entry and check-in, voided ones marked.

A missed entry carries no dose (``dose_mg`` empty, ``status`` missed): it is never counted as taken. The
expected dose of each day is the patient-paced one of ``titration.course``, the same the pages show.
Cells a spreadsheet would run as a formula are neutralised in one place for every CSV: patients.csv_stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from patients.csv_stream import csv_cell, csv_lines
from patients.models import Patient

from . import selectors
from .models import CheckIn, DoseEntry, Flag

HEADER = [
    "record",
    "date",
    "dose_mg",
    "expected_dose_mg",
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
    """Each flag as ``kind:severity [state]``, for example ``tenfold_change:critical [entry voided]``."""
    return "; ".join(
        f"{flag.kind}:{flag.get_severity_display().lower()} [{_state(flag)}]" for flag in record.flags.all()
    )


def _state(flag: Flag) -> str:
    return "open" if flag.is_open else str(Flag.ClosedAs(flag.closed_as).label).lower()


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
    days = DoseEntry.objects.filter(patient=patient).values_list("taken_on", flat=True).distinct()
    expected = selectors.expected_doses(patient, list(patient.plans.all()), list(days))
    entries = (
        DoseEntry.objects.filter(patient=patient)
        .select_related("recorded_by", "voided_by")
        .prefetch_related("flags")
        .order_by("taken_on", "recorded_at")
    )
    for entry in entries.iterator(chunk_size=BATCH):
        dose = [entry.dose_mg, expected.get(entry.taken_on), entry.status, entry.formulation, "", "", ""]
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
