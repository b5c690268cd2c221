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

from . import outcomes, rules
from .chart import first_record_day, plan_on, plan_spans
from .models import CheckIn, DoseEntry, DoseStatus, Flag, TitrationPlan
from .paging import PageNumbers, clamp_page

HISTORY_DAYS_PER_PAGE = 30
STALE_AFTER_DAYS = 7


@dataclass
class PatientSummary:
    plan: TitrationPlan | None
    last_dose: DoseEntry | None
    scheduled_today: Decimal | None
    next_step: tuple[datetime.date, Decimal] | None


def patient_summary(patient: Patient, today: datetime.date, plans: list[TitrationPlan] | None = None) -> PatientSummary:
    """Current plan, last dose taken and next step; ``plans`` (all of the patient's) saves a query."""
    if plans is None:
        plan = patient.plans.filter(is_active=True).first()
    else:
        plan = next((p for p in plans if p.is_active), None)
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
    checkins: list[CheckIn] = field(default_factory=list)
    scheduled_mg: Decimal | None = None
    in_plan: bool = False

    @property
    def is_gap(self) -> bool:
        """A day in a plan's span with no live entry: nothing was recorded."""
        return self.in_plan and not any(not e.is_voided for e in self.entries)


@dataclass
class HistoryPage(PageNumbers):
    days: list[HistoryDay]
    start: datetime.date
    end: datetime.date


def dose_history(
    patient: Patient, today: datetime.date, page: Any = 1, plans: list[TitrationPlan] | None = None
) -> HistoryPage:
    """One page (``HISTORY_DAYS_PER_PAGE`` days, newest first) of doses and check-ins, with gaps and voids.

    A fixed number of queries whatever the history's length: the first day, the page's entries and
    check-ins (with their flags and side effects), and the plans.
    """
    if plans is None:
        plans = list(patient.plans.order_by("start_date", "created_at"))
    earliest = min(first_record_day(patient, plans) or today, today)
    num_pages = max(1, math.ceil(((today - earliest).days + 1) / HISTORY_DAYS_PER_PAGE))
    number = clamp_page(page, num_pages)
    end = today - datetime.timedelta(days=(number - 1) * HISTORY_DAYS_PER_PAGE)
    start = max(end - datetime.timedelta(days=HISTORY_DAYS_PER_PAGE - 1), earliest)

    entries = (
        DoseEntry.objects.filter(patient=patient, taken_on__range=(start, end))
        .select_related("recorded_by", "voided_by")
        .prefetch_related(Prefetch("flags", queryset=Flag.objects.order_by("-severity")))
        .order_by("-taken_on", "voided_at", "-recorded_at")
    )
    checkins = (
        CheckIn.objects.filter(patient=patient, checked_on__range=(start, end))
        .select_related("recorded_by", "voided_by")
        .prefetch_related("side_effects", Prefetch("flags", queryset=Flag.objects.order_by("-severity")))
        .order_by("-checked_on", "voided_at", "-recorded_at")
    )
    by_day: dict[datetime.date, list[DoseEntry]] = defaultdict(list)
    for entry in entries:
        by_day[entry.taken_on].append(entry)
    checkins_by_day: dict[datetime.date, list[CheckIn]] = defaultdict(list)
    for checkin in checkins:
        checkins_by_day[checkin.checked_on].append(checkin)

    spans = plan_spans(plans, today)
    days = []
    day = end
    while day >= start:
        plan = plan_on(spans, day)
        history_day = HistoryDay(
            day=day,
            entries=by_day.get(day, []),
            checkins=checkins_by_day.get(day, []),
            scheduled_mg=plan.scheduled_dose_on(day) if plan else None,
            in_plan=plan is not None,
        )
        if history_day.entries or history_day.checkins or history_day.in_plan:
            days.append(history_day)
        day -= datetime.timedelta(days=1)
    return HistoryPage(days=days, number=number, num_pages=num_pages, start=start, end=end)


def response_for(patient: Patient, plan: TitrationPlan | None, today: datetime.date) -> outcomes.Response:
    """Pain response to the current plan (IMMPACT classes): three small queries, whatever the history."""
    live = CheckIn.objects.live().filter(patient=patient)
    first_dose_day = None
    if plan is not None:
        first_dose_day = (
            DoseEntry.objects.live()
            .filter(plan=plan, status=DoseStatus.TAKEN)
            .order_by("taken_on")
            .values_list("taken_on", flat=True)
            .first()
        )
    candidates = [live.order_by("checked_on").values_list("checked_on", "pain_score").first()]
    if first_dose_day is not None:
        candidates.append(
            live.filter(checked_on__lte=first_dose_day)
            .order_by("-checked_on")
            .values_list("checked_on", "pain_score")
            .first()
        )
    window_start = today - datetime.timedelta(days=outcomes.CURRENT_WINDOW_DAYS - 1)
    candidates.extend(live.filter(checked_on__range=(window_start, today)).values_list("checked_on", "pain_score"))
    readings = {outcomes.PainReading(*row) for row in candidates if row}
    return outcomes.assess_response(list(readings), first_dose_day=first_dose_day, today=today)


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
    """Open flags by severity, patients due for a step-up today, patients on a plan with no recent dose.

    Three queries whatever the clinic's size: the flag counts, one light row per active plan (its numbers
    and whether a dose was logged in the last ``STALE_AFTER_DAYS`` days), and the few patients listed.
    """
    counts = dict(open_flags(user).values_list("severity").annotate(n=Count("pk")).order_by())
    by_severity = [(s.name.lower(), counts.get(s.value, 0)) for s in sorted(rules.Severity, reverse=True)]

    active_plans = TitrationPlan.objects.filter(is_active=True, patient__in=patients_for(user), patient__is_active=True)
    stale_before = today - datetime.timedelta(days=STALE_AFTER_DAYS)
    recent = DoseEntry.objects.live().filter(patient=OuterRef("patient"), taken_on__gt=stale_before)
    rows = active_plans.annotate(has_recent=Exists(recent)).values_list(
        "patient_id",
        "start_date",
        "starting_dose_mg",
        "step_mg",
        "step_interval_days",
        "target_dose_mg",
        "has_recent",
    )
    due_doses: dict[int, Decimal] = {}
    stale_ids: set[int] = set()
    for patient_id, start, starting, step, interval, target, has_recent in rows:
        days = (today - start).days
        # A plan steps up only on a whole number of intervals after its start: the rules decide the rest.
        if days > 0 and days % interval == 0:
            schedule = rules.Schedule(start, starting, step, interval, target)
            dose = rules.scheduled_dose(schedule, today)
            if dose is not None and rules.steps_up_on(schedule, today):
                due_doses[patient_id] = dose
        if start <= stale_before and not has_recent:
            stale_ids.add(patient_id)
    listed = (
        Patient.objects.filter(pk__in=due_doses.keys() | stale_ids).order_by("family_name", "given_name")
        if due_doses or stale_ids
        else []
    )
    patients = list(listed)
    return Dashboard(
        open_flags_by_severity=by_severity,
        due_step_up=[(p, due_doses[p.pk]) for p in patients if p.pk in due_doses],
        stale=[p for p in patients if p.pk in stale_ids],
    )
