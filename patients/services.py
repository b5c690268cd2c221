"""Writes of the patients app. Views call these; nothing else saves a patient."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import IntegrityError, transaction

from .audit import audited, create_audited, save_audited
from .models import AccessLog, Condition, Diagnosis, Patient


class DuplicateMrnError(Exception):
    """Another patient of the clinic took this MRN between the form check and the save."""


def patient_save(
    *, patient: Patient, diagnoses: dict[Condition, datetime.date | None], by: Any, reason: str = ""
) -> Patient:
    """Save a new or edited patient and make their diagnoses exactly ``diagnoses``.

    A condition dropped from the list is removed; one kept keeps its row (its date updated). Every
    change is in the audit trail with ``by`` and ``reason``.
    """
    try:
        with transaction.atomic():
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
        if "mrn" in str(exc).lower():
            raise DuplicateMrnError from exc
        raise
    return patient


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
