"""Writes of the titration app: the only code that saves plans, dose entries and flags.

Each service applies the pure rules, then stores the record and its flags in one transaction.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.audit import bulk_create_audited, create_audited, save_audited
from patients.models import Patient

from . import rules
from .chart import plan_on, plan_spans
from .models import CheckIn, DoseEntry, DoseStatus, Flag, Formulation, SideEffect, TitrationPlan

Voidable = TypeVar("Voidable", DoseEntry, CheckIn)

DUPLICATE_DAY = "A dose is already recorded for this day. Void it first if it is wrong, then record the correct one."
ALREADY_VOIDED = "This entry was already voided."
ALREADY_ACKNOWLEDGED = "This flag was already acknowledged."
REASON_REQUIRED = "Give a reason."
OVERRIDE_REASON_REQUIRED = "Give the reason for recording a dose outside the LDN range of 0.5–4.5 mg."
FUTURE_DAY = "The date cannot be in the future."
DUPLICATE_CHECKIN_DAY = "A check-in is already recorded for this day. Void it first if it is wrong."
BEFORE_BIRTH = "The date cannot be before the patient's date of birth."


class RecordError(Exception):
    """A record that cannot be stored as given; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def active_plan(patient: Patient) -> TitrationPlan | None:
    return patient.plans.filter(is_active=True).first()


def plan_in_force(patient: Patient, day: datetime.date) -> TitrationPlan | None:
    """The plan that applied on ``day``: a backfilled dose is checked against the plan of its own date."""
    plans = list(patient.plans.order_by("start_date", "created_at"))
    return plan_on(plan_spans(plans, timezone.localdate()), day)


@transaction.atomic
def plan_set(*, patient: Patient, by: Any, **fields: Any) -> TitrationPlan:
    """Make a new plan the patient's active one; the old plan is ended and kept in the history."""
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    now = timezone.now()
    for old in patient.plans.filter(is_active=True):
        old.is_active, old.ended_at, old.ended_by = False, now, by
        save_audited(old, by=by, reason="Replaced by a new plan.", update_fields=["is_active", "ended_at", "ended_by"])
    return create_audited(TitrationPlan, by=by, patient=patient, created_by=by, is_active=True, **fields)


def previous_dose(patient: Patient, day: datetime.date) -> Decimal | None:
    """The last dose actually taken before ``day`` (voided and missed entries do not count)."""
    entry = (
        DoseEntry.objects.live()
        .filter(patient=patient, taken_on__lt=day, status=DoseStatus.TAKEN)
        .order_by("-taken_on")
        .values_list("dose_mg", flat=True)
        .first()
    )
    return entry


def dose_check(
    *,
    patient: Patient,
    taken_on: datetime.date,
    dose_mg: Decimal | None,
    status: str,
    override_reason: str = "",
    confirmed: bool = False,
) -> str | None:
    """Validate a dose before it is stored. Raises RecordError; returns the out-of-range warning
    (if any) that the prescriber must confirm with a reason before the dose can be stored."""
    check_day(patient=patient, day=taken_on, field="taken_on")
    if DoseEntry.objects.live().filter(patient=patient, taken_on=taken_on).exists():
        raise RecordError(DUPLICATE_DAY, "taken_on")
    if dose_mg is None:
        if status == DoseStatus.TAKEN:
            raise RecordError(rules.NOT_A_NUMBER, "dose_mg")
        return None
    try:
        rules.check_hard_limits(dose_mg)
    except rules.DoseError as exc:
        raise RecordError(str(exc), "dose_mg") from exc
    if status == DoseStatus.TAKEN:
        warning = rules.out_of_range_message(dose_mg)
        if warning and confirmed and not override_reason.strip():
            raise RecordError(OVERRIDE_REASON_REQUIRED, "override_reason")
        if warning and not confirmed:
            return warning
    return None


def dose_record(
    *,
    patient: Patient,
    by: Any,
    taken_on: datetime.date,
    dose_mg: Decimal | None,
    status: str = DoseStatus.TAKEN,
    formulation: str = "",
    notes: str = "",
    override_reason: str = "",
    confirmed: bool = False,
) -> tuple[DoseEntry, list[Flag]]:
    """Store one day's dose and the flags it raises.

    Raises RecordError when the dose is refused, or when it is outside the LDN range and has not
    been confirmed with a reason. The one-live-entry-per-day constraint decides a race: the loser
    gets DUPLICATE_DAY, never a 500.
    """
    warning = dose_check(
        patient=patient,
        taken_on=taken_on,
        dose_mg=dose_mg,
        status=status,
        override_reason=override_reason,
        confirmed=confirmed,
    )
    if warning:
        raise RecordError(warning, "confirm_out_of_range")
    warning_confirmed = (
        status == DoseStatus.TAKEN and dose_mg is not None and rules.out_of_range_message(dose_mg) is not None
    )
    plan = plan_in_force(patient, taken_on)
    scheduled = plan.scheduled_dose_on(taken_on) if plan else None
    if status != DoseStatus.TAKEN:
        dose_mg = dose_mg if dose_mg is not None else scheduled
    try:
        with transaction.atomic():
            entry = create_audited(
                DoseEntry,
                by=by,
                reason=override_reason.strip() if warning_confirmed else "",
                patient=patient,
                taken_on=taken_on,
                dose_mg=dose_mg,
                status=status,
                formulation=formulation or (plan.formulation if plan else Formulation.CAPSULE),
                notes=notes,
                plan=plan,
                scheduled_dose_mg=scheduled,
                override_reason=override_reason.strip() if warning_confirmed else "",
                recorded_by=by,
            )
            flags = _raise_dose_flags(entry, plan=plan, scheduled=scheduled)
    except IntegrityError as exc:
        if "unique" not in str(exc).lower():
            raise
        raise RecordError(DUPLICATE_DAY, "taken_on") from exc
    return entry, flags


