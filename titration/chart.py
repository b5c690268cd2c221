"""The dose–pain chart's data for a period: a fixed handful of queries, never one per point.

The chart is drawn on the server as SVG (``chart_drawing``): it scales to any screen or sheet of paper and
needs no script. This module reads the days, and gives screen readers and print a summary and a table of the
notable days.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from decimal import Decimal

from patients.models import Patient

from . import rules, selectors
from .models import CheckIn, DoseEntry, DoseStatus, Flag, SideEffect, TitrationPlan
from .selectors import first_record_day

PERIODS: dict[str, int | None] = {"30": 30, "90": 90, "365": 365, "all": None}
DEFAULT_PERIOD = "90"


def parse_period(raw: str | None) -> str:
    """The requested period if it is one of the allowed ones, else the default (90 days)."""
    return raw if raw in PERIODS else DEFAULT_PERIOD


@dataclass
class ChartDay:
    day: datetime.date
    dose_mg: Decimal | None = None
    dose_text: str = ""  # as every surface shows it: "1.5 mg (3 mL of 0.5 mg/mL)" for a liquid measured in mL
    scheduled_mg: Decimal | None = None
    missed: bool = False
    flagged: list[str] = field(default_factory=list)
    pain: int | None = None
    severe_effects: list[str] = field(default_factory=list)


@dataclass
class Chart:
    period: str
    start: datetime.date
    end: datetime.date
    days: list[ChartDay]
    axis_top_mg: Decimal = Decimal("6")  # doses above it are drawn at the top and marked

    @property
    def beyond_axis(self) -> list[ChartDay]:
        """Days whose dose is above the dose axis (a likely slip): marked at its top with the true value."""
        return [d for d in self.days if d.dose_mg is not None and d.dose_mg > self.axis_top_mg]

    @property
    def notable_days(self) -> list[ChartDay]:
        """Days a reader needs in the text alternative: dose changes, check-ins, flags, missed doses."""
        notable = []
        last_dose: Decimal | None = None
        for day in self.days:
            changed = day.dose_mg is not None and day.dose_mg != last_dose
            if changed or day.pain is not None or day.flagged or day.missed or day.severe_effects:
                notable.append(day)
            if day.dose_mg is not None:
                last_dose = day.dose_mg
        return notable

    def summary(self) -> str:
        doses = [d.dose_mg for d in self.days if d.dose_mg is not None]
        pains = [d.pain for d in self.days if d.pain is not None]
        parts = [f"From {self.start:%-d %b %Y} to {self.end:%-d %b %Y}: {plural(len(doses), 'dose')} taken"]
        missed = sum(d.missed for d in self.days)
        parts.append(f"{missed} missed")
        if doses:
            parts.append(f"dose from {rules.format_dose(doses[0])} to {rules.format_dose(doses[-1])}")
        if pains:
            parts.append(f"{plural(len(pains), 'pain score')}, from {pains[0]} to {pains[-1]} out of 10")
        else:
            parts.append("no pain scores")
        flagged = sum(bool(d.flagged) for d in self.days)
        severe = sum(bool(d.severe_effects) for d in self.days)
        parts.append(f"{plural(flagged, 'flagged dose')}")
        parts.append(f"{plural(severe, 'day')} with a severe side effect")
        beyond = self.beyond_axis
        if beyond:
            values = ", ".join(f"{rules.format_dose(d.dose_mg)} on {d.day:%-d %b %Y}" for d in beyond)
            parts.append(
                f"{plural(len(beyond), 'dose')} above the chart's {rules.format_dose(self.axis_top_mg)} axis, "
                f"marked at its top ({values})"
            )
        return ", ".join(parts) + "."


def plural(count: int, noun: str) -> str:
    """``1 dose``, ``2 doses``, ``0 doses``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def axis_top(targets: list[Decimal]) -> Decimal:
    """The dose axis's top: at least 1 mg above the LDN range or the highest plan target, in whole mg (6 mg).

    A tenfold slip (ISMP: decimal-point errors) must not rescale the chart and flatten every other dose, so
    the axis does not follow the doses; a dose above it is drawn at the top and marked with its value.
    """
    ceiling = max([rules.LDN_MAX_MG, *targets])
    return Decimal(math.ceil(ceiling + 1))


def chart_for(patient: Patient, plans: list[TitrationPlan], period: str, today: datetime.date) -> Chart:
    """The chart of ``period`` days up to today (``all``: from the first record). ``plans``: all of them."""
    length = PERIODS[period]
    if length is None:
        start = min(first_record_day(patient, plans) or today, today)
    else:
        start = today - datetime.timedelta(days=length - 1)
    days = {
        start + datetime.timedelta(days=i): ChartDay(start + datetime.timedelta(days=i))
        for i in range((today - start).days + 1)
    }

    entries = DoseEntry.objects.live().filter(patient=patient, taken_on__range=(start, today))
    columns = ("taken_on", "dose_mg", "status", "dose_ml", "concentration_mg_per_ml")
    for taken_on, dose, status, volume, concentration in entries.values_list(*columns):
        if status == DoseStatus.MISSED:
            days[taken_on].missed = True
        else:
            days[taken_on].dose_mg = dose
            days[taken_on].dose_text = rules.format_entry_dose(dose, volume, concentration)
    flags = (
        Flag.objects.filter(dose_entry__in=entries, severity__gte=rules.Severity.WARNING)
        .exclude(closed_as__in=[Flag.ClosedAs.REASSESSED, Flag.ClosedAs.ENTRY_VOIDED])
        .values_list("dose_entry__taken_on", "kind")
    )
    for taken_on, kind in flags:
        days[taken_on].flagged.append(rules.FlagKind(kind).label)

    checkins = CheckIn.objects.live().filter(patient=patient, checked_on__range=(start, today))
    for checked_on, pain in checkins.values_list("checked_on", "pain_score"):
        days[checked_on].pain = pain
    severe = SideEffect.objects.filter(checkin__in=checkins, severity=SideEffect.Severity.SEVERE).values_list(
        "checkin__checked_on", "kind", "description"
    )
    for checked_on, kind, description in severe:
        days[checked_on].severe_effects.append(description or SideEffect.Kind(kind).label)

    # The scheduled line is the patient-paced expected dose, the one the dose form and the dashboard use.
    expected = selectors.expected_doses(patient, plans, list(days))
    for chart_day in days.values():
        chart_day.scheduled_mg = expected[chart_day.day]
    top = axis_top([plan.target_dose_mg for plan in plans])
    return Chart(period=period, start=start, end=today, days=list(days.values()), axis_top_mg=top)
