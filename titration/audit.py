"""A patient's audit trail in plain language, newest first.

Reads the history rows that django-simple-history keeps for every clinical model and turns each into
one sentence: what changed (before and after), who, when, and why.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.utils import timezone

from medications.models import MedicationEntry, SafetyProfile
from patients.models import Diagnosis, Patient

from .models import CheckIn, DoseEntry, Flag, FlagComment, PlanStateChange, SideEffect, TitrationPlan
from .paging import PageNumbers, clamp_page
from .rules import FORMULATION_NAMES, PlanState, format_concentration, format_dose, format_entry_dose

PER_PAGE = 25
HIDDEN_FIELDS = {
    "id",
    "patient",
    "recorded_at",
    "updated_at",
    "created_at",
    "history_id",
    "voided_by",
    "ended_by",
    "updated_by",
    "recorded_by",
}


@dataclass(frozen=True)
class AuditEvent:
    at: datetime.datetime
    user: str
    subject: str
    action: str
    details: str
    reason: str

    @property
    def sentence(self) -> str:
        when = timezone.localtime(self.at)
        details = f": {self.details}" if self.details else ""
        text = f"{self.subject} {self.action}{details} by {self.user} on {when:%-d %b %Y %H:%M}"
        return f"{text} — reason: {self.reason}" if self.reason else text


def _day(value: datetime.date) -> str:
    return f"{value:%-d %b %Y}"


def _subject(record: Any, model: type[Model]) -> str:
    if model is DoseEntry:
        return f"Dose for {_day(record.taken_on)}"
    if model is CheckIn:
        return f"Check-in of {_day(record.checked_on)}"
    if model is TitrationPlan:
        return f"Titration plan starting {_day(record.start_date)}"
    if model is Flag:
        return f"Flag “{record.message}”"
    if model is SideEffect:
        return "Side effect"
    if model is PlanStateChange:
        return "Plan state"
    if model is FlagComment:
        return f"Comment on flag “{record.flag.message}”"
    if model is Diagnosis:
        return f"Diagnosis ({record.condition.name})"
    if model is MedicationEntry:
        return f"Medication {record.name}"
    if model is SafetyProfile:
        return "Safety profile"
    return "Patient details"


def _value(field: str, value: Any, usernames: dict[int, str]) -> str:
    if value is None or value == "":
        return "(empty)"
    if field == "prescriber":
        return usernames.get(value, f"user {value}")
    if isinstance(value, Decimal):
        return format_dose(value)
    if isinstance(value, datetime.datetime):
        return f"{timezone.localtime(value):%-d %b %Y %H:%M}"
    if isinstance(value, datetime.date):
        return _day(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _created_details(record: Any, model: type[Model]) -> str:
    if model is DoseEntry:
        dose = format_entry_dose(record.dose_mg, record.dose_ml, record.concentration_mg_per_ml)
        return f"{dose}, {record.status}"
    if model is CheckIn:
        return f"pain {record.pain_score}/10"
    if model is TitrationPlan:
        concentration = record.liquid_concentration_mg_per_ml
        return (
            f"{format_dose(record.starting_dose_mg)}, + {format_dose(record.step_mg)} every "
            f"{record.step_interval_days} days, to {format_dose(record.target_dose_mg)}, "
            f"{FORMULATION_NAMES.get(record.formulation, record.formulation)}"
            + (f" of {format_concentration(concentration)}" if concentration else "")
        )
    if model is SideEffect:
        return f"{record.kind.replace('_', ' ')} ({record.severity})"
    if model is Flag:
        return record.get_severity_display().lower()
    if model is PlanStateChange:
        return f"{PlanState(record.state).label.lower()} from {_day(record.effective_on)}"
    if model is FlagComment:
        return record.text
    if model is Patient:
        return f"{record.given_name} {record.family_name}, MRN {record.mrn}"
    if model is MedicationEntry:
        return ", ".join(part for part in (record.dose, record.route, f"from {_day(record.start_date)}") if part)
    if model is SafetyProfile:
        return _safety_summary(record)
    return ""


def _safety_summary(record: Any) -> str:
    """What the profile warns of, in words (the fields a prescriber weighs before LDN)."""
    warnings = [
        label
        for label, present in (
            ("pregnant", record.pregnant),
            ("breastfeeding", record.breastfeeding),
            ("known naltrexone hypersensitivity", record.naltrexone_hypersensitivity),
        )
        if present
    ]
    if record.hepatic_impairment != "none":
        warnings.append(f"{record.hepatic_impairment} hepatic impairment")
    return ", ".join(warnings) or "no warnings"


# How a flag was closed, as the audit trail says it (who, when and why follow).
CLOSED_AS_ACTIONS: dict[str, str] = {
    Flag.ClosedAs.ACKNOWLEDGED: "acknowledged",
    Flag.ClosedAs.ENTRY_VOIDED: "closed because its entry was voided",
    Flag.ClosedAs.REASSESSED: "closed on re-assessment",
    Flag.ClosedAs.OPIOID_ENDED: "closed because the opioid ended",
}


def _describe(record: Any, model: type[Model], usernames: dict[int, str]) -> AuditEvent:
    user = record.history_user.username if record.history_user else "system"
    subject = _subject(record, model)
    if record.history_type == "+":
        action, details = ("recorded" if model in (DoseEntry, CheckIn) else "created"), _created_details(record, model)
    elif record.history_type == "-":
        action, details = "removed", ""
    else:
        previous = record.prev_record
        changes = record.diff_against(previous).changes if previous else []
        fields = {change.field: change for change in changes if change.field not in HIDDEN_FIELDS}
        if "voided_at" in fields and getattr(record, "voided_at", None):
            action, details = "voided", ""
        elif "acknowledged_at" in fields and getattr(record, "acknowledged_at", None):
            action, details = CLOSED_AS_ACTIONS.get(getattr(record, "closed_as", ""), "acknowledged"), ""
        elif "is_active" in fields and model is TitrationPlan and not record.is_active:
            action, details = "ended", ""
        elif "stop_date" in fields and model is MedicationEntry and record.stop_date:
            action, details = "ended", f"none taken from {_day(record.stop_date)}"
        else:
            action = "changed"
            details = "; ".join(
                f"{name.replace('_', ' ')} from {_value(name, change.old, usernames)} "
                f"to {_value(name, change.new, usernames)}"
                for name, change in fields.items()
                if name not in {"void_reason", "acknowledgement_note", "stop_reason"}
            )
    return AuditEvent(
        at=record.history_date,
        user=user,
        subject=subject,
        action=action,
        details=details,
        reason=record.history_change_reason or "",
    )


def _histories(patient: Patient) -> list[tuple[type[Model], QuerySet[Any]]]:
    checkin_ids = CheckIn.objects.filter(patient=patient).values("pk")
    return [
        (Patient, Patient.history.filter(id=patient.pk)),
        (Diagnosis, Diagnosis.history.filter(patient_id=patient.pk).select_related("condition")),
        (TitrationPlan, TitrationPlan.history.filter(patient_id=patient.pk)),
        (DoseEntry, DoseEntry.history.filter(patient_id=patient.pk)),
        (CheckIn, CheckIn.history.filter(patient_id=patient.pk)),
        (SideEffect, SideEffect.history.filter(checkin_id__in=checkin_ids)),
        (Flag, Flag.history.filter(patient_id=patient.pk)),
        (PlanStateChange, PlanStateChange.history.filter(patient_id=patient.pk)),
        (FlagComment, FlagComment.history.filter(flag__patient_id=patient.pk).select_related("flag")),
        (MedicationEntry, MedicationEntry.history.filter(patient_id=patient.pk)),
        (SafetyProfile, SafetyProfile.history.filter(patient_id=patient.pk)),
    ]


@dataclass
class AuditPage(PageNumbers):
    events: list[AuditEvent]
    count: int


def audit_trail(patient: Patient, page: Any = 1) -> AuditPage:
    """One page of the patient's audit trail, newest first, across every clinical model."""
    histories = _histories(patient)
    count = sum(queryset.count() for _, queryset in histories)
    num_pages = max(1, -(-count // PER_PAGE))
    number = clamp_page(page, num_pages)
    wanted = number * PER_PAGE
    streams: list[Iterable[tuple[datetime.datetime, int, type[Model], Any]]] = []
    for order, (model, queryset) in enumerate(histories):
        rows = queryset.select_related("history_user").order_by("-history_date", "-history_id")[:wanted]
        streams.append([(record.history_date, order, model, record) for record in rows])
    merged = heapq.merge(*streams, key=lambda item: (item[0], -item[1]), reverse=True)
    chosen = list(islice(merged, (number - 1) * PER_PAGE, wanted))
    prescriber_ids = Patient.history.filter(id=patient.pk).values("prescriber_id")
    usernames = dict(get_user_model().objects.filter(pk__in=prescriber_ids).values_list("pk", "username"))
    events = [_describe(record, model, usernames) for _, _, model, record in chosen]
    return AuditPage(events=events, number=number, num_pages=num_pages, count=count)
