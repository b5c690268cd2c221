"""The clinic's outcomes: every patient's measures from a few queries, then the clinic's figures.

The records of all the selected patients are read in a fixed number of queries (one per table, each a
subquery on the patients, never one per patient) and each patient's measures are computed in Python by the
pure functions of ``measures``. The filters are allowlisted: an unknown value is ignored, never an error.
"""

from __future__ import annotations

import bisect
import datetime
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from patients.access import clinics_for, patients_for
from patients.models import Condition, Diagnosis, Patient, clinic_today

from . import measures, rules
from .models import CheckIn, DoseEntry, DoseStatus, PlanStateChange, SideEffect, StopReason, TitrationPlan
from .outcomes import ResponseClass

CUSTOM = "custom"
PERIOD_LAST_12_MONTHS = "12m"
PERIOD_YEARS_BACK = 10
SIDE_EFFECT_WEEKS = 12  # weeks 1–12 one by one, then "week 13 on"


@dataclass(frozen=True)
class Filters:
    condition: Condition | None = None
    period: str = ""
    start_from: datetime.date | None = None
    start_to: datetime.date | None = None
    protocol: str = ""

    def as_query(self) -> dict[str, str]:
        query = {"condition": str(self.condition.pk) if self.condition else "", "period": self.period}
        query["protocol"] = self.protocol
        return {k: v for k, v in query.items() if v}


def protocol_choices() -> list[tuple[str, str]]:
    return [*((key, str(preset["label"])) for key, preset in rules.PRESETS.items()), (CUSTOM, "Custom plan")]


def period_choices(today: datetime.date) -> list[tuple[str, str]]:
    years = [(str(year), f"Started in {year}") for year in range(today.year, today.year - PERIOD_YEARS_BACK, -1)]
    return [(PERIOD_LAST_12_MONTHS, "Started in the last 12 months"), *years]


def parse_filters(query: Mapping[str, str], *, today: datetime.date) -> Filters:
    """The filters of the query string; each unknown or malformed value is dropped (never an error)."""
    condition = None
    raw = (query.get("condition") or "").strip()
    if raw.isdigit() and len(raw) < 10:
        condition = Condition.objects.filter(pk=int(raw)).first()
    period = (query.get("period") or "").strip()
    start_from = start_to = None
    if period == PERIOD_LAST_12_MONTHS:
        start_from, start_to = today - datetime.timedelta(days=365), today
    elif period in dict(period_choices(today)):
        year = int(period)
        start_from, start_to = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    else:
        period = ""
    protocol = (query.get("protocol") or "").strip()
    if protocol not in dict(protocol_choices()):
        protocol = ""
    return Filters(condition, period, start_from, start_to, protocol)


@dataclass
class PatientOutcome:
    """One patient's measures (the research export's row, and the clinic figures' input)."""

    patient_id: int
    sex: str
    date_of_birth: datetime.date
    conditions: list[str]
    protocol: str
    first_dose: datetime.date | None
    target: Decimal | None
    to_target: measures.TimeToTarget
    at_target: measures.Share | None
    adherence: measures.Adherence | None
    response: measures.ResponseSummary | None  # None: left out of the page's aggregated figures
    response_12_weeks: ResponseClass | None  # None: not 12 weeks since the first dose yet
    responder_12_weeks: bool
    stopped_on: datetime.date | None
    stop_reason: str
    last_record: datetime.date | None
    maintenance_dose: Decimal | None
    side_effect_weeks: set[int] = field(default_factory=set)  # weeks since the start with a side effect
    checkin_weeks: set[int] = field(default_factory=set)
    side_effect_doses: set[Decimal] = field(default_factory=set)
    checkin_doses: set[Decimal] = field(default_factory=set)

    @property
    def started(self) -> bool:
        return self.first_dose is not None

    @property
    def follow_up(self) -> tuple[int, bool] | None:
        """Days on treatment and whether it ended by stopping (the event) or by the last record (censored)."""
        if self.first_dose is None:
            return None
        if self.stopped_on is not None:
            return max(0, (self.stopped_on - self.first_dose).days), True
        last = self.last_record or self.first_dose
        return max(0, (last - self.first_dose).days), False

    def age_band(self, on: datetime.date) -> str:
        born = self.date_of_birth
        age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        low = age // 10 * 10
        return f"{low}–{low + 9}"


def today_for(user: Any) -> datetime.date:
    clinic = clinics_for(user).order_by("pk").first()
    return clinic_today(clinic) if clinic is not None else timezone.localdate()


def selected_patients(user: Any, filters: Filters) -> QuerySet[Patient]:
    patients = patients_for(user)
    if filters.condition is not None:
        patients = patients.filter(diagnoses__condition=filters.condition)
    return patients


