"""The printable schedule a patient takes home: the coming weeks of the titration, day by day.

The doses are the patient-paced expected course (``course.projected_schedule``) from where the patient stands
today, the same engine the dose form and the chart read; a liquid plan also gives each dose in mL.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from patients.models import Patient, clinic_today

from . import course, rules, selectors
from .models import DosingTime, Formulation, TitrationPlan

DEFAULT_WEEKS = 4
MAX_WEEKS = 12
ML_PLACES = Decimal("0.01")


def clinic_day(patient: Patient) -> datetime.date:
    """Today in the patient's clinic (its time zone and day boundary)."""
    return clinic_today(patient.clinic)


def parse_weeks(raw: str | None) -> int:
    """The number of weeks asked for, between 1 and 12; anything else is the default (4)."""
    try:
        weeks = int(raw or "")
    except ValueError:
        return DEFAULT_WEEKS
    return min(max(weeks, 1), MAX_WEEKS)


def dose_ml(dose_mg: Decimal, concentration_mg_per_ml: Decimal) -> Decimal:
    """The volume of an oral liquid that holds ``dose_mg``: mg ÷ (mg/mL), to 0.01 mL, no trailing zeros."""
    return (dose_mg / concentration_mg_per_ml).quantize(ML_PLACES, rounding=ROUND_HALF_UP).normalize()


@dataclass(frozen=True)
class ScheduleDay:
    day: datetime.date
    dose_mg: Decimal | None
    dose_ml: Decimal | None
    state: rules.PlanState | None
    new_dose: bool = False  # the first day of a new dose: the page points it out

    @property
    def dose_ml_label(self) -> str:
        return "" if self.dose_ml is None else f"{rules.format_number(self.dose_ml)} mL"


@dataclass
class PatientSchedule:
    plan: TitrationPlan | None
    weeks: int
    days: list[ScheduleDay]
    starts_with: rules.PlanState | None
    is_liquid: bool
    time_of_day: str

    @property
    def first(self) -> datetime.date:
        return self.days[0].day

    @property
    def last(self) -> datetime.date:
        return self.days[-1].day

    @property
    def has_doses(self) -> bool:
        return any(day.dose_mg is not None for day in self.days)

    @property
    def week_choices(self) -> range:
        return range(1, MAX_WEEKS + 1)

    @property
    def weeks_label(self) -> str:
        return f"{self.weeks} week{'s' if self.weeks != 1 else ''}"


TIME_OF_DAY = {
    DosingTime.BEDTIME: "at bedtime",
    DosingTime.MORNING: "in the morning",
    DosingTime.OTHER: "at the time agreed with your clinic",
}


def patient_schedule(patient: Patient, today: datetime.date, weeks: int) -> PatientSchedule:
    """The coming ``weeks`` weeks from today, projected from the recorded entries before today."""
    plans = list(patient.plans.order_by("start_date", "created_at"))
    plan = next((p for p in plans if p.is_active), None)
    facts = selectors.course_facts(patient, plans)
    _, walked = course.walk([e for e in facts.entries if e.day < today], facts.terms, facts.gap_days)
    projected = course.projected_schedule(facts.terms, facts.gap_days, walked.position(), today, weeks * 7)
    liquid = plan is not None and plan.formulation == Formulation.LIQUID and bool(plan.liquid_concentration_mg_per_ml)
    concentration = plan.liquid_concentration_mg_per_ml if liquid and plan is not None else None
    days = []
    previous = walked.position().previous_mg  # the first day's dose is new if it differs from the last taken
    for item in projected:
        ml = dose_ml(item.dose, concentration) if concentration and item.dose is not None else None
        new_dose = item.dose is not None and previous is not None and item.dose != previous
        days.append(ScheduleDay(item.day, item.dose, ml, item.state, new_dose))
        if item.dose is not None:
            previous = item.dose
    return PatientSchedule(
        plan=plan,
        weeks=weeks,
        days=days,
        starts_with=projected[0].state if projected else None,
        is_liquid=liquid,
        time_of_day=TIME_OF_DAY.get(DosingTime(plan.dosing_time), "") if plan else "",
    )
