"""Writes of the patients app. Views call these; nothing else saves a patient."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from django.db import IntegrityError, transaction

from .audit import audited, bulk_create_audited, create_audited, save_audited
from .concurrency import RelatedValues, check_version, display_value, submitted_values
from .models import AccessLog, Clinic, Condition, Diagnosis, Membership, Patient
from .roles import Role


class DuplicateMrnError(Exception):
    """Another patient of the clinic took this MRN (in any letter case) between the form check and the save."""


class PrescriberNotInClinicError(Exception):
    """The named prescriber is not an active prescriber of the patient's clinic."""


# The unique constraint on the lower-cased MRN per clinic (models.Patient.Meta). Its name is what a violation
# reports, on SQLite and PostgreSQL alike; the MRN column itself is not named for an index on an expression.
MRN_CONSTRAINT = "patient_unique_mrn_ci_per_clinic"

# The patient's fields that the edit form changes, compared when an edit meets a newer version.
PATIENT_EDIT_FIELDS = ("mrn", "given_name", "family_name", "date_of_birth", "sex", "prescriber", "is_active", "notes")
CONDITIONS_LABEL = "Conditions"


def is_prescriber_of(user: Any, clinic: Clinic) -> bool:
    """Whether ``user`` is an active prescriber and a member of ``clinic``."""
    return (
        user is not None
        and user.is_active
        and user.groups.filter(name=Role.PRESCRIBER.group_name).exists()
        and Membership.objects.filter(user=user, clinic=clinic).exists()
    )


def violated_constraint(exc: IntegrityError) -> str:
    """The name of the constraint an IntegrityError reports, or its text when the driver does not say."""
    diag = getattr(exc.__cause__, "diag", None)  # psycopg gives the name apart from the message
    name = getattr(diag, "constraint_name", None)
    return name or str(exc)


def describe_diagnoses(diagnoses: Mapping[Any, datetime.date | None]) -> str:
    """Conditions with their dates, sorted by name, as the stale-edit diff shows them."""
    parts = [
        f"{name} (diagnosed {display_value(day)})" if day else f"{name}"
        for name, day in sorted(((str(condition), day) for condition, day in diagnoses.items()), key=lambda p: p[0])
    ]
    return "; ".join(parts)


def _diagnoses_at(patient: Patient) -> RelatedValues:
    """The patient's diagnoses at a version of the patient row (for the stale-edit diff).

    Every edit saves the patient row first and its diagnoses after it, in one transaction, so the diagnoses of
    a version are the last state of each diagnosis before the next version of the patient row was written.
    """

    def values(row: Any, next_row: Any | None) -> dict[str, str]:
        rows = Diagnosis.history.filter(patient_id=patient.pk).select_related(None)
        if next_row is not None:
            rows = rows.filter(history_date__lt=next_row.history_date)
        latest: dict[int, Any] = {}
        for history_row in rows.order_by("history_date", "history_id"):
            latest[history_row.id] = history_row
        names = dict(
            Condition.objects.filter(pk__in=[r.condition_id for r in latest.values()]).values_list("pk", "name")
        )
        state = {
            names.get(r.condition_id, r.condition_id): r.diagnosed_on for r in latest.values() if r.history_type != "-"
        }
        return {"conditions": describe_diagnoses(state)}

    return values


def patient_save(
    *,
    patient: Patient,
    diagnoses: dict[Condition, datetime.date | None],
    by: Any,
    reason: str = "",
    version: int | None = None,
) -> Patient:
    """Save a new or edited patient and make their diagnoses exactly ``diagnoses``.

    A condition dropped from the list is removed; one kept keeps its row (its date updated). Every
    change is in the audit trail with ``by`` and ``reason``. With ``version`` (the version the user opened,
    see ``patients.concurrency``), an edit of a record someone else changed meanwhile raises
    ``StaleEditError`` and saves nothing.
    """
    if not is_prescriber_of(patient.prescriber, patient.clinic):
        raise PrescriberNotInClinicError
    try:
        with transaction.atomic():
            if version is not None and patient.pk is not None:
                submitted = submitted_values(patient, PATIENT_EDIT_FIELDS)
                submitted["conditions"] = describe_diagnoses(diagnoses)
                check_version(
                    patient,
                    opened=version,
                    submitted=submitted,
                    labels={"conditions": CONDITIONS_LABEL},
                    related=_diagnoses_at(patient),
                )
            save_audited(patient, by=by, reason=reason)
            current = {d.condition_id: d for d in patient.diagnoses.all()}
            for condition_id, diagnosis in current.items():
                if condition_id not in {condition.pk for condition in diagnoses}:
                    audited(diagnosis, by=by, reason=reason).delete()
            for condition, diagnosed_on in diagnoses.items():
                existing = current.get(condition.pk)
                if existing is None:
                    create_audited(
                        Diagnosis, by=by, reason=reason, patient=patient, condition=condition, diagnosed_on=diagnosed_on
                    )
                elif existing.diagnosed_on != diagnosed_on:
                    existing.diagnosed_on = diagnosed_on
                    save_audited(existing, by=by, reason=reason, update_fields=["diagnosed_on"])
    except IntegrityError as exc:
        if MRN_CONSTRAINT in violated_constraint(exc):
            raise DuplicateMrnError from exc
        raise
    return patient


