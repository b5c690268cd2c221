"""Patient-level outcome measures and the clinic-level statistics built on them.

Pure functions of plain values, like ``rules`` and ``outcomes``: no ORM, no request. Sources (clinical
reference, "Outcome measures"): IMMPACT response thresholds (≥30% meaningful, ≥50% substantial; Dworkin et
al., J Pain 2008), PGIC 1–3 as responders (Bruun-Plesner et al.), retention by Kaplan–Meier with stopping as
the event and censoring at the last record, proportions with Wilson 95% intervals, and groups under 5 patients
suppressed.

Days are whole calendar days. A day counts as "taken" only with a live taken dose: a missed day, a voided day
and a day with no entry all count against time at target and adherence.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from . import outcomes
from .outcomes import PainReading, ResponseClass

_R = TypeVar("_R", "Reading", PainReading)  # a check-in, or its pain alone

SMALL_GROUP = 5  # groups of fewer patients are shown as "fewer than 5 patients", never as a percentage
SMALL_GROUP_TEXT = "fewer than 5 patients"
SMALL_COUNT_TEXT = "<5"
WILSON_Z = 1.959963984540054  # the 97.5th percentile of the standard normal: a two-sided 95% interval
RESPONSE_AT_DAYS = 84  # "responders at 12 weeks"
RETENTION_MILESTONES = {"3 months": 91, "6 months": 182, "12 months": 365}
RESPONDER_CLASSES = frozenset({ResponseClass.MEANINGFUL, ResponseClass.SUBSTANTIAL})
# Best to worst, for "the best response": a class with data beats "not enough data".
CLASS_RANK = {
    ResponseClass.SUBSTANTIAL: 6,
    ResponseClass.MEANINGFUL: 5,
    ResponseClass.NO_RESPONSE: 4,
    ResponseClass.BELOW_MCID: 3,
    ResponseClass.WORSE: 2,
    ResponseClass.BASELINE_ZERO: 1,
    ResponseClass.NOT_ENOUGH_DATA: 0,
}
# The best class there is, and a responder class: once a check-in day reaches it, no later day changes the best
# response or the first day of a ≥30% reduction (``best_on_checkin_days`` stops there).
_BEST_CLASS = max(CLASS_RANK, key=CLASS_RANK.__getitem__)


@dataclass(frozen=True)
class DoseDay:
    """A live dose entry: the day, whether a dose was taken, the dose, and the target of its plan."""

    day: datetime.date
    taken: bool
    dose: Decimal | None
    target: Decimal | None = None


def _taken(entries: Iterable[DoseDay]) -> list[DoseDay]:
    return sorted((e for e in entries if e.taken and e.dose is not None), key=lambda e: e.day)


def first_dose_day(entries: Iterable[DoseDay]) -> datetime.date | None:
    taken = _taken(entries)
    return taken[0].day if taken else None


def _at_target(entry: DoseDay) -> bool:
    return entry.target is not None and entry.dose is not None and entry.dose >= entry.target


# --- time to target ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeToTarget:
    """Days from the first taken dose to the first day at (or above) the plan's target dose.

    ``days`` is None when the target was never reached; ``highest`` is then the highest dose taken.
    """

    days: int | None
    reached_on: datetime.date | None
    highest: Decimal | None

    @property
    def reached(self) -> bool:
        return self.days is not None


def time_to_target(entries: Sequence[DoseDay]) -> TimeToTarget:
    taken = _taken(entries)
    if not taken:
        return TimeToTarget(None, None, None)
    start = taken[0].day
    for entry in taken:
        if _at_target(entry):
            return TimeToTarget((entry.day - start).days, entry.day, entry.dose)
    return TimeToTarget(None, None, max(e.dose for e in taken if e.dose is not None))


# --- shares of days ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """``part`` of ``whole`` days (``whole`` 0: nothing to measure)."""

    part: int
    whole: int

    @property
    def fraction(self) -> Fraction | None:
        return Fraction(self.part, self.whole) if self.whole else None

    @property
    def percent(self) -> int | None:
        return None if not self.whole else round(self.part * 100 / self.whole)


def time_at_target(entries: Sequence[DoseDay], *, end: datetime.date) -> Share | None:
    """The share of days at the target dose from the day it was first reached through ``end`` (inclusive).

    The analogue of an anticoagulation clinic's time in therapeutic range: a missed day, a voided day or a day
    with no entry counts against it. None when the target was never reached.
    """
    reached = time_to_target(entries)
    if reached.reached_on is None or end < reached.reached_on:
        return None
    days = {e.day for e in _taken(entries) if _at_target(e) and reached.reached_on <= e.day <= end}
    return Share(len(days), (end - reached.reached_on).days + 1)


@dataclass(frozen=True)
class Adherence:
    """The share of days with a taken dose from the first dose through ``end``.

    ``gaps``: runs of one or more days without a taken dose between two taken doses, or before ``end``;
    ``restarts``: the gaps of ``restart_after_gap_days`` or more followed by a taken dose (the engine restarts
    the plan at its starting dose after them).
    """

    days: Share
    gaps: int
    restarts: int
    longest_gap: int


def adherence(entries: Sequence[DoseDay], *, end: datetime.date, restart_after_gap_days: int = 7) -> Adherence | None:
    taken_days = sorted({e.day for e in _taken(entries) if e.day <= end})
    if not taken_days:
        return None
    gaps = restarts = longest = 0
    for before, after in itertools.pairwise(taken_days):
        gap = (after - before).days - 1
        if gap > 0:
            gaps += 1
            longest = max(longest, gap)
            if gap >= restart_after_gap_days:
                restarts += 1
    trailing = (end - taken_days[-1]).days
    if trailing > 0:
        gaps += 1
        longest = max(longest, trailing)
    whole = (end - taken_days[0]).days + 1
    return Adherence(Share(len(taken_days), whole), gaps, restarts, longest)


# --- response ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A live check-in: pain on the 0–10 NRS and, when asked, the PGIC (1–7)."""

    day: datetime.date
    pain: int
    pgic: int | None = None


