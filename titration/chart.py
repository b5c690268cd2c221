"""The dose–pain chart's data for a period: a fixed handful of queries, never one per point.

The chart is drawn on the server as SVG (``chart_drawing``): it scales to any screen or sheet of paper and
needs no script. This module reads the days, and gives screen readers and print a summary and a table of the
notable days.
"""

from __future__ import annotations

import datetime
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from patients.models import Patient

from . import patient_reads, rules
from .models import DoseStatus, Flag, SideEffect, TitrationPlan

PERIODS: dict[str, int | None] = {"30": 30, "90": 90, "365": 365, "all": None}
DEFAULT_PERIOD = "90"
# A longer chart is drawn in slots of whole weeks, at most this many: a line of 1,800 daily points is wider
# than the screen's pixels and costs more than it shows. Every flag, missed dose, dose above the axis and
# severe side effect keeps its mark, on its slot.
MAX_SLOTS = 120


def parse_period(raw: str | None) -> str:
    """The requested period if it is one of the allowed ones, else the default (90 days)."""
    return raw if raw in PERIODS else DEFAULT_PERIOD


@dataclass(slots=True)  # a five-year chart makes 1,800 of them
class ChartDay:
    day: datetime.date
    dose_mg: Decimal | None = None
    dose_text: str = ""  # as every surface shows it: "1.5 mg (3 mL of 0.5 mg/mL)" for a liquid measured in mL
    scheduled_mg: Decimal | None = None
    missed: bool = False
    flagged: list[str] = field(default_factory=list)
    pain: int | Decimal | None = None  # a slot of several days: the mean of its pain scores
    severe_effects: list[str] = field(default_factory=list)
    # A slot of several days (a long chart): its last day, its highest dose and highest flagged dose (the marks
    # above the axis and the flags stand at them), and how many pain scores its mean holds.
    last_day: datetime.date | None = None
    peak_mg: Decimal | None = None
    flagged_mg: Decimal | None = None
    pain_count: int = 0
    missed_count: int = 0

    @property
    def label(self) -> str:
        """``30 Nov 2026``, or for a slot ``2 – 8 Nov 2026``."""
        if self.last_day is None or self.last_day == self.day:
            return f"{self.day:%-d %b %Y}"
        return f"{self.day:%-d %b %Y} – {self.last_day:%-d %b %Y}"


@dataclass
class Chart:
    period: str
    start: datetime.date
    end: datetime.date
    days: list[ChartDay]
    axis_top_mg: Decimal = Decimal("6")  # doses above it are drawn at the top and marked

    @cached_property
    def slots(self) -> list[ChartDay]:
        """What is drawn: the days, or for a long chart slots of whole weeks ending on the last day (built once:
        the drawing and the table of notable days both read them)."""
        if len(self.days) <= MAX_SLOTS:
            return self.days
        size = 7 * math.ceil(len(self.days) / (7 * MAX_SLOTS))
        ends = range(len(self.days), 0, -size)
        return [_slot(self.days[max(end - size, 0) : end]) for end in reversed(ends)]

    @property
    def beyond_axis(self) -> list[ChartDay]:
        """Days whose dose is above the dose axis (a likely slip): marked at its top with the true value."""
        return [d for d in self.days if d.dose_mg is not None and d.dose_mg > self.axis_top_mg]

    @property
    def notable_days(self) -> list[ChartDay]:
        """Days a reader needs in the text alternative: dose changes, check-ins, flags, missed doses (the drawn
        slots of a long chart, so that the table and the drawing agree)."""
        notable = []
        last_dose: Decimal | None = None
        for day in self.slots:
            changed = day.dose_mg is not None and day.dose_mg != last_dose
            if changed or day.pain is not None or day.flagged or day.missed or day.severe_effects:
                notable.append(day)
            if day.dose_mg is not None:
                last_dose = day.dose_mg
        return notable

    @property
    def table(self) -> list[TableRow]:
        """The table of notable days, each cell written as the page shows it (a five-year chart lists some 90
        slots: a handful of template tags per cell cost more than the rest of the chart)."""
        return [_table_row(day) for day in self.notable_days]

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


@dataclass(frozen=True)
class TableRow:
    label: str
    dose: str  # "missed" for a missed dose
    expected: str
    pain: str
    events: str  # "2 missed. Flag: Tenfold change. Severe nausea / GI discomfort. "