def patient_outcomes(user: Any, filters: Filters, *, today: datetime.date | None = None) -> list[PatientOutcome]:
    """The measures of the user's clinics' patients who match ``filters``: seven queries at any clinic size."""
    today = today or today_for(user)
    patients = selected_patients(user, filters)
    ids = patients.values("pk")
    rows = list(patients.values_list("pk", "sex", "date_of_birth", "clinic__restart_after_gap_days"))
    conditions: dict[int, list[str]] = defaultdict(list)
    for patient_id, name in Diagnosis.objects.filter(patient__in=ids).values_list("patient_id", "condition__name"):
        conditions[patient_id].append(name)
    plans: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    plan_fields = ("pk", "patient_id", "start_date", "created_at", "preset", "target_dose_mg", "is_active")
    for row in TitrationPlan.objects.filter(patient__in=ids).values_list(*plan_fields):
        plans[row[1]].append(row)
    states: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    state_fields = ("plan_id", "effective_on", "changed_at", "pk", "state", "stop_reason")
    for row in PlanStateChange.objects.filter(patient__in=ids).values_list(*state_fields):
        states[row[0]].append(row)
    entries: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    entry_fields = ("patient_id", "taken_on", "status", "dose_mg", "plan_id")
    for row in DoseEntry.objects.live().filter(patient__in=ids).values_list(*entry_fields):
        entries[row[0]].append(row)
    readings: dict[int, list[measures.Reading]] = defaultdict(list)
    for patient_id, day, pain, pgic in (
        CheckIn.objects.live().filter(patient__in=ids).values_list("patient_id", "checked_on", "pain_score", "pgic")
    ):
        readings[patient_id].append(measures.Reading(day, pain, pgic))
    effects: dict[int, set[datetime.date]] = defaultdict(set)
    for patient_id, day in SideEffect.objects.filter(
        checkin__patient__in=ids, checkin__voided_at__isnull=True
    ).values_list("checkin__patient_id", "checkin__checked_on"):
        effects[patient_id].add(day)
    result = []
    for patient_id, sex, born, gap_days in rows:
        outcome = _outcome(
            patient_id,
            sex,
            born,
            sorted(conditions[patient_id]),
            sorted(plans[patient_id], key=lambda p: (p[2], p[3], p[0])),
            states,
            entries[patient_id],
            readings[patient_id],
            effects[patient_id],
            gap_days=gap_days,
            today=today,
        )
        if matches(outcome, filters):
            result.append(outcome)
    return result


def matches(outcome: PatientOutcome, filters: Filters) -> bool:
    if filters.protocol and outcome.protocol != filters.protocol:
        return False
    if filters.start_from is None and filters.start_to is None:
        return True
    if outcome.first_dose is None:
        return False
    after_start = filters.start_from is None or filters.start_from <= outcome.first_dose
    before_end = filters.start_to is None or outcome.first_dose <= filters.start_to
    return after_start and before_end


def _outcome(
    patient_id: int,
    sex: str,
    born: datetime.date,
    conditions: list[str],
    plans: list[tuple[Any, ...]],
    states: dict[int, list[tuple[Any, ...]]],
    entry_rows: list[tuple[Any, ...]],
    readings: list[measures.Reading],
    effect_days: set[datetime.date],
    *,
    gap_days: int,
    today: datetime.date,
) -> PatientOutcome:
    target_of: dict[int, Decimal | None] = {plan[0]: plan[5] for plan in plans}

    def target_on(day: datetime.date, plan_id: int | None) -> Decimal | None:
        if plan_id in target_of:
            return target_of[plan_id]
        in_force = [plan for plan in plans if plan[2] <= day]
        return (in_force[-1] if in_force else plans[0])[5] if plans else None

    days = sorted(
        (
            measures.DoseDay(day, status == DoseStatus.TAKEN, dose, target_on(day, plan_id))
            for _, day, status, dose, plan_id in entry_rows
        ),
        key=lambda d: d.day,
    )
    first = measures.first_dose_day(days)
    current = next((plan for plan in plans if plan[6]), plans[-1] if plans else None)
    stopped_on, stop_reason = None, ""
    if current is not None and states.get(current[0]):
        last_state = max(states[current[0]], key=lambda s: (s[1], s[2], s[3]))
        if last_state[4] == rules.PlanState.STOPPED:
            stopped_on, stop_reason = last_state[1], last_state[5] or StopReason.OTHER
    end = today if any(d.day == today for d in days) else today - datetime.timedelta(days=1)
    if stopped_on is not None:
        end = min(end, stopped_on - datetime.timedelta(days=1))
    record_days = [d.day for d in days] + [r.day for r in readings]
    taken = [d for d in days if d.taken and d.dose is not None]
    assessed_on = stopped_on if stopped_on is not None else today
    response_12: ResponseClass | None = None
    responder_12 = False
    if first is not None and first + datetime.timedelta(days=measures.RESPONSE_AT_DAYS) <= today:
        on = first + datetime.timedelta(days=measures.RESPONSE_AT_DAYS)
        response_12, responder_12 = measures.response_on(readings, first_dose=first, on=on)
    outcome = PatientOutcome(
        patient_id=patient_id,
        sex=sex,
        date_of_birth=born,
        conditions=conditions,
        protocol=(plans[0][4] if plans and plans[0][4] in rules.PRESETS else CUSTOM) if plans else "",
        first_dose=first,
        target=current[5] if current is not None else None,
        to_target=measures.time_to_target(days),
        at_target=measures.time_at_target(days, end=end),
        adherence=measures.adherence(days, end=end, restart_after_gap_days=gap_days),
        response=measures.response_summary(readings, days, today=assessed_on),
        response_12_weeks=response_12,
        responder_12_weeks=responder_12,
        stopped_on=stopped_on,
        stop_reason=stop_reason,
        last_record=max(record_days) if record_days else None,
        maintenance_dose=taken[-1].dose if taken else None,
    )
    taken_days = [d.day for d in taken]
    if first is not None:
        for reading in readings:
            if reading.day < first:
                continue
            week = min((reading.day - first).days // 7 + 1, SIDE_EFFECT_WEEKS + 1)
            at = bisect.bisect_right(taken_days, reading.day) - 1
            dose = taken[at].dose if at >= 0 else None
            outcome.checkin_weeks.add(week)
            if dose is not None:
                outcome.checkin_doses.add(dose)
            if reading.day in effect_days:
                outcome.side_effect_weeks.add(week)
                if dose is not None:
                    outcome.side_effect_doses.add(dose)
    return outcome