@dataclass(frozen=True)
class ResponseSummary:
    """The response over the course, with the engine's rules, assessed on each check-in day.

    ``best``/``latest``: the best and the most recent class; ``dose_at_meaningful``: the dose taken on (or last
    before) the first check-in day whose assessment was a ≥30% reduction; ``responder``: the responder
    definition (≥30% less pain, or PGIC 1–3) at the latest assessment.
    """

    best: ResponseClass
    latest: ResponseClass
    first_meaningful_on: datetime.date | None
    dose_at_meaningful: Decimal | None
    responder: bool
    latest_pgic: int | None


def _pain(readings: Sequence[Reading]) -> list[PainReading]:
    return [PainReading(r.day, r.pain) for r in readings]


def pgic_in_window(readings: Sequence[Reading], *, first_dose: datetime.date, on: datetime.date) -> int | None:
    """The latest PGIC of the check-ins the engine would average on ``on`` (on treatment, last 14 days)."""
    effect_from = first_dose + datetime.timedelta(days=outcomes.EFFECT_AFTER_DAYS)
    window_start = on - datetime.timedelta(days=outcomes.CURRENT_WINDOW_DAYS - 1)
    chosen = [r for r in readings if r.pgic is not None and max(effect_from, window_start) <= r.day <= on]
    return max(chosen, key=lambda r: r.day).pgic if chosen else None


def _relevant(
    ordered: Sequence[_R], days: Sequence[datetime.date], first_dose: datetime.date, on: datetime.date
) -> list[_R]:
    """The few readings ``outcomes.assess_response`` looks at on ``on`` (same answer, whatever the history).

    The last reading on or before the first dose (baseline), the first after it (baseline during treatment),
    the readings of the current window, and the last two on treatment (enough of them?).
    """
    effect_from = first_dose + datetime.timedelta(days=outcomes.EFFECT_AFTER_DAYS)
    window_start = on - datetime.timedelta(days=outcomes.CURRENT_WINDOW_DAYS - 1)
    upto = bisect.bisect_right(days, on)
    at_first = bisect.bisect_right(days, first_dose)
    chosen = set(range(max(0, at_first - 1), min(at_first + 1, upto)))
    chosen.update(range(bisect.bisect_left(days, max(window_start, effect_from)), upto))
    chosen.update(i for i in (upto - 2, upto - 1) if i >= 0 and days[i] >= effect_from)
    return [ordered[i] for i in sorted(chosen)]


