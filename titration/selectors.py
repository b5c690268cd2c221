"""Reads for the titration pages: a fixed number of queries per page, whatever the history's length."""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet

from patients.access import patients_for
from patients.models import Patient

from . import rules
from .models import DoseEntry, DoseStatus, Flag, TitrationPlan

HISTORY_DAYS_PER_PAGE = 30
STALE_AFTER_DAYS = 7


@dataclass
class PatientSummary:
    plan: TitrationPlan | None
    last_dose: DoseEntry | None
    scheduled_today: Decimal | None
    next_step: tuple[datetime.date, Decimal] | None


def patient_summary(patient: Patient, today: datetime.date) -> PatientSummary:
    plan = patient.plans.filter(is_active=True).first()
    last_dose = DoseEntry.objects.live().filter(patient=patient, status=DoseStatus.TAKEN).order_by("-taken_on").first()
    return PatientSummary(
        plan=plan,
        last_dose=last_dose,
        scheduled_today=plan.scheduled_dose_on(today) if plan else None,
        next_step=rules.next_step(plan.schedule, today) if plan else None,
    )


@dataclass
class HistoryDay:
    day: datetime.date
    entries: list[DoseEntry] = field(default_factory=list)
    scheduled_mg: Decimal | None = None
    in_plan: bool = False

    @property
    def is_gap(self) -> bool:
        """A day in a plan's span with no live entry: nothing was recorded."""
        return self.in_plan and not any(not e.is_voided for e in self.entries)


@dataclass
class HistoryPage:
    days: list[HistoryDay]
    number: int
    num_pages: int
    start: datetime.date
    end: datetime.date

    @property
    def paginator(self) -> HistoryPage:
        """Quacks like a Django Page for the shared pagination template."""
        return self

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _plan_spans(
    plans: list[TitrationPlan], today: datetime.date
) -> list[tuple[datetime.date, datetime.date, TitrationPlan]]:
    spans = []
    for plan in plans:
        end = plan.ended_at.date() if plan.ended_at else today
        if end >= plan.start_date:
            spans.append((plan.start_date, end, plan))
    return spans


def dose_history(patient: Patient, today: datetime.date, page: Any = 1) -> HistoryPage:
    """One page (``HISTORY_DAYS_PER_PAGE`` days, newest first) of the dose log, with gaps and voids.

    Three queries whatever the history's length: the first day, the page's entries (with their
    flags), and the plans.
    """
    plans = list(patient.plans.order_by("start_date", "created_at"))
    first_entry = (
        DoseEntry.objects.filter(patient=patient).order_by("taken_on").values_list("taken_on", flat=True).first()
    )
    candidates = [d for d in [first_entry, *(p.start_date for p in plans)] if d is not None and d <= today]
    earliest = min(candidates, default=today)
    num_pages = max(1, math.ceil(((today - earliest).days + 1) / HISTORY_DAYS_PER_PAGE))
    try:
        number = min(max(int(page), 1), num_pages)
    except (TypeError, ValueError):
        number = 1
    end = today - datetime.timedelta(days=(number - 1) * HISTORY_DAYS_PER_PAGE)
    start = max(end - datetime.timedelta(days=HISTORY_DAYS_PER_PAGE - 1), earliest)

    entries = (
        DoseEntry.objects.filter(patient=patient, taken_on__range=(start, end))
        .select_related("recorded_by", "voided_by")
        .prefetch_related(Prefetch("flags", queryset=Flag.objects.order_by("-severity")))
        .order_by("-taken_on", "voided_at", "-recorded_at")
    )
    by_day: dict[datetime.date, list[DoseEntry]] = defaultdict(list)
    for entry in entries:
        by_day[entry.taken_on].append(entry)

    spans = _plan_spans(plans, today)
    days = []
    day = end
    while day >= start:
        covering = [plan for (s, e, plan) in spans if s <= day <= e]
        plan = covering[-1] if covering else None
        history_day = HistoryDay(
            day=day,
            entries=by_day.get(day, []),
            scheduled_mg=plan.scheduled_dose_on(day) if plan else None,
            in_plan=plan is not None,
        )
        if history_day.entries or history_day.in_plan:
            days.append(history_day)
        day -= datetime.timedelta(days=1)
    return HistoryPage(days=days, number=number, num_pages=num_pages, start=start, end=end)


def open_flags(user: Any) -> QuerySet[Flag]:
    return Flag.objects.filter(acknowledged_at__isnull=True, patient__in=patients_for(user))


FLAG_SEVERITY_FILTERS = {s.name.lower(): s.value for s in rules.Severity}
FLAG_KIND_FILTERS = {k.value for k in rules.FlagKind}


def flag_queue(user: Any, *, severity: str | None = None, kind: str | None = None) -> QuerySet[Flag]:
    """Unacknowledged flags of the user's clinics: critical first, then oldest first.

    ``severity`` and ``kind`` are checked against an allowlist; an unknown value filters nothing.
    """
    flags = open_flags(user).select_related("patient", "dose_entry").order_by("-severity", "created_at", "pk")
    if severity in FLAG_SEVERITY_FILTERS:
        flags = flags.filter(severity=FLAG_SEVERITY_FILTERS[severity])
    if kind in FLAG_KIND_FILTERS:
        flags = flags.filter(kind=kind)
    return flags


@dataclass
class Dashboard:
    open_flags_by_severity: list[tuple[str, int]]
    due_step_up: list[tuple[Patient, Decimal]]
    stale: list[Patient]


def dashboard(user: Any, today: datetime.date) -> Dashboard:
    counts = dict(open_flags(user).values_list("severity").annotate(n=Count("pk")).order_by())
    by_severity = [(s.name.lower(), counts.get(s.value, 0)) for s in sorted(rules.Severity, reverse=True)]

    active_plans = TitrationPlan.objects.filter(is_active=True, patient__in=patients_for(user), patient__is_active=True)
    due = []
    for plan in active_plans.select_related("patient").order_by("patient__family_name", "patient__given_name"):
        dose = plan.scheduled_dose_on(today)
        if dose is not None and rules.steps_up_on(plan.schedule, today):
            due.append((plan.patient, dose))

    recent = DoseEntry.objects.live().filter(
        patient=OuterRef("patient"), taken_on__gt=today - datetime.timedelta(days=STALE_AFTER_DAYS)
    )
    stale = [
        plan.patient
        for plan in active_plans.filter(start_date__lte=today - datetime.timedelta(days=STALE_AFTER_DAYS))
        .filter(~Exists(recent))
        .select_related("patient")
        .order_by("patient__family_name", "patient__given_name")
    ]
    return Dashboard(open_flags_by_severity=by_severity, due_step_up=due, stale=stale)
