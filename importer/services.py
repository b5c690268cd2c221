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

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from patients.audit import audited, bulk_create_audited
from patients.forms import BIRTH_IN_FUTURE, BIRTH_TOO_EARLY
from patients.models import EARLIEST_BIRTH_DATE, Clinic, Condition, Patient
from patients.services import is_prescriber_of, patient_save
from titration import course, rules, selectors
from titration.models import CheckIn, DoseEntry, DoseStatus, Flag, Formulation, SideEffect
from titration.services import DUPLICATE_CHECKIN_DAY, flags_reconcile

from .formats import DosePart, Parsed, PatientDetails, Row

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


Progress = Callable[[int], None]


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
    today = timezone.localdate()
    for key, rows in groups.items():
        _refuse_duplicates(rows, report)
        rows = [r for r in rows if not r.error]
        patient = known.get(key)
        if patient is None and parsed.format != "template":
            for row in rows:
                report.refuse(row.number, row.mrn, EXPORT_PATIENT_UNKNOWN.format(mrn=row.mrn))
        elif rows:
            _import_patient(clinic, by, patient, rows, conditions, today, file_name, reasons, report)
        if progress:
            progress(len(rows))
    report.stored_rows.sort()
    return report


def _known_patients(clinic: Clinic, keys: list[str]) -> dict[str, Patient]:
    found: dict[str, Patient] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = Patient.objects.annotate(mrn_lower=Lower("mrn")).filter(clinic=clinic, mrn_lower__in=chunk)
        found.update({p.mrn_lower: p for p in query.select_related("clinic")})  # type: ignore[attr-defined]
    return found


def _conditions() -> dict[str, Condition]:
    """Active conditions by lower-cased name and ICD-10-CM code, as the patient form offers them."""
    found: dict[str, Condition] = {}
    for condition in Condition.objects.filter(is_active=True):
        found[condition.name.lower()] = condition
        if condition.icd10_code:
            found.setdefault(condition.icd10_code.lower(), condition)
    return found


def _refuse_duplicates(rows: list[Row], report: Report) -> None:
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
        if len(getattr(details, name)) > Patient._meta.get_field(name).max_length:  # type: ignore[operator]
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
    clinic: Clinic,
    by: Any,
    patient: Patient | None,
    rows: list[Row],
    conditions: dict[str, Condition],
    today: datetime.date,
    file_name: str,
    reasons: dict[int, str],
    report: Report,
) -> None:
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
    if refusal is None:
        for row in rows:
            given = row.patient
            if (given.family_name or given.date_of_birth) and given != details:
                row.error = DIFFERS_FROM_ROW.format(mrn=first.mrn, first=first.number)
                report.refuse(row.number, row.mrn, row.error)
        rows = [r for r in rows if not r.error]
    if refusal is not None:
        for row in rows:
            report.refuse(row.number, row.mrn, refusal)
        return
    summary = {
        "mrn": patient.mrn if patient else first.mrn,
        "name": str(patient) if patient else f"{details.family_name}, {details.given_name}",
        "action": "match" if patient else "create",
        "entries": 0,
        "checkins": 0,
    }
    if patient is None:
        patient = patient_save(
            patient=Patient(
                clinic=clinic,
                mrn=first.mrn,
                given_name=details.given_name,
                family_name=details.family_name,
                date_of_birth=details.date_of_birth,
                sex=details.sex,
                prescriber=by,
            ),
            diagnoses={conditions[raw.lower()]: None for raw in details.conditions},
            by=by,
            reason=change_reason(file_name, first.number, by),
        )
        patient.clinic = clinic
    else:
        # Serialise with the forms' writes to this patient, as dose_record does.
        patient = Patient.objects.select_for_update().select_related("clinic").get(pk=patient.pk)
    entries, checkins = _assess(patient, by, rows, today, file_name, reasons, report)
    _store(patient, by, entries, checkins, file_name, report)
    summary["entries"], summary["checkins"] = len(entries), len(checkins)
    if len(report.patients) < MAX_LISTED:
        report.patients.append(summary)