def response_on(
    readings: Sequence[Reading], *, first_dose: datetime.date | None, on: datetime.date
) -> tuple[ResponseClass, bool]:
    """The engine's response class on ``on`` and whether the patient is a responder then."""
    ordered = sorted(readings, key=lambda r: r.day)
    if first_dose is not None:
        ordered = _relevant(ordered, [r.day for r in ordered], first_dose, on)
    result = outcomes.assess_response(_pain(ordered), first_dose_day=first_dose, today=on)
    pgic = pgic_in_window(readings, first_dose=first_dose, on=on) if first_dose else None
    return result.classification, outcomes.is_responder(result.classification, pgic)


def dose_on(entries: Sequence[DoseDay], day: datetime.date) -> Decimal | None:
    """The dose taken on ``day``, or the last one taken before it."""
    before = [e for e in _taken(entries) if e.day <= day]
    return before[-1].dose if before else None


def best_on_checkin_days(
    readings: Sequence[Reading], *, first_dose: datetime.date | None, through: datetime.date | None = None
) -> tuple[ResponseClass, datetime.date | None]:
    """The best class assessed on any check-in day (through ``through``, if given), and the first day of a
    ≥30% reduction. It does not depend on today: the outcome figures keep it (``titration.outcome_store``)."""
    ordered = sorted((r for r in readings if through is None or r.day <= through), key=lambda r: r.day)
    best = ResponseClass.NOT_ENOUGH_DATA
    first_meaningful: datetime.date | None = None
    if first_dose is not None:
        effect_from = first_dose + datetime.timedelta(days=outcomes.EFFECT_AFTER_DAYS)
        days = [r.day for r in ordered]
        pains = _pain(ordered)  # once, not for each day's few
        for index, reading in enumerate(ordered):
            if reading.day < effect_from:
                continue
            if index + 1 < len(ordered) and ordered[index + 1].day == reading.day:
                continue
            relevant = _relevant(pains, days, first_dose, reading.day)
            assessed = outcomes.assess_response(relevant, first_dose_day=first_dose, today=reading.day)
            cls = assessed.classification
            if CLASS_RANK[cls] > CLASS_RANK[best]:
                best = cls
            if first_meaningful is None and cls in RESPONDER_CLASSES:
                first_meaningful = reading.day
            if best is _BEST_CLASS:
                break
    return best, first_meaningful


def better(one: ResponseClass, other: ResponseClass) -> ResponseClass:
    return one if CLASS_RANK[one] > CLASS_RANK[other] else other


def best_response(
    readings: Sequence[Reading], *, first_dose: datetime.date | None, today: datetime.date
) -> tuple[ResponseClass, datetime.date | None]:
    """The best class assessed on any check-in day through ``today`` (or on ``today``), and the first day of a
    ≥30% reduction."""
    ordered = sorted((r for r in readings if r.day <= today), key=lambda r: r.day)
    best, first_meaningful = best_on_checkin_days(ordered, first_dose=first_dose)
    latest, _ = response_on(ordered, first_dose=first_dose, on=today)
    return better(latest, best), first_meaningful


def response_summary(
    readings: Sequence[Reading], entries: Sequence[DoseDay], *, today: datetime.date
) -> ResponseSummary:
    first = first_dose_day(entries)
    ordered = sorted((r for r in readings if r.day <= today), key=lambda r: r.day)
    best, first_meaningful = best_response(ordered, first_dose=first, today=today)
    latest, responder = response_on(ordered, first_dose=first, on=today)
    pgic = pgic_in_window(ordered, first_dose=first, on=today) if first else None
    return ResponseSummary(
        best=best,
        latest=latest,
        first_meaningful_on=first_meaningful,
        dose_at_meaningful=dose_on(entries, first_meaningful) if first_meaningful else None,
        responder=responder,
        latest_pgic=pgic,
    )