def _table_row(day: ChartDay) -> TableRow:
    events = [f"{day.missed_count} missed. "] if day.missed and day.dose_mg is not None else []
    events += [f"Flag: {kind}. " for kind in day.flagged]
    events += [f"Severe {effect.lower()}. " for effect in day.severe_effects]
    return TableRow(
        label=day.label,
        dose="missed" if day.missed and day.dose_mg is None else rules.format_dose(day.dose_mg),
        expected=rules.format_dose(day.scheduled_mg),
        pain="—" if day.pain is None else str(day.pain),
        events="".join(events),
    )


def _most_common(values: list[Decimal]) -> Decimal | None:
    """The value held on most days (the latest of equals): the dose the patient was on in a slot."""
    if not values:
        return None
    counts = Counter(values)
    return max(reversed(values), key=lambda value: counts[value])


def _slot(days: list[ChartDay]) -> ChartDay:
    """Several days as one slot of the drawing: the dose and expected dose most often held, the mean pain,
    and every mark of its days (a flagged dose, a missed dose, a severe side effect)."""
    doses = [d.dose_mg for d in days if d.dose_mg is not None]
    pains = [d.pain for d in days if d.pain is not None]
    flagged = [d for d in days if d.flagged and d.dose_mg is not None]
    dose = _most_common(doses)
    return ChartDay(
        day=days[0].day,
        last_day=days[-1].day,
        dose_mg=dose,
        dose_text=rules.format_dose(dose) if dose is not None else "",
        scheduled_mg=_most_common([d.scheduled_mg for d in days if d.scheduled_mg is not None]),
        missed=any(d.missed for d in days),
        missed_count=sum(d.missed for d in days),
        flagged=[f"{rules.format_dose(d.dose_mg)} on {d.day:%-d %b %Y}: {', '.join(d.flagged)}" for d in flagged],
        pain=(Decimal(sum(pains)) / len(pains)).quantize(Decimal("0.1")) if pains else None,
        pain_count=len(pains),
        severe_effects=[effect for d in days for effect in d.severe_effects],
        peak_mg=max(doses) if doses else None,
        flagged_mg=max(d.dose_mg for d in flagged if d.dose_mg is not None) if flagged else None,
    )


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


def chart_for(
    patient: Patient,
    plans: list[TitrationPlan],
    period: str,
    today: datetime.date,
    *,
    reads: patient_reads.PageReads | None = None,
) -> Chart:
    """The chart of ``period`` days up to today (``all``: from the first record), from the page's reads."""
    if reads is None:
        reads = patient_reads.read_page(patient, today, chart_days=PERIODS[period])
    start = reads.chart_start
    days = {day: ChartDay(day) for day in (start + datetime.timedelta(days=i) for i in range((today - start).days + 1))}
    shown: dict[int, ChartDay] = {}
    for entry in reads.record.live_entries:
        chart_day = days.get(entry.taken_on)
        if chart_day is None:
            continue
        if entry.status == DoseStatus.MISSED:
            chart_day.missed = True
        else:
            chart_day.dose_mg = entry.dose_mg
            chart_day.dose_text = rules.format_entry_dose(entry.dose_mg, entry.dose_ml, entry.concentration_mg_per_ml)
        shown[entry.id] = chart_day
    hidden = (Flag.ClosedAs.REASSESSED, Flag.ClosedAs.ENTRY_VOIDED)
    for flag in reads.flags:
        if flag.dose_entry_id in shown and flag.severity >= rules.Severity.WARNING and flag.closed_as not in hidden:
            shown[flag.dose_entry_id].flagged.append(rules.FlagKind(flag.kind).label)
    for checkin in reads.record.checkins:
        chart_day = days.get(checkin.checked_on)
        if chart_day is None or checkin.voided_at is not None:
            continue
        chart_day.pain = checkin.pain_score
        for effect in checkin.effects:
            if effect.severity == SideEffect.Severity.SEVERE:
                chart_day.severe_effects.append(effect.description or SideEffect.Kind(effect.kind).label)

    # The scheduled line is the patient-paced expected dose, the one the dose form and the dashboard use.
    expected = reads.resumed.expected_on(list(days))
    for chart_day in days.values():
        chart_day.scheduled_mg = expected[chart_day.day]
    top = axis_top([plan.target_dose_mg for plan in reads.plans])
    return Chart(period=period, start=start, end=today, days=list(days.values()), axis_top_mg=top)
