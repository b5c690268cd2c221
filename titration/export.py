"""The CSV export of a patient's record: one table of every dose entry and check-in, sorted by date.

Written for a spreadsheet user: readable headers ("Date", "Dose (mg)"), one ``Record`` column (Dose or
Check-in), flags in words ("Critical: tenfold change"), dates in ISO 8601 (2026-11-30), which every spreadsheet
reads as a date, and times in the clinic's time zone with their offset. Only a taken, live dose has a value in
the dose column, so a SUM of the column is the total taken: a missed or voided row leaves it empty and says
why in ``Status``. The expected dose of each day is the patient-paced one of ``titration.course``.

The first rows name the patient (name, MRN, date of birth) and the time of the export. The de-identified
export has none of them, no free text (notes and reasons may name people) and no user names, and gives each
date as a day number counted from the first dose taken (day 0).

Cells a spreadsheet would run as a formula are neutralised in one place for every CSV: patients.csv_stream.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from patients.csv_stream import csv_cell, csv_lines
from patients.models import Clinic, Patient

from . import course, patient_reads, selectors
from .models import CheckIn, DoseEntry, DoseStatus, Flag, SideEffect

# Rows read per round trip: a five-year record (1,826 entries) streams in 19 batches, so the memory held while
# exporting stays within twice a 30-day export's (a batch of 2,000 held it all: 6.9x).
BATCH = 100
neutralise = csv_cell  # a cell as the CSV writes it: numbers as numbers, formula-like text neutralised

DOSE, CHECKIN = "Dose", "Check-in"
# Liquid doses as measured, where the dose log keeps them.
LIQUID_FIELDS = [("dose_ml", "Dose (mL)"), ("concentration_mg_per_ml", "Concentration (mg/mL)")]


def _has_field(name: str) -> bool:
    return any(field.name == name for field in DoseEntry._meta.get_fields())


_LIQUID_FIELDS = [(name, header) for name, header in LIQUID_FIELDS if _has_field(name)]
_TIME_OF_DAY_FIELD = _has_field("time_of_day")


def _liquid_fields() -> list[tuple[str, str]]:
    return _LIQUID_FIELDS


def _time_of_day_field() -> bool:
    return _TIME_OF_DAY_FIELD


def header(*, deidentified: bool = False) -> list[str]:
    """The table's column names (the de-identified export leaves out names, free text and clock times)."""
    columns = ["Day" if deidentified else "Date", "Record", "Dose (mg)"]
    columns += [title for _, title in _liquid_fields()]
    columns += ["Expected dose (mg)", "Status", "Formulation"]
    columns += ["Time of day"] if _time_of_day_field() else []
    columns += ["Pain (0–10)", "Sleep quality (0–10)", "Side effects"]
    if deidentified:
        return [*columns, "Flags", "Recorded on day", "Voided"]
    return [
        *columns,
        "Notes",
        "Out-of-range reason",
        "Flags",
        "Recorded by",
        "Recorded at",
        "Voided",
        "Voided by",
        "Voided at",
        "Void reason",
    ]


HEADER = header()
DEIDENTIFIED_HEADER = header(deidentified=True)