NewPatient = tuple[Patient, dict[Condition, datetime.date | None], str]  # unsaved patient, diagnoses, reason


def patients_register_many(*, patients: list[NewPatient], by: Any) -> list[Patient]:
    """Register many new patients at once (an import), each as ``patient_save`` registers one: the patient and
    their diagnoses, each row with its audit row (``by``, the patient's reason). A few queries in all rather
    than about ten a patient. Returns the patients, saved, in the order given.

    Every patient's prescriber must be an active prescriber of the patient's clinic; an MRN another patient of
    the clinic took meanwhile raises DuplicateMrnError (nothing is saved: one transaction).
    """
    if not patients:
        return []
    for prescriber, clinic in {(p.prescriber, p.clinic) for p, _, _ in patients}:
        if not is_prescriber_of(prescriber, clinic):
            raise PrescriberNotInClinicError
    try:
        with transaction.atomic():
            saved = bulk_create_audited([audited(p, by=by, reason=reason) for p, _, reason in patients], by=by)
            diagnoses = [
                audited(Diagnosis(patient=patient, condition=condition, diagnosed_on=day), by=by, reason=reason)
                for patient, (_, wanted, reason) in zip(saved, patients, strict=True)
                for condition, day in wanted.items()
            ]
            bulk_create_audited(diagnoses, by=by)
    except IntegrityError as exc:
        if MRN_CONSTRAINT in violated_constraint(exc):
            raise DuplicateMrnError from exc
        raise
    return saved


# The clinic's settings that its settings page changes (and compares when a save meets a newer version).
CLINIC_SETTINGS_FIELDS = (
    "name",
    "require_two_factor_for_prescribers",
    "restart_after_gap_days",
    "phone",
    "time_zone",
    "day_boundary",
)


class DuplicateClinicNameError(Exception):
    """Another clinic took this name between the form check and the save."""


# Called, in the saving transaction, when a clinic's restart gap changes: what was derived from it (expected
# doses, flags) must follow. Apps that build on this one register here; this app imports none of them.
RestartGapChanged = Callable[..., None]
_restart_gap_listeners: list[RestartGapChanged] = []


def restart_gap_changed_listen(listener: RestartGapChanged) -> None:
    """Register ``listener(clinic=, by=, cause=)`` to run after a clinic's restart gap changes (once)."""
    if listener not in _restart_gap_listeners:
        _restart_gap_listeners.append(listener)


def clinic_settings_save(*, clinic: Clinic, by: Any, reason: str, version: int | None = None) -> Clinic:
    """Save a clinic's edited settings, with who and why in the audit trail.

    With ``version`` (the version the user opened), a clinic someone else changed meanwhile raises
    ``StaleEditError`` and nothing is saved.
    """
    try:
        with transaction.atomic():
            if version is not None:
                check_version(clinic, opened=version, submitted=submitted_values(clinic, CLINIC_SETTINGS_FIELDS))
            stored_gap = Clinic.objects.filter(pk=clinic.pk).values_list("restart_after_gap_days", flat=True).first()
            save_audited(clinic, by=by, reason=reason)
            if stored_gap is not None and stored_gap != clinic.restart_after_gap_days:
                cause = f"the clinic's restart gap changed from {stored_gap} to {clinic.restart_after_gap_days} days"
                for listener in _restart_gap_listeners:
                    listener(clinic=clinic, by=by, cause=cause)
    except IntegrityError as exc:
        if "name" in violated_constraint(exc).lower():
            raise DuplicateClinicNameError from exc
        raise
    return clinic


def access_record(
    *,
    user: Any,
    patient: Patient | None,
    action: str,
    ip_address: str | None,
    result_count: int | None = None,
) -> AccessLog:
    """Record that ``user`` looked at patient data: one patient's record, or a list of ``result_count`` results.

    Only the fact and the count are stored for a search, never what was searched for.
    """
    return AccessLog.objects.create(
        user=user, patient=patient, action=action, ip_address=ip_address or None, result_count=result_count
    )