def _assess(
    patient: Patient,
    by: Any,
    rows: list[Row],
    today: datetime.date,
    file_name: str,
    reasons: dict[int, str],
    report: Report,
) -> tuple[list[tuple[Row, DoseEntry]], list[tuple[Row, CheckIn]]]:
    """Each row as the forms would take it, in date order: ``dose_record``'s assessment, ``checkin_record``'s
    checks. Returns the entries and check-ins to store (unsaved), with their rows."""
    facts = selectors.course_facts(patient)
    recorded = {e.day: e for e in facts.entries}
    checked = dict(CheckIn.objects.live().filter(patient=patient).values_list("checked_on", "pain_score"))
    before = sorted(facts.entries, key=lambda e: e.day)
    walker = course.Course(facts.terms, facts.gap_days)
    walked = 0
    entries: list[tuple[Row, DoseEntry]] = []
    checkins: list[tuple[Row, CheckIn]] = []
    for row in sorted(rows, key=lambda r: (r.day, r.number)):
        day = row.day
        if day is None:  # refused when read
            continue
        while walked < len(before) and before[walked].day < day:
            walker.record(before[walked])
            walked += 1
        checkin_needed = False
        if row.checkin is not None:
            problem = rules.check_record_day(day, today=today, born=patient.date_of_birth)
            if problem is None and day in checked and checked[day] != row.checkin.pain_score:
                problem = DUPLICATE_CHECKIN_DAY
            if problem:
                report.refuse(row.number, row.mrn, problem)
                continue
            checkin_needed = day not in checked
        entry = None
        dose_needed = False
        if row.dose is not None:
            part = row.dose
            existing = recorded.get(day)
            same = existing is not None and existing.taken == part.taken and existing.dose == part.dose
            if not same:
                dose_needed = True
                context = walker.context_on(day)
                reason = reasons.get(row.number, part.override_reason).strip()
                verdict = rules.assess_dose(
                    dose=part.dose,
                    day=day,
                    taken=part.taken,
                    context=context,
                    today=today,
                    born=patient.date_of_birth,
                    day_has_entry=existing is not None,
                    confirmed=bool(reason),
                    override_reason=reason,
                )
                to_confirm = rules.needs_confirmation(verdict.findings)
                if to_confirm:
                    _ask_reason(report, row, day, verdict, to_confirm, reason)
                if verdict.outcome is rules.Outcome.REFUSED:
                    report.refuse(row.number, row.mrn, verdict.message)
                    continue
                if not verdict.accepted:
                    continue
                confirmed_reason = reason if to_confirm else ""
                entry = _entry(patient, by, row, day, part, context, walker, facts, confirmed_reason, file_name)
        if not (dose_needed or checkin_needed):
            report.already += 1
            continue
        if entry is not None:
            entries.append((row, entry))
        if checkin_needed and row.checkin is not None:
            checkin = CheckIn(
                patient=patient,
                checked_on=day,
                pain_score=row.checkin.pain_score,
                sleep_quality=row.checkin.sleep_quality,
                notes=row.checkin.notes,
                recorded_by=by,
            )
            checkins.append((row, audited(checkin, by=by, reason=change_reason(file_name, row.number, by))))
        report.stored_rows.append(row.number)
    return entries, checkins


def _ask_reason(
    report: Report,
    row: Row,
    day: datetime.date,
    verdict: rules.Verdict,
    to_confirm: list[rules.Finding],
    reason: str,
) -> None:
    """A dose out of range or a likely slip: listed with its reason, or as waiting for one."""
    pending = not verdict.accepted
    if pending:
        report.confirm_pending += 1
    if len(report.confirm) < MAX_LISTED:
        report.confirm.append(
            {
                "row": row.number,
                "mrn": row.mrn,
                "date": day.isoformat(),
                "dose": rules.format_dose(row.dose.dose if row.dose else None),
                "message": " ".join(f.message for f in to_confirm),
                "reason": reason,
                "will_import": not pending,
            }
        )


