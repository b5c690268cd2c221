"""Provenance: who recorded, changed or voided each record, when and why, from its audit history.

Every clinical model keeps its changes with django-simple-history (who, when, the reason). Each history row
becomes one Provenance whose target is the resource the record maps to: the creation of a dose entry, its
void, the acknowledgement of a flag. A plan's state change (hold, pause, stop) is a change of its
MedicationRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from medications.models import MedicationEntry
from patients.models import Diagnosis, Patient
from titration.models import CheckIn, DoseEntry, Flag, PlanStateChange, SideEffect, TitrationPlan

from .mapping import Resource, coding, instant, pain_observation_id, ref, side_effect_observation_id, who

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ACTIVITY = {"+": ("CREATE", "create"), "~": ("UPDATE", "revise"), "-": ("DELETE", "delete")}
# The codings every Provenance repeats, built once and shared (never modified): a five-year record has
# thousands of Provenance, and fewer objects mean fewer garbage collections while they are built.
ACTIVITY_CODES = {
    kind: {"coding": [coding(DATA_OPERATION, code, display)]} for kind, (code, display) in ACTIVITY.items()
}
AUTHOR = {"coding": [coding(PARTICIPANT_TYPE, "author", "Author")]}


@dataclass(frozen=True)
class Audited:
    """A model whose history rows become Provenance: their id prefix, and the resource each row is about."""

    model: type[Model]
    prefix: str
    target: Callable[[Any], Resource]
    patient_field: str = "patient_id"
    activity: str | None = None  # a fixed activity, for rows that always change another record
    target_fields: tuple[str, ...] = ("id",)  # the row's fields ``target`` reads (the only ones loaded with it)

    @property
    def history_model(self) -> type[Model]:
        return self.model.history.model  # type: ignore[attr-defined]  # every Audited model has HistoricalRecords


AUDITED = (
    Audited(Patient, "patient", lambda row: ref("Patient", row.id), patient_field="id"),
    Audited(Diagnosis, "condition", lambda row: ref("Condition", row.id)),
    Audited(TitrationPlan, "plan", lambda row: ref("MedicationRequest", row.id)),
    Audited(
        PlanStateChange,
        "plan-state",
        lambda row: ref("MedicationRequest", row.plan_id),
        activity="~",
        target_fields=("plan_id",),
    ),
    Audited(DoseEntry, "dose", lambda row: ref("MedicationAdministration", row.id)),
    Audited(MedicationEntry, "medication", lambda row: ref("MedicationStatement", row.id)),
    Audited(CheckIn, "checkin", lambda row: ref("Observation", pain_observation_id(row.id))),
    Audited(
        SideEffect,
        "side-effect",
        lambda row: ref("Observation", side_effect_observation_id(row.id)),
        patient_field="checkin__patient_id",
    ),
    Audited(Flag, "flag", lambda row: ref("DetectedIssue", row.id)),
)


# What ``provenance`` reads of a history row besides the target's fields.
HISTORY_FIELDS = ("history_id", "history_type", "history_date", "history_change_reason", "history_user__username")


def provenance_id(prefix: str, history_id: int) -> str:
    return f"{prefix}-{history_id}"


def provenance(row: Any, audited: Audited) -> Resource:
    """One audit-history row as a Provenance. Reads ``history_user`` (select_related)."""
    resource: Resource = {
        "resourceType": "Provenance",
        "id": provenance_id(audited.prefix, row.history_id),
        "target": [audited.target(row)],
        "recorded": instant(row.history_date),
        "activity": ACTIVITY_CODES[audited.activity or row.history_type],
        "agent": [{"type": AUTHOR, "who": who(row.history_user)}],
    }
    if row.history_change_reason:
        resource["reason"] = [{"text": row.history_change_reason}]
    return resource
