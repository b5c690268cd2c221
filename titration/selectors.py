"""Reads for the titration pages: a fixed number of queries per page, whatever the history's length."""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from patients.access import patients_for
from patients.models import Patient

from . import course, outcomes, rules
from .models import CheckIn, DoseEntry, DoseStatus, Flag, PlanStateChange, TitrationPlan
from .paging import PageNumbers, clamp_page

HISTORY_DAYS_PER_PAGE = 30
STALE_AFTER_DAYS = 7


def plan_terms(plans: list[TitrationPlan], states: list[PlanStateChange]) -> list[rules.PlanTerms]:
    """The plans as the rules see them, in the order that decides which was in force on a day."""
    by_plan: dict[int, list[tuple[datetime.date, rules.PlanState]]] = defaultdict(list)
    for change in states:
        by_plan[change.plan_id].append((change.effective_on, rules.PlanState(change.state)))
    return [
        rules.PlanTerms(
            plan_id=plan.pk,
            start_date=plan.start_date,
            starting_dose_mg=plan.starting_dose_mg,
            step_mg=plan.step_mg,
            step_interval_days=plan.step_interval_days,
            target_dose_mg=plan.target_dose_mg,
            last_day=timezone.localdate(plan.ended_at) if plan.ended_at else None,
            states=tuple(by_plan.get(plan.pk, ())),
        )
        for plan in sorted(plans, key=lambda p: (p.start_date, p.created_at, p.pk))
    ]


@dataclass
class CourseFacts:
    """Everything the rules need about a patient's course: three queries, whatever its length."""

    entries: list[course.EntryFact]
    terms: list[rules.PlanTerms]
    plan_by_id: dict[int | None, TitrationPlan]
    gap_days: int


def course_facts(patient: Patient, plans: list[TitrationPlan] | None = None) -> CourseFacts:
    if plans is None:
        plans = list(patient.plans.all())
    states = list(PlanStateChange.objects.filter(patient=patient).order_by("effective_on", "changed_at", "pk"))
    rows = DoseEntry.objects.live().filter(patient=patient).values_list("pk", "taken_on", "status", "dose_mg")
    entries = [course.EntryFact(pk, day, status == DoseStatus.TAKEN, dose) for pk, day, status, dose in rows]
    return CourseFacts(
        entries=entries,
        terms=plan_terms(plans, states),
        plan_by_id={plan.pk: plan for plan in plans},
        gap_days=patient.clinic.restart_after_gap_days,
    )


@dataclass
class PatientSummary:
    plan: TitrationPlan | None
    last_dose: DoseEntry | None
    scheduled_today: Decimal | None
    next_step: tuple[datetime.date, Decimal] | None
    state: rules.PlanState = rules.PlanState.TITRATING
    state_change: PlanStateChange | None = None
    restart_gap_days: int | None = None
    course: course.Course | None = None


def patient_summary(patient: Patient, today: datetime.date, plans: list[TitrationPlan] | None = None) -> PatientSummary:
    """Current plan and state, last dose taken, the expected dose today and the next step (patient-paced)."""
    if plans is None:
        plans = list(patient.plans.all())
    plan = next((p for p in plans if p.is_active), None)
    facts = course_facts(patient, plans)
    _, walked = course.walk([e for e in facts.entries if e.day < today], facts.terms, facts.gap_days)
    context = walked.context_on(today)
    last_dose = DoseEntry.objects.live().filter(patient=patient, status=DoseStatus.TAKEN).order_by("-taken_on").first()
    state_change = None
    if plan is not None:
        state_change = next(
            (c for c in reversed(PlanStateChange.objects.filter(plan=plan).order_by("effective_on", "pk"))), None
        )
    return PatientSummary(
        plan=plan,
        last_dose=last_dose,
        scheduled_today=context.expected if plan else None,
        next_step=walked.next_step(today) if plan else None,
        state=context.state,
        state_change=state_change,
        restart_gap_days=context.restart_gap_days,
        course=walked,
    )


def expected_doses(
    patient: Patient, plans: list[TitrationPlan], days: list[datetime.date]
) -> dict[datetime.date, Decimal | None]:
    """The patient-paced expected dose of each day (the chart's and the history's scheduled column)."""
    facts = course_facts(patient, plans)
    wanted = sorted(days)
    result: dict[datetime.date, Decimal | None] = {}
    walker = course.Course(facts.terms, facts.gap_days)
    entries = sorted(facts.entries, key=lambda e: e.day)
    index = 0
    for day in wanted:
        while index < len(entries) and entries[index].day < day:
            walker.record(entries[index])
            index += 1
        result[day] = walker.context_on(day).expected
    return result


def first_record_day(patient: Patient, plans: list[TitrationPlan]) -> datetime.date | None:
    candidates = [
        DoseEntry.objects.filter(patient=patient).order_by("taken_on").values_list("taken_on", flat=True).first(),
        CheckIn.objects.filter(patient=patient).order_by("checked_on").values_list("checked_on", flat=True).first(),
        *(plan.start_date for plan in plans),
    ]
    days = [d for d in candidates if d is not None]
    return min(days) if days else None


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

    terms = plan_terms(plans, [])
    span = [end - datetime.timedelta(days=i) for i in range((end - start).days + 1)]
    expected = expected_doses(patient, plans, span)
    days = []
    for day in span:
        in_plan = rules.plan_in_force(terms, day) is not None
        history_day = HistoryDay(
            day=day,
            entries=by_day.get(day, []),
            checkins=checkins_by_day.get(day, []),
            scheduled_mg=expected.get(day),
            in_plan=in_plan,
        )
        if history_day.entries or history_day.checkins or history_day.in_plan:
            days.append(history_day)
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
