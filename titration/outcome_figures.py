"""The clinic's figures from its patients' measures, and the geometry of their plots (SVG, no script).

Every share is a ``measures.Proportion``: shown with its denominator and its Wilson 95% interval, or as
"fewer than 5 patients" when the group is smaller than that; a count of 1–4 patients is shown as "<5".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from . import measures, rules
from .clinic_outcomes import SIDE_EFFECT_WEEKS, PatientOutcome
from .models import StopReason
from .outcomes import ResponseClass

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Milestone:
    label: str
    days: int
    share: measures.Proportion
    km: float | None
    at_risk: int

    @property
    def km_percent(self) -> int | None:
        return None if self.km is None or self.share.suppressed else round(self.km * 100)


@dataclass(frozen=True)
class Median:
    value: float | None
    count: int  # patients it is the median of
    of: int  # patients it could have been

    @property
    def suppressed(self) -> bool:
        return self.count < measures.SMALL_GROUP


@dataclass(frozen=True)
class Bar:
    label: str
    share: measures.Proportion
    # geometry, in viewBox units
    y: float = 0
    width: float = 0
    low: float = 0
    high: float = 0


@dataclass(frozen=True)
class Count:
    label: str
    count: int

    @property
    def shown(self) -> str:
        return measures.small_count(self.count)


@dataclass
class Figures:
    patients: int
    started: int
    not_started: int
    stopped: int
    milestones: list[Milestone]
    responders: measures.Proportion
    substantial: measures.Proportion
    pgic_only: int
    time_to_target: Median
    never_reached: int
    time_at_target: Median
    adherence: Median
    km_steps: list[measures.SurvivalStep]
    km_path: str
    km_ticks: list[tuple[float, str]]
    by_condition: list[Bar]
    doses: list[Count]
    side_effects_by_week: list[Bar]
    side_effects_by_dose: list[Bar]
    stop_reasons: list[Count]

    @property
    def small(self) -> bool:
        return self.started < measures.SMALL_GROUP


def figures(outcomes: Sequence[PatientOutcome]) -> Figures:
    started = [o for o in outcomes if o.started]
    follow = [o.follow_up for o in started if o.follow_up is not None]
    times = [t for t, _ in follow]
    events = [e for _, e in follow]
    steps = measures.kaplan_meier(times, events)
    milestones = [
        Milestone(
            label,
            days,
            measures.retained_by(times, events, days),
            measures.survival_at(steps, days),
            measures.at_risk_at(steps, days),
        )
        for label, days in measures.RETENTION_MILESTONES.items()
    ]
    eligible = [o for o in started if o.response_12_weeks is not None]
    reached = [o.to_target.days for o in started if o.to_target.days is not None]
    at_target = [o.at_target.percent for o in started if o.at_target is not None and o.at_target.whole]
    adherent = [o.adherence.days.percent for o in started if o.adherence is not None and o.adherence.days.whole]
    pain_responder = {ResponseClass.MEANINGFUL, ResponseClass.SUBSTANTIAL}
    path, ticks = _km_geometry(steps)
    return Figures(
        patients=len(outcomes),
        started=len(started),
        not_started=len(outcomes) - len(started),
        stopped=sum(1 for o in started if o.stopped_on is not None),
        milestones=milestones,
        responders=measures.Proportion(sum(1 for o in eligible if o.responder_12_weeks), len(eligible)),
        substantial=measures.Proportion(
            sum(1 for o in eligible if o.response_12_weeks == ResponseClass.SUBSTANTIAL), len(eligible)
        ),
        pgic_only=sum(1 for o in eligible if o.responder_12_weeks and o.response_12_weeks not in pain_responder),
        time_to_target=Median(measures.median(reached), len(reached), len(started)),
        never_reached=len(started) - len(reached),
        time_at_target=Median(measures.median(v for v in at_target if v is not None), len(at_target), len(started)),
        adherence=Median(measures.median(v for v in adherent if v is not None), len(adherent), len(started)),
        km_steps=steps,
        km_path=path,
        km_ticks=ticks,
        by_condition=_bars(_by_condition(eligible)),
        doses=_dose_counts(started),
        side_effects_by_week=_bars(_side_effects_by_week(started)),
        side_effects_by_dose=_bars(_side_effects_by_dose(started)),
        stop_reasons=_stop_reasons(started),
    )


def _by_condition(eligible: Sequence[PatientOutcome]) -> list[tuple[str, measures.Proportion]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for outcome in eligible:
        for name in outcome.conditions:
            groups[name].append(outcome.responder_12_weeks)
    return [(name, measures.Proportion(sum(flags), len(flags))) for name, flags in sorted(groups.items())]


def _dose_counts(started: Sequence[PatientOutcome]) -> list[Count]:
    counts = Counter(o.maintenance_dose for o in started if o.maintenance_dose is not None)
    return [Count(rules.format_dose(dose), n) for dose, n in sorted(counts.items())]


def _side_effects_by_week(started: Sequence[PatientOutcome]) -> list[tuple[str, measures.Proportion]]:
    rows = []
    for week in range(1, SIDE_EFFECT_WEEKS + 2):
        seen = [o for o in started if week in o.checkin_weeks]
        label = f"Week {week}" if week <= SIDE_EFFECT_WEEKS else f"Week {week} on"
        rows.append((label, measures.Proportion(sum(1 for o in seen if week in o.side_effect_weeks), len(seen))))
    return rows


def _side_effects_by_dose(started: Sequence[PatientOutcome]) -> list[tuple[str, measures.Proportion]]:
    doses: set[Decimal] = set().union(*(o.checkin_doses for o in started)) if started else set()
    rows = []
    for dose in sorted(doses):
        seen = [o for o in started if dose in o.checkin_doses]
        hit = sum(1 for o in seen if dose in o.side_effect_doses)
        rows.append((rules.format_dose(dose), measures.Proportion(hit, len(seen))))
    return rows


def _stop_reasons(started: Sequence[PatientOutcome]) -> list[Count]:
    counts = Counter(o.stop_reason for o in started if o.stopped_on is not None)
    return [Count(str(label), counts.get(value, 0)) for value, label in StopReason.choices]


# --- geometry ------------------------------------------------------------------------------------------


def _x(day: int, span: int) -> float:
    return round(LEFT + PLOT_W * day / span, 1)


def _y(share: float) -> float:
    return round(TOP + PLOT_H * (1 - share), 1)


def _km_geometry(steps: Sequence[measures.SurvivalStep]) -> tuple[str, list[tuple[float, str]]]:
    """The Kaplan–Meier curve as an SVG path (a step function from 100% at day 0) and its month ticks."""
    if not steps:
        return "", []
    span = max(365, steps[-1].time)
    parts = [f"M{_x(0, span)},{_y(1.0)}"]
    survival = 1.0
    for step in steps:
        parts.append(f"H{_x(step.time, span)}")
        if step.survival != survival:
            survival = step.survival
            parts.append(f"V{_y(survival)}")
    months = range(0, span // 30 + 1, 3 if span <= 730 else 6)
    return " ".join(parts), [(_x(m * 30, span), f"{m} mo") for m in months]


BAR_HEIGHT, BAR_GAP = 18, 8


def _bars(rows: Sequence[tuple[str, measures.Proportion]]) -> list[Bar]:
    """Horizontal bars (share of 100%) with their Wilson interval; a suppressed group has no bar."""
    bars = []
    for index, (label, share) in enumerate(rows):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        if share.suppressed or share.whole == 0:
            bars.append(Bar(label, share, y))
            continue
        low, high = measures.wilson(share.part, share.whole) or (0.0, 0.0)
        bars.append(
            Bar(
                label,
                share,
                y,
                width=round(BAR_PLOT_W * share.part / share.whole, 1),
                low=round(BAR_LEFT + BAR_PLOT_W * low, 1),
                high=round(BAR_LEFT + BAR_PLOT_W * high, 1),
            )
        )
    return bars


BAR_LEFT, BAR_PLOT_W = 180, 420


def bars_height(bars: Sequence[Bar]) -> int:
    return TOP + len(bars) * (BAR_HEIGHT + BAR_GAP) + 24