def _entry(
    patient: Patient,
    by: Any,
    row: Row,
    day: datetime.date,
    part: DosePart,
    context: rules.DoseContext,
    walker: course.Course,
    facts: selectors.CourseFacts,
    confirmed_reason: str,
    file_name: str,
) -> DoseEntry:
    """The entry ``dose_record`` would store for an accepted dose (unsaved), and the course moved past it."""
    plan = facts.plan_by_id.get(context.plan.plan_id) if context.plan else None
    formulation = part.formulation or (plan.formulation if plan else Formulation.CAPSULE)
    after = walker.record(_fact(day, part.taken, part.dose, formulation)).after.as_json()
    entry = DoseEntry(
        patient=patient,
        taken_on=day,
        dose_mg=part.dose,
        status=DoseStatus.TAKEN if part.taken else DoseStatus.MISSED,
        formulation=formulation,
        notes=part.notes,
        plan=plan,
        scheduled_dose_mg=context.expected,
        course_after=after,
        override_reason=confirmed_reason,
        recorded_by=by,
    )
    return audited(entry, by=by, reason=change_reason(file_name, row.number, by, confirmed_reason))


def _fact(day: datetime.date, taken: bool, dose: Decimal | None, formulation: str) -> course.EntryFact:
    """A new entry as the course sees it, as ``dose_record`` builds it (with its formulation where the course
    takes one)."""
    extra = {"formulation": formulation} if "formulation" in course.EntryFact.__dataclass_fields__ else {}
    return course.EntryFact(None, day, taken, dose, **extra)


def _store(
    patient: Patient,
    by: Any,
    entries: list[tuple[Row, DoseEntry]],
    checkins: list[tuple[Row, CheckIn]],
    file_name: str,
    report: Report,
) -> None:
    """Insert the patient's new entries and check-ins with their audit rows, then derive the flags."""
    before = set(Flag.objects.filter(patient=patient).values_list("pk", flat=True)) if entries or checkins else set()
    rows_of: dict[tuple[str, int], int] = {}
    if entries:
        saved = bulk_create_audited([e for _, e in entries], by=by)
        rows_of.update({("dose", e.pk): row.number for (row, _), e in zip(entries, saved, strict=True)})
        report.entries += len(saved)
        flags_reconcile(patient=patient, by=by, cause=f"the import of {short_name(file_name)}")
    if checkins:
        saved_checkins = bulk_create_audited([c for _, c in checkins], by=by)
        report.checkins += len(saved_checkins)
        effects: list[SideEffect] = []
        flags: list[Flag] = []
        for (row, _), checkin in zip(checkins, saved_checkins, strict=True):
            rows_of[("checkin", checkin.pk)] = row.number
            reason = change_reason(file_name, row.number, by)
            for kind, severity, description in row.checkin.side_effects if row.checkin else ():
                effect = SideEffect(checkin=checkin, kind=kind, severity=severity, description=description)
                effects.append(audited(effect, by=by, reason=reason))
                # As checkin_record: a severe side effect raises a warning flag.
                finding = rules.side_effect_finding(effect.label, severity, checkin.checked_on)
                if finding is not None:
                    flag = Flag(
                        patient=patient,
                        checkin=checkin,
                        kind=finding.kind,
                        severity=finding.severity,
                        message=finding.message,
                    )
                    flags.append(audited(flag, by=by, reason=reason))
        bulk_create_audited(effects, by=by)
        bulk_create_audited(flags, by=by)
    if entries or checkins:
        _report_flags(patient, before, rows_of, report)


def _report_flags(patient: Patient, before: set[int], rows_of: dict[tuple[str, int], int], report: Report) -> None:
    new = (
        Flag.objects.filter(patient=patient, acknowledged_at__isnull=True)
        .exclude(pk__in=before)
        .values_list(
            "severity", "message", "dose_entry_id", "dose_entry__taken_on", "checkin_id", "checkin__checked_on"
        )
        .order_by("dose_entry__taken_on", "checkin__checked_on", "pk")
    )
    for severity, message, entry_id, entry_day, checkin_id, checkin_day in new:
        label = rules.Severity(severity).label
        report.flag_counts[label] = report.flag_counts.get(label, 0) + 1
        if len(report.flags) < MAX_LISTED:
            row = rows_of.get(("dose", entry_id)) if entry_id else rows_of.get(("checkin", checkin_id))
            day: datetime.date | None = entry_day or checkin_day
            report.flags.append(
                {
                    "row": row,
                    "mrn": patient.mrn,
                    "date": day.isoformat() if day else "",
                    "severity": label,
                    "message": message,
                }
            )