def _raise_dose_flags(entry: DoseEntry, *, plan: TitrationPlan | None, scheduled: Decimal | None) -> list[Flag]:
    if entry.status != DoseStatus.TAKEN or entry.dose_mg is None:
        return []
    findings = rules.evaluate_dose(
        entry.dose_mg,
        previous_dose=previous_dose(entry.patient, entry.taken_on),
        plan_step_mg=plan.step_mg if plan else None,
        scheduled_mg=scheduled,
    )
    return bulk_create_audited(
        [
            Flag(
                patient=entry.patient,
                dose_entry=entry,
                kind=finding.kind,
                severity=finding.severity,
                message=finding.message,
            )
            for finding in findings
        ],
        by=entry.recorded_by,
    )


def dose_void(*, entry: DoseEntry, by: Any, reason: str) -> DoseEntry:
    """Void a wrong entry: it stays in the chart, struck through, with who, when and why."""
    return record_void(record=entry, by=by, reason=reason)


@transaction.atomic
def flag_acknowledge(*, flag: Flag, by: Any, note: str = "") -> Flag:
    locked = Flag.objects.select_for_update().get(pk=flag.pk)
    if not locked.is_open:
        raise RecordError(ALREADY_ACKNOWLEDGED, "note")
    locked.acknowledged_at = timezone.now()
    locked.acknowledged_by = by
    locked.acknowledgement_note = note.strip()
    save_audited(
        locked,
        by=by,
        reason=locked.acknowledgement_note,
        update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"],
    )
    return locked


def check_day(*, patient: Patient, day: datetime.date, field: str) -> None:
    """A clinical record's date: not in the future, not before the patient was born."""
    if day > timezone.localdate():
        raise RecordError(FUTURE_DAY, field)
    if day < patient.date_of_birth:
        raise RecordError(BEFORE_BIRTH, field)


def checkin_check(*, patient: Patient, checked_on: datetime.date) -> None:
    check_day(patient=patient, day=checked_on, field="checked_on")
    if CheckIn.objects.live().filter(patient=patient, checked_on=checked_on).exists():
        raise RecordError(DUPLICATE_CHECKIN_DAY, "checked_on")


def checkin_record(
    *,
    patient: Patient,
    by: Any,
    checked_on: datetime.date,
    pain_score: int,
    sleep_quality: int | None = None,
    notes: str = "",
    side_effects: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
) -> tuple[CheckIn, list[Flag]]:
    """Store a check-in with its side effects ((kind, severity, description) triples).

    A severe side effect raises a warning flag in the same queue as the dose flags.
    """
    checkin_check(patient=patient, checked_on=checked_on)
    try:
        with transaction.atomic():
            checkin = create_audited(
                CheckIn,
                by=by,
                patient=patient,
                checked_on=checked_on,
                pain_score=pain_score,
                sleep_quality=sleep_quality,
                notes=notes,
                recorded_by=by,
            )
            effects = bulk_create_audited(
                [
                    SideEffect(checkin=checkin, kind=kind, severity=severity, description=description)
                    for kind, severity, description in side_effects
                ],
                by=by,
            )
            flags = bulk_create_audited(
                [
                    Flag(
                        patient=patient,
                        checkin=checkin,
                        kind=rules.FlagKind.SEVERE_SIDE_EFFECT,
                        severity=rules.Severity.WARNING,
                        message=f"Severe {effect.label.lower()} reported at the check-in of {checked_on:%-d %b %Y}.",
                    )
                    for effect in effects
                    if effect.severity == SideEffect.Severity.SEVERE
                ],
                by=by,
            )
    except IntegrityError as exc:
        if "unique" not in str(exc).lower():
            raise
        raise RecordError(DUPLICATE_CHECKIN_DAY, "checked_on") from exc
    return checkin, flags


def checkin_void(*, checkin: CheckIn, by: Any, reason: str) -> CheckIn:
    """Void a wrong check-in: it stays in the chart with who, when and why."""
    return record_void(record=checkin, by=by, reason=reason)


@transaction.atomic
def record_void(*, record: Voidable, by: Any, reason: str) -> Voidable:
    """Void a dose entry or check-in; voiding twice keeps the first void."""
    if not reason.strip():
        raise RecordError(REASON_REQUIRED, "reason")
    locked = type(record).objects.select_for_update().get(pk=record.pk)
    if locked.voided_at is not None:
        raise RecordError(ALREADY_VOIDED, "reason")
    locked.voided_at = timezone.now()
    locked.voided_by = by
    locked.void_reason = reason.strip()
    save_audited(locked, by=by, reason=locked.void_reason, update_fields=["voided_at", "voided_by", "void_reason"])
    return locked