# --- clinic-level statistics ---------------------------------------------------------------------------


def median(values: Iterable[float | int | Fraction]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float(ordered[middle - 1] + ordered[middle]) / 2


def wilson(successes: int, total: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes`` of ``total`` (Wilson 1927; Newcombe 1998, method 3).

    Unlike the normal approximation it stays inside 0–1 and is not empty at 0 or ``total``.
    """
    if total <= 0 or not 0 <= successes <= total:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == total else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Proportion:
    """``part`` of ``whole`` patients with its Wilson 95% interval; suppressed below ``SMALL_GROUP``."""

    part: int
    whole: int

    @property
    def suppressed(self) -> bool:
        return self.whole < SMALL_GROUP

    @property
    def percent(self) -> int | None:
        return None if self.suppressed else round(self.part * 100 / self.whole)

    @property
    def interval(self) -> tuple[int, int] | None:
        bounds = None if self.suppressed else wilson(self.part, self.whole)
        return None if bounds is None else (round(bounds[0] * 100), round(bounds[1] * 100))

    def __str__(self) -> str:
        if self.suppressed:
            return SMALL_GROUP_TEXT
        interval = self.interval
        if interval is None:  # counts that make no share (a part over the whole): no interval to give
            return f"{self.part} of {self.whole}"
        low, high = interval
        return f"{self.part} of {self.whole} ({self.percent}%, 95% CI {low}–{high}%)"


def small_count(count: int) -> str:
    """A count of patients as shown: "<5" for 1–4 (a small group is never shown exactly)."""
    return SMALL_COUNT_TEXT if 0 < count < SMALL_GROUP else str(count)


@dataclass(frozen=True)
class SurvivalStep:
    """The Kaplan–Meier estimate just after ``time``: at risk before it, events and censored at it."""

    time: int
    at_risk: int
    events: int
    censored: int
    survival: float


def kaplan_meier(times: Sequence[int], events: Sequence[bool]) -> list[SurvivalStep]:
    """Kaplan–Meier product-limit estimate (Kaplan and Meier, JASA 1958).

    ``times[i]``: days from the start to the event or to censoring; ``events[i]``: True for the event
    (stopping), False for censored (still on treatment at the last record). At a tie, events come before
    censoring (the censored are still at risk at that time). One step per distinct time.
    """
    if len(times) != len(events):
        raise ValueError("times and events differ in length")
    at_risk = len(times)
    survival = 1.0
    steps = []
    for time in sorted(set(times)):
        happened = sum(1 for t, e in zip(times, events, strict=True) if t == time and e)
        censored = sum(1 for t, e in zip(times, events, strict=True) if t == time and not e)
        if happened:
            survival *= 1 - happened / at_risk
        steps.append(SurvivalStep(time, at_risk, happened, censored, survival))
        at_risk -= happened + censored
    return steps


def survival_at(steps: Sequence[SurvivalStep], time: int) -> float | None:
    """The estimate at ``time``; None past the last observed time (the curve is not defined there)."""
    if not steps or time > steps[-1].time:
        return None
    value = 1.0
    for step in steps:
        if step.time > time:
            break
        value = step.survival
    return value


def at_risk_at(steps: Sequence[SurvivalStep], time: int) -> int:
    """How many were still followed (neither stopped nor censored) just before ``time``."""
    for step in steps:
        if step.time >= time:
            return step.at_risk
    return 0


def retained_by(times: Sequence[int], events: Sequence[bool], days: int) -> Proportion:
    """Of the patients followed ``days`` days or who stopped before, how many were still on treatment.

    A simple proportion with a denominator, beside the Kaplan–Meier estimate: a patient censored before
    ``days`` is left out of both parts.
    """
    known = [(t, e) for t, e in zip(times, events, strict=True) if t >= days or e]
    return Proportion(sum(1 for t, e in known if not (e and t < days)), len(known))
