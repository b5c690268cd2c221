"""The import: every row assessed by the titration rules exactly as the forms assess it, then stored.

A dose goes through ``rules.assess_dose`` with the context ``dose_record`` would give it (the patient's course
walked up to the day before, the same ``titration.course`` code), one patient at a time in date order. The
accepted entries of a patient are inserted at once, each with its audit row, and the patient's flags are then
derived by the titration service itself (``flags_reconcile``), so they are the flags the forms would raise. A
check-in goes through the same checks as ``checkin_record``.

The preview is the same run inside a transaction that is rolled back; the commit runs it again for real, in one
transaction, and is refused if its outcome differs from the preview the user saw.
"""

from __future__ import annotations

import contextlib
import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from patients.forms import BIRTH_IN_FUTURE, BIRTH_TOO_EARLY
from patients.models import EARLIEST_BIRTH_DATE, Clinic, Condition, Patient, clinic_today
from patients.services import NewPatient, is_prescriber_of, patients_register_many
from titration import bulk, rules
from titration.models import CheckIn, Flag, SideEffect
from titration.services import DUPLICATE_CHECKIN_DAY, NewDose, doses_record_many

from .formats import Parsed, PatientDetails, Row, patient_text_limit

NOT_A_PRESCRIBER = "Only a prescriber of the clinic can import into it."
DUPLICATE_IN_FILE = "A second {what} for MRN {mrn} on {day} (already in row {first})."
NEW_PATIENT_NEEDS = (
    "MRN {mrn} is not a patient of the clinic yet: give given_name, family_name, date_of_birth and conditions "
    "(at least one) for a new patient."
)
UNKNOWN_CONDITION = "{raw} is not one of the available conditions (a name or an ICD-10-CM code)."
NOT_THIS_PATIENT = "MRN {mrn} is {name}, born {born}, in this clinic; the file says {other}."
DIFFERS_FROM_ROW = "The patient's details differ from those of MRN {mrn} in row {first}."
EXPORT_PATIENT_UNKNOWN = (
    "MRN {mrn} is not a patient of the clinic: register the patient first, then import the export into them."
)
PREVIEW_CHANGED = (
    "The record changed since the preview (someone recorded or voided an entry meanwhile). Nothing was imported: "
    "check the new preview, then import."
)
MAX_LISTED = 1000  # rows listed per section of a preview; the counts are always complete


AUDIT_REASON_MAX = 100  # django-simple-history's change reason column
FILE_NAME_SHOWN = 40  # of a longer file name, in the audit trail; the import batch keeps it whole


def short_name(file_name: str) -> str:
    return file_name if len(file_name) <= FILE_NAME_SHOWN else file_name[: FILE_NAME_SHOWN - 1] + "…"


def change_reason(file_name: str, row: int, by: Any, why: str = "") -> str:
    """The audit trail's "why" of an imported record, cut to what its column holds (the file name first)."""
    tail = f" row {row} by {by.get_username()}" + (f" — {why}" if why else "")
    name = short_name(file_name)
    text = f"imported from {name}{tail}"
    return text if len(text) <= AUDIT_REASON_MAX else text[: AUDIT_REASON_MAX - 1] + "…"


