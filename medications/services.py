"""Writes of the medications app: the only code that saves medication entries and safety profiles.

Each service checks the pure rules, then saves the record with its audit row (who and why) in one transaction.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from patients.audit import create_audited, save_audited
from patients.concurrency import check_version
from patients.models import Patient, clinic_today

from . import rules, selectors
from .models import MedicationEntry, OpioidIngredient, SafetyProfile

NAME_REQUIRED = "Choose a medication from the opioid list or type its name."
STOP_REASON_REQUIRED = "Give the reason it was stopped."
VOID_REASON_REQUIRED = "Give the reason this entry is wrong."
ALREADY_ENDED = "This medication was already ended."
ALREADY_VOIDED = "This entry was already voided."
VOIDED_CANNOT_END = "A voided entry cannot be ended."


# What must be re-derived when a patient's medication list changes: the titration app registers its
# contraindication check here (``titration.apps``), because it builds on this app and this app may not import
# it. Each listener runs in the writing service's transaction, after the write: ``listener(patient=, by=,
# cause=)``. An explicit list, called by the services below, rather than a model signal: a bulk or admin save
# that bypasses these services re-derives nothing, and the services are the only writers.
MedicationsChanged = Callable[..., None]
_listeners: list[MedicationsChanged] = []


def medications_changed_listen(listener: MedicationsChanged) -> None:
    """Register ``listener`` to run after every change of a medication list (once, however often called)."""
    if listener not in _listeners:
        _listeners.append(listener)


def _medications_changed(*, patient: Patient, by: Any, cause: str) -> None:
    for listener in _listeners:
        listener(patient=patient, by=by, cause=cause)


class MedicationError(Exception):
    """A record that cannot be stored as given; ``field`` names the form field at fault (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@transaction.atomic
def medication_record(
    *,
    patient: Patient,
    by: Any,
    start_date: datetime.date,
    name: str = "",
    reference: OpioidIngredient | None = None,
    active_ingredient: str = "",
    dose: str = "",
    route: str = "",
) -> MedicationEntry:
    """Add a medication to the patient's list. A blank active ingredient is filled from the opioid list."""
    name = name.strip() or (reference.name if reference else "")
    if not name:
        raise MedicationError(NAME_REQUIRED, "name")
    problem = rules.start_date_problem(start_date, today=clinic_today(patient.clinic), born=patient.date_of_birth)
    if problem:
        raise MedicationError(problem, "start_date")
    active_ingredient = active_ingredient.strip()
    if not active_ingredient:
        if reference is not None:
            active_ingredient = reference.name
        else:
            match = rules.match_opioid(name, selectors.opioid_references())
            active_ingredient = match.ingredient if match else ""
    entry = create_audited(
        MedicationEntry,
        by=by,
        patient=patient,
        name=name,
        reference=reference,
        active_ingredient=active_ingredient,
        dose=dose.strip(),
        route=route.strip(),
        start_date=start_date,
        recorded_by=by,
    )
    _medications_changed(patient=patient, by=by, cause=f"{name} was recorded")
    return entry


@transaction.atomic
def medication_end(*, entry: MedicationEntry, by: Any, stop_date: datetime.date, reason: str) -> MedicationEntry:
    """End a medication on ``stop_date`` (the first day without it), with the reason; the entry is kept."""
    locked = MedicationEntry.objects.select_for_update().select_related("patient__clinic").get(pk=entry.pk)
    if locked.is_voided:
        raise MedicationError(VOIDED_CANNOT_END)
    if locked.is_ended:
        raise MedicationError(ALREADY_ENDED)
    today = clinic_today(locked.patient.clinic)
    problem = rules.stop_date_problem(stop_date, start=locked.start_date, today=today)
    if problem:
        raise MedicationError(problem, "stop_date")
    reason = reason.strip()
    if not reason:
        raise MedicationError(STOP_REASON_REQUIRED, "reason")
    locked.stop_date, locked.stop_reason, locked.ended_by = stop_date, reason, by
    saved = save_audited(locked, by=by, reason=reason, update_fields=["stop_date", "stop_reason", "ended_by"])
    _medications_changed(patient=locked.patient, by=by, cause=f"{locked.name} was ended")
    return saved


@transaction.atomic
def medication_void(*, entry: MedicationEntry, by: Any, reason: str) -> MedicationEntry:
    """Void a wrong entry: it stays on the list, struck through, with who, when and why."""
    locked = MedicationEntry.objects.select_for_update().get(pk=entry.pk)
    if locked.is_voided:
        raise MedicationError(ALREADY_VOIDED)
    reason = reason.strip()
    if not reason:
        raise MedicationError(VOID_REASON_REQUIRED, "reason")
    locked.voided_at, locked.voided_by, locked.void_reason = timezone.now(), by, reason
    saved = save_audited(locked, by=by, reason=reason, update_fields=["voided_at", "voided_by", "void_reason"])
    _medications_changed(patient=locked.patient, by=by, cause=f"the entry {locked.name} was voided")
    return saved


SAFETY_FIELDS = ("pregnant", "breastfeeding", "hepatic_impairment", "naltrexone_hypersensitivity", "notes")


@transaction.atomic
def safety_profile_save(
    *,
    patient: Patient,
    by: Any,
    version: int | None,
    pregnant: bool,
    breastfeeding: bool,
    hepatic_impairment: str,
    naltrexone_hypersensitivity: bool,
    notes: str = "",
) -> SafetyProfile:
    """Create or change the patient's safety profile, audited with who and when.

    ``version`` is the version of the profile the user saw (``patients.concurrency``), None when they saw none.
    A profile changed or created by someone else meanwhile raises StaleEditError and nothing is saved.
    """
    values: dict[str, Any] = {
        "pregnant": pregnant,
        "breastfeeding": breastfeeding,
        "hepatic_impairment": hepatic_impairment,
        "naltrexone_hypersensitivity": naltrexone_hypersensitivity,
        "notes": notes.strip(),
    }
    # Lock the patient so that two first saves cannot both create a profile.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    profile = SafetyProfile.objects.filter(patient=patient).first()
    if profile is None:
        return create_audited(SafetyProfile, by=by, patient=patient, updated_by=by, **values)
    check_version(profile, opened=version, submitted=values)
    for field, value in values.items():
        setattr(profile, field, value)
    profile.updated_by = by
    return save_audited(profile, by=by)