def clinic_zone(clinic: Clinic) -> datetime.tzinfo:
    """The clinic's time zone where the clinic has one, else the app's (``TIME_ZONE``)."""
    name = getattr(clinic, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(str(settings.TIME_ZONE))


def local_time(moment: datetime.datetime | None, zone: datetime.tzinfo) -> str:
    """``2026-11-30T21:05:00+00:00``: ISO 8601 in the clinic's time zone, with its offset."""
    return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def flag_text(flag: Flag) -> str:
    """``Critical: tenfold change (open)``: severity, kind and whether the flag is still open."""
    kind = str(flag.get_kind_display())
    kind = kind if kind[1:2].isupper() else kind[:1].lower() + kind[1:]  # "outside LDN range", "tenfold change"
    state = "open" if flag.is_open else str(Flag.ClosedAs(flag.closed_as).label).lower()
    return f"{flag.get_severity_display()}: {kind} ({state})"


def _flags_by_record(patient: Patient) -> tuple[dict[int, str], dict[int, str]]:
    """Each dose entry's and check-in's flags as the Flags cell writes them (one query; flags are few)."""
    by_entry: dict[int, list[str]] = defaultdict(list)
    by_checkin: dict[int, list[str]] = defaultdict(list)
    flags = Flag.objects.filter(patient=patient).filter(Q(dose_entry__isnull=False) | Q(checkin__isnull=False))
    for flag in flags.only("dose_entry_id", "checkin_id", "kind", "severity", "acknowledged_at", "closed_as"):
        if flag.dose_entry_id is not None:
            by_entry[flag.dose_entry_id].append(flag_text(flag))
        if flag.checkin_id is not None:
            by_checkin[flag.checkin_id].append(flag_text(flag))
    return {k: "; ".join(v) for k, v in by_entry.items()}, {k: "; ".join(v) for k, v in by_checkin.items()}


def _side_effects_by_checkin(patient: Patient) -> dict[int, str]:
    effects: dict[int, list[str]] = defaultdict(list)
    for effect in SideEffect.objects.filter(checkin__patient=patient).order_by("checkin_id", "kind"):
        effects[effect.checkin_id].append(str(effect))
    return {k: "; ".join(v) for k, v in effects.items()}


@dataclass(frozen=True)
class _Dating:
    """How a row writes its dates: ISO dates, or day numbers counted from the first dose (de-identified)."""

    origin: datetime.date | None
    zone: datetime.tzinfo

    def day(self, day: datetime.date) -> str | int:
        return day.isoformat() if self.origin is None else (day - self.origin).days

    def day_of(self, moment: datetime.datetime) -> int | str:
        return self.day(moment.astimezone(self.zone).date())


def _first_dose_day(patient: Patient) -> datetime.date:
    """Day 0 of the de-identified export: the first dose taken (else the first record, else today)."""
    taken = DoseEntry.objects.live().filter(patient=patient, status=DoseStatus.TAKEN).order_by("taken_on")
    first = taken.values_list("taken_on", flat=True).first()
    if first is None:
        first = selectors.first_record_day(patient, list(patient.plans.all()))
    return first or timezone.localdate()


_STATUS = dict(DoseStatus.choices)
_FORMULATION = dict(DoseEntry._meta.get_field("formulation").flatchoices)
_TIME_OF_DAY = dict(DoseEntry._meta.get_field("time_of_day").flatchoices) if _time_of_day_field() else {}
# The columns a row is written from: values, never model instances (a five-year record is 2,000 rows).
_DOSE_COLUMNS = [
    "pk",
    "taken_on",
    "status",
    "dose_mg",
    *(name for name, _ in _liquid_fields()),
    "formulation",
    *(["time_of_day"] if _time_of_day_field() else []),
    "notes",
    "override_reason",
    "scheduled_dose_mg",
    "course_after",
    "recorded_at",
    "voided_at",
    "void_reason",
]
_CHECKIN_COLUMNS = [
    "pk",
    "checked_on",
    "pain_score",
    "sleep_quality",
    "notes",
    "recorded_at",
    "voided_at",
    "void_reason",
]


def _dose_status(entry: Any) -> str:
    status = str(_STATUS[entry.status])
    if entry.voided_at:
        was = f"{csv_cell(entry.dose_mg)} mg, " if entry.dose_mg is not None else ""
        return f"Voided (was {was}{status.lower()})"
    return status


def _dose_row(entry: Any, expected: Any, flags: str, dating: _Dating, deidentified: bool) -> list[Any]:
    counted = entry.voided_at is None and entry.status == DoseStatus.TAKEN
    row: list[Any] = [dating.day(entry.taken_on), DOSE, entry.dose_mg if counted else None]
    row += [getattr(entry, name) if counted else None for name, _ in _liquid_fields()]
    row += [expected, _dose_status(entry), str(_FORMULATION.get(entry.formulation, entry.formulation))]
    row += [str(_TIME_OF_DAY.get(entry.time_of_day, entry.time_of_day))] if _time_of_day_field() else []
    row += [None, None, ""]
    if deidentified:
        return [*row, flags, dating.day_of(entry.recorded_at), "Yes" if entry.voided_at else "No"]
    return [*row, entry.notes, entry.override_reason, flags, *_audit(entry, dating.zone)]


def _checkin_row(checkin: Any, effects: str, flags: str, dating: _Dating, deidentified: bool) -> list[Any]:
    row: list[Any] = [dating.day(checkin.checked_on), CHECKIN, None]
    row += [None for _ in _liquid_fields()]
    row += [None, "Voided" if checkin.voided_at else "Check-in", ""]
    row += [""] if _time_of_day_field() else []
    row += [checkin.pain_score, checkin.sleep_quality, effects]
    if deidentified:
        return [*row, flags, dating.day_of(checkin.recorded_at), "Yes" if checkin.voided_at else "No"]
    return [*row, checkin.notes, "", flags, *_audit(checkin, dating.zone)]


def _audit(record: Any, zone: datetime.tzinfo) -> list[Any]:
    return [
        record.recorded_by_name,
        local_time(record.recorded_at, zone),
        "Yes" if record.voided_at else "No",
        record.voided_by_name or "",
        local_time(record.voided_at, zone),
        record.void_reason,
    ]


def preamble(patient: Patient, zone: datetime.tzinfo, now: datetime.datetime) -> list[list[Any]]:
    """The rows above the table that name the patient and the time of the export, then an empty row."""
    return [
        ["Patient", f"{patient.family_name}, {patient.given_name}"],
        ["MRN", patient.mrn],
        ["Date of birth", patient.date_of_birth.isoformat()],
        ["Exported", local_time(now, zone)],
        [],
    ]


def rows(patient: Patient, *, deidentified: bool = False) -> Iterator[list[Any]]:
    """The export's rows, preamble and header first; the records are read in batches, never all at once."""
    zone = clinic_zone(patient.clinic)
    if deidentified:
        dating = _Dating(origin=_first_dose_day(patient), zone=zone)
        yield ["De-identified export: no name, MRN or date of birth; days are counted from the first dose (day 0)."]
        yield []
        yield DEIDENTIFIED_HEADER
    else:
        dating = _Dating(origin=None, zone=zone)
        yield from preamble(patient, zone, timezone.now())
        yield HEADER
    entry_flags, checkin_flags = _flags_by_record(patient)
    effects = _side_effects_by_checkin(patient)
    names = {"recorded_by_name": F("recorded_by__username"), "voided_by_name": F("voided_by__username")}
    entries = (
        DoseEntry.objects.filter(patient=patient)
        .annotate(**names)
        .order_by("taken_on", "recorded_at", "pk")
        .values_list(*_DOSE_COLUMNS, *names, named=True)
    )
    checkins = (
        CheckIn.objects.filter(patient=patient)
        .annotate(**names)
        .order_by("checked_on", "recorded_at", "pk")
        .values_list(*_CHECKIN_COLUMNS, *names, named=True)
    )
    # One table sorted by date: the two date-ordered streams merged, a day's doses before its check-ins.
    dose_rows = (
        ((e.taken_on, 0, e.recorded_at), _dose_row(e, expected, entry_flags.get(e.pk, ""), dating, deidentified))
        for e, expected in _with_expected(patient, entries.iterator(chunk_size=BATCH))
    )
    checkin_rows = (
        (
            (c.checked_on, 1, c.recorded_at),
            _checkin_row(c, effects.get(c.pk, ""), checkin_flags.get(c.pk, ""), dating, deidentified),
        )
        for c in checkins.iterator(chunk_size=BATCH)
    )
    for _, row in heapq.merge(dose_rows, checkin_rows, key=lambda item: item[0]):
        yield row


def _with_expected(patient: Patient, entries: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """Each entry with its day's patient-paced expected dose, as the patient page shows it: the live entry's
    stored one, and for a day with voided entries only, resumed from the live entry before it."""
    plans, states = patient_reads.plans_with_states(patient)
    terms, gap = selectors.plan_terms(plans, states), patient.clinic.restart_after_gap_days
    position: dict[str, object] | None = None
    for _, group in itertools.groupby(entries, key=lambda e: e.taken_on):
        day = list(group)
        live = next((e for e in day if e.voided_at is None), None)
        if live is not None:
            expected = live.scheduled_dose_mg
            position = live.course_after
        else:
            expected = (
                course.Course(terms, gap, course.Position.from_json(position)).context_on(day[0].taken_on).expected
            )
        for entry in day:
            yield entry, expected


def stream(patient: Patient, *, deidentified: bool = False) -> Iterable[str]:
    return csv_lines(rows(patient, deidentified=deidentified))