@dataclass
class Report:
    """What an import adds, refuses and flags: the preview, and after a commit what it did."""

    format: str = ""
    rows: int = 0
    patients: list[dict[str, Any]] = field(default_factory=list)
    entries: int = 0
    checkins: int = 0
    already: int = 0  # rows whose dose and check-in are in the record already
    skipped: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0
    confirm: list[dict[str, Any]] = field(default_factory=list)
    confirm_pending: int = 0  # rows that need a reason and have none: not imported
    flags: list[dict[str, Any]] = field(default_factory=list)
    flag_counts: dict[str, int] = field(default_factory=dict)
    stored_rows: list[int] = field(default_factory=list)

    @property
    def patients_created(self) -> int:
        return sum(1 for p in self.patients if p["action"] == "create" and (p["entries"] or p["checkins"]))

    def refuse(self, row: int, mrn: str, message: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_LISTED:
            self.refused.append({"row": row, "mrn": mrn, "message": message})

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(**data) if data else cls()


class PreviewChanged(Exception):
    """The commit's outcome differs from the preview: rolled back."""


class _Rollback(Exception):
    def __init__(self, report: Report) -> None:
        super().__init__("dry run")
        self.report = report


Progress = Callable[[int], object]  # told the rows done; what it returns is ignored (tqdm's update returns one)


def import_run(
    *,
    clinic: Clinic,
    by: Any,
    parsed: Parsed,
    file_name: str,
    reasons: dict[int, str] | None = None,
    commit: bool = False,
    expected_rows: list[int] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Assess and store every row; without ``commit``, roll it all back and only report (the dry run).

    With ``expected_rows`` (the rows the preview stored), a commit whose outcome differs is rolled back and
    raises PreviewChanged. Any failure midway leaves nothing behind: everything is one transaction.
    """
    if not is_prescriber_of(by, clinic):
        raise PermissionError(NOT_A_PRESCRIBER)
    try:
        with transaction.atomic():
            # The patients' records are copied many patients at a time; every read sees what was written.
            with bulk.deferred_copies():
                report = _run(clinic, by, parsed, file_name, reasons or {}, progress)
            if not commit:
                raise _Rollback(report)
            if expected_rows is not None and report.stored_rows != expected_rows:
                raise PreviewChanged(PREVIEW_CHANGED)
    except _Rollback as rollback:
        return rollback.report
    return report


def _run(
    clinic: Clinic, by: Any, parsed: Parsed, file_name: str, reasons: dict[int, str], progress: Progress | None
) -> Report:
    report = Report(format=parsed.format, rows=len(parsed.rows))
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in parsed.rows:
        if row.skipped:
            if len(report.skipped) < MAX_LISTED:
                report.skipped.append({"row": row.number, "message": row.skipped})
        elif row.error:
            report.refuse(row.number, row.mrn, row.error)
        else:
            groups[row.mrn.lower()].append(row)
    known = _known_patients(clinic, list(groups))
    conditions = _conditions()
    today = clinic_today(clinic)
    vetted = [_vet(known.get(key), rows, parsed.format, conditions, today) for key, rows in groups.items()]
    _register(clinic, by, [v for v in vetted if v.patient is None and v.rows], conditions, file_name)
    flagged: list[_Stored] = []
    for item in vetted:
        for refusal in item.refused:
            report.refuse(*refusal)
        if item.rows and item.patient is not None:
            stored = _import_patient(item.patient, by, item.rows, today, file_name, reasons, report, new=item.new)
            if stored is not None:
                flagged.append(stored)
        if progress:
            progress(item.counted)
    _report_flags(flagged, report)
    report.stored_rows.sort()
    return report


@dataclass
class _Stored:
    """A patient the import added records to: the flags open before, and the row of each record added."""

    patient: Patient
    before: set[int]
    rows_of: dict[tuple[str, int], int]


@dataclass
class _Vetted:
    """A patient's rows after the checks that write nothing: the patient (None: to register), the rows to
    import, and the refusals in the order the rows were checked."""

    patient: Patient | None
    rows: list[Row]
    details: PatientDetails | None
    counted: int  # rows told to the progress bar
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    new: bool = False  # registered by this import

    def refuse(self, row: int, mrn: str, message: str) -> None:
        self.refused.append((row, mrn, message))


def _vet(
    patient: Patient | None,
    rows: list[Row],
    file_format: str,
    conditions: dict[str, Condition],
    today: datetime.date,
) -> _Vetted:
    """One patient's rows checked as the forms check them before anything is written: a second row for a
    day, an unknown patient in an export, the patient's details (those of a new patient as the patient form
    checks them)."""
    vetted = _Vetted(patient, [], None, 0)
    _refuse_duplicates(rows, vetted)
    rows = [r for r in rows if not r.error]
    vetted.counted = len(rows)
    if patient is None and file_format != "template":
        for row in rows:
            vetted.refuse(row.number, row.mrn, EXPORT_PATIENT_UNKNOWN.format(mrn=row.mrn))
        return vetted
    if not rows:
        return vetted
    first = rows[0]
    details = next((r.patient for r in rows if r.patient.family_name or r.patient.date_of_birth), first.patient)
    refusal = None
    if patient is not None:
        if not _matches(patient, details):
            other = _describe(details)
            refusal = NOT_THIS_PATIENT.format(
                mrn=patient.mrn, name=patient.full_name, born=patient.date_of_birth.isoformat(), other=other
            )
    else:
        refusal = _patient_problem(first.mrn, details, conditions, today)
    if refusal is not None:
        for row in rows:
            vetted.refuse(row.number, row.mrn, refusal)
        return vetted
    for row in rows:
        given = row.patient
        if (given.family_name or given.date_of_birth) and given != details:
            row.error = DIFFERS_FROM_ROW.format(mrn=first.mrn, first=first.number)
            vetted.refuse(row.number, row.mrn, row.error)
    vetted.rows = [r for r in rows if not r.error]
    vetted.details = details
    return vetted


def _register(clinic: Clinic, by: Any, new: list[_Vetted], conditions: dict[str, Condition], file_name: str) -> None:
    """Register the new patients of the file at once, each as the patient form would (``patient_save``'s
    checks, audit rows with the file and row that introduced the patient)."""
    unsaved: list[NewPatient] = []
    for item in new:
        first, details = item.rows[0], item.details
        if details is None or details.date_of_birth is None:  # _vet refuses a new patient without them
            raise ValueError("A new patient has details and a date of birth.")
        patient = Patient(
            clinic=clinic,
            mrn=first.mrn,
            given_name=details.given_name,
            family_name=details.family_name,
            date_of_birth=details.date_of_birth,
            sex=details.sex,
            prescriber=by,
        )
        diagnoses: dict[Condition, datetime.date | None] = {conditions[raw.lower()]: None for raw in details.conditions}
        unsaved.append((patient, diagnoses, change_reason(file_name, first.number, by)))
    for item, patient in zip(new, patients_register_many(patients=unsaved, by=by), strict=True):
        item.patient, item.new = patient, True


def _known_patients(clinic: Clinic, keys: list[str]) -> dict[str, Patient]:
    found: dict[str, Patient] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = Patient.objects.annotate(mrn_lower=Lower("mrn")).filter(clinic=clinic, mrn_lower__in=chunk)
        found.update({p.mrn_lower: p for p in query.select_related("clinic")})  # type: ignore[attr-defined]  # annotated
    return found


def _conditions() -> dict[str, Condition]:
    """Active conditions by lower-cased name and ICD-10-CM code, as the patient form offers them."""
    found: dict[str, Condition] = {}
    for condition in Condition.objects.filter(is_active=True):
        found[condition.name.lower()] = condition
        if condition.icd10_code:
            found.setdefault(condition.icd10_code.lower(), condition)
    return found


def _refuse_duplicates(rows: list[Row], report: Report | _Vetted) -> None:
    """A second dose or check-in for the same patient and day within the file: the later row is refused."""
    seen: dict[tuple[str, datetime.date | None], int] = {}
    for row in rows:
        parts = [("dose", row.dose is not None), ("check-in", row.checkin is not None)]
        for what, present in parts:
            if not present:
                continue
            first = seen.get((what, row.day))
            if first is not None:
                row.error = DUPLICATE_IN_FILE.format(what=what, mrn=row.mrn, day=row.day, first=first)
                report.refuse(row.number, row.mrn, row.error)
                break
        if not row.error:
            for what, present in parts:
                if present:
                    seen[(what, row.day)] = row.number


def _patient_problem(
    mrn: str, details: PatientDetails, conditions: dict[str, Condition], today: datetime.date
) -> str | None:
    """Why a new patient cannot be registered from a row: the patient form's checks."""
    if not (details.given_name and details.family_name and details.date_of_birth and details.conditions):
        return NEW_PATIENT_NEEDS.format(mrn=mrn)
    for name in ("given_name", "family_name"):
        if len(getattr(details, name)) > patient_text_limit(name):
            return f"The {name} is longer than 100 characters."
    if details.date_of_birth > today:
        return BIRTH_IN_FUTURE
    if details.date_of_birth < EARLIEST_BIRTH_DATE:
        return BIRTH_TOO_EARLY
    for raw in details.conditions:
        if raw.lower() not in conditions:
            return UNKNOWN_CONDITION.format(raw=raw)
    return None


def _matches(patient: Patient, details: PatientDetails) -> bool:
    return (
        (not details.family_name or details.family_name.lower() == patient.family_name.lower())
        and (not details.given_name or details.given_name.lower() == patient.given_name.lower())
        and (details.date_of_birth is None or details.date_of_birth == patient.date_of_birth)
    )


def _describe(details: PatientDetails) -> str:
    name = " ".join(filter(None, (details.given_name, details.family_name))) or "(no name)"
    born = details.date_of_birth.isoformat() if details.date_of_birth else "(no date of birth)"
    return f"{name}, born {born}"


def _import_patient(
    patient: Patient,
    by: Any,
    rows: list[Row],
    today: datetime.date,
    file_name: str,
    reasons: dict[int, str],
    report: Report,
    *,
    new: bool,
) -> _Stored | None:
    summary = {
        "mrn": patient.mrn,
        "name": str(patient),
        "action": "create" if new else "match",
        "entries": 0,
        "checkins": 0,
    }
    if not new:
        # Serialise with the forms' writes to this patient, as dose_record does.
        patient = Patient.objects.select_for_update().select_related("clinic").get(pk=patient.pk)
    # A patient registered by this import has no flags or check-ins yet: nothing to read.
    before = set() if new else set(Flag.objects.filter(patient=patient).values_list("pk", flat=True))
    # The records of a patient already on record take ids newer than all the patient's records (see fresh_ids).
    with contextlib.nullcontext() if new else bulk.fresh_ids():
        entries, checkins, rows_of = _assess_and_store(patient, by, rows, today, file_name, reasons, report, new=new)
    summary["entries"], summary["checkins"] = entries, checkins
    if len(report.patients) < MAX_LISTED:
        report.patients.append(summary)
    return _Stored(patient, before, rows_of) if entries or checkins else None


def _assess_and_store(
    patient: Patient,
    by: Any,
    rows: list[Row],
    today: datetime.date,
    file_name: str,
    reasons: dict[int, str],
    report: Report,
    *,
    new: bool = False,
) -> tuple[int, int, dict[tuple[str, int], int]]:
    """Each row as the forms would take it: its check-in through ``checkin_record``'s checks, its dose through
    the titration service's batch writer (``doses_record_many``: ``dose_record``'s assessment, one write, the
    flags derived once). A row is stored whole or not at all. Returns how many entries and check-ins it added,
    and the row of each record."""
    checked: dict[datetime.date, int | None] = (
        {} if new else dict(CheckIn.objects.live().filter(patient=patient).values_list("checked_on", "pain_score"))
    )
    candidates: list[tuple[Row, datetime.date, bool]] = []  # the row, its day, whether its check-in is stored
    for row in sorted(rows, key=lambda r: (r.day, r.number)):
        day = row.day
        if day is None:  # refused when read
            continue
        checkin_needed = False
        if row.checkin is not None:
            problem = rules.check_record_day(day, today=today, born=patient.date_of_birth)
            if problem is None and day in checked and checked[day] != row.checkin.pain_score:
                problem = DUPLICATE_CHECKIN_DAY
            if problem:
                report.refuse(row.number, row.mrn, problem)
                continue
            checkin_needed = day not in checked
        candidates.append((row, day, checkin_needed))
    with_dose = [(row, _new_dose(row, by, file_name, reasons)) for row, _, _ in candidates if row.dose is not None]
    outcomes = doses_record_many(
        patient=patient,
        by=by,
        doses=[dose for _, dose in with_dose],
        cause=f"the import of {short_name(file_name)}",
        registered=new,
    )
    outcome_of = {row.number: (dose, outcome) for (row, dose), outcome in zip(with_dose, outcomes, strict=True)}
    rows_of: dict[tuple[str, int], int] = {}
    checkins: list[tuple[Row, CheckIn]] = []
    entries = 0
    for row, day, checkin_needed in candidates:
        dose_needed = False
        if row.number in outcome_of:
            dose, outcome = outcome_of[row.number]
            error = outcome.error
            to_confirm = [*error.findings] if error else rules.needs_confirmation(outcome.findings)
            if to_confirm:
                mg = error.liquid.dose_mg if error and error.liquid else outcome.dose_mg or dose.dose_mg
                _ask_reason(report, row, mg, to_confirm, dose.override_reason, pending=error is not None)
            if error is not None:
                if not error.findings:
                    report.refuse(row.number, row.mrn, error.message)
                continue
            if outcome.entry_id is not None:
                dose_needed = True
                entries += 1
                rows_of[("dose", outcome.entry_id)] = row.number
        if not (dose_needed or checkin_needed):
            report.already += 1
            continue
        if checkin_needed and row.checkin is not None:
            checkin = bulk.unsaved(
                CheckIn,
                related={"patient": patient, "recorded_by": by},
                checked_on=day,
                pain_score=row.checkin.pain_score,
                sleep_quality=row.checkin.sleep_quality,
                notes=row.checkin.notes,
            )
            checkins.append((row, checkin))
        report.stored_rows.append(row.number)
    _store_checkins(patient, by, checkins, file_name, rows_of)
    report.entries += entries
    report.checkins += len(checkins)
    return entries, len(checkins), rows_of


def _new_dose(row: Row, by: Any, file_name: str, reasons: dict[int, str]) -> NewDose:
    part, day = row.dose, row.day
    if part is None or day is None:
        raise ValueError("A dose row has a dose and a day.")
    reason = reasons.get(row.number, part.override_reason).strip()
    return NewDose(
        taken_on=day,
        dose_mg=part.dose,
        taken=part.taken,
        formulation=part.formulation,
        notes=part.notes,
        override_reason=reason,
        confirmed=bool(reason),
        dose_ml=part.dose_ml,
        time_of_day=part.time_of_day,
        ml_in_mg_field=part.ml_in_mg_field,
        audit_reason=change_reason(file_name, row.number, by),
    )


def _ask_reason(
    report: Report, row: Row, dose_mg: Decimal | None, to_confirm: list[rules.Finding], reason: str, *, pending: bool
) -> None:
    """A dose out of range or a likely slip: listed with its reason, or as waiting for one."""
    if pending:
        report.confirm_pending += 1
    if len(report.confirm) < MAX_LISTED:
        report.confirm.append(
            {
                "row": row.number,
                "mrn": row.mrn,
                "date": row.day.isoformat() if row.day else "",
                "dose": rules.format_dose(dose_mg),
                "message": " ".join(f.message for f in to_confirm),
                "reason": reason,
                "will_import": not pending,
            }
        )


def _store_checkins(
    patient: Patient,
    by: Any,
    checkins: list[tuple[Row, CheckIn]],
    file_name: str,
    rows_of: dict[tuple[str, int], int],
) -> None:
    """Insert the patient's new check-ins, their side effects and the flags of severe ones, with audit rows."""
    if not checkins:
        return
    reasons = [change_reason(file_name, row.number, by) for row, _ in checkins]
    saved = bulk.insert_with_history([c for _, c in checkins], by=by, reasons=reasons)
    effects: list[SideEffect] = []
    flags: list[Flag] = []
    effect_reasons: list[str] = []
    flag_reasons: list[str] = []
    for (row, _), checkin, reason in zip(checkins, saved, reasons, strict=True):
        rows_of[("checkin", checkin.pk)] = row.number
        for kind, severity, description in row.checkin.side_effects if row.checkin else ():
            effect = SideEffect(checkin=checkin, kind=kind, severity=severity, description=description)
            effects.append(effect)
            effect_reasons.append(reason)
            # As checkin_record: a severe side effect raises a warning flag.
            finding = rules.side_effect_finding(effect.label, severity, checkin.checked_on)
            if finding is not None:
                flags.append(
                    Flag(
                        patient=patient,
                        checkin=checkin,
                        kind=finding.kind,
                        severity=finding.severity,
                        message=finding.message,
                    )
                )
                flag_reasons.append(reason)
    bulk.insert_with_history(effects, by=by, reasons=effect_reasons)
    bulk.insert_with_history(flags, by=by, reasons=flag_reasons)


def _report_flags(stored: list[_Stored], report: Report) -> None:
    """The flags the import raised (open, and not open before it), patient by patient in the order they were
    imported, each patient's by day: one query for many patients."""
    by_patient: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for start in range(0, len(stored), 500):
        chunk = stored[start : start + 500]
        rows = (
            Flag.objects.filter(patient_id__in=[s.patient.pk for s in chunk], acknowledged_at__isnull=True)
            .values_list(
                "patient_id",
                "pk",
                "severity",
                "message",
                "dose_entry_id",
                "dose_entry__taken_on",
                "checkin_id",
                "checkin__checked_on",
            )
            .order_by("patient_id", "dose_entry__taken_on", "checkin__checked_on", "pk")
        )
        for patient_id, *values in rows:
            by_patient[patient_id].append(tuple(values))
    for item in stored:
        patient = item.patient
        for pk, severity, message, entry_id, entry_day, checkin_id, checkin_day in by_patient[patient.pk]:
            if pk in item.before:
                continue
            label = rules.Severity(severity).label
            report.flag_counts[label] = report.flag_counts.get(label, 0) + 1
            if len(report.flags) < MAX_LISTED:
                row = item.rows_of.get(("dose", entry_id)) if entry_id else item.rows_of.get(("checkin", checkin_id))
                day: datetime.date | None = entry_day if entry_id else checkin_day
                report.flags.append(
                    {
                        "row": row,
                        "mrn": patient.mrn,
                        "date": day.isoformat() if day else "",
                        "severity": label,
                        "message": message,
                    }
                )
