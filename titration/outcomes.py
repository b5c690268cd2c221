"""Response to treatment: pain now against pain at baseline, classified by the IMMPACT thresholds.

Pure functions of plain values. Thresholds from the clinical reference ("Outcome measures"; Dworkin et al.,
J Pain 2008; Farrar et al., Pain 2001): a reduction of at least 30% from baseline is a meaningful
(moderately important) improvement, at least 50% a substantial one.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

MEANINGFUL_REDUCTION = Fraction(30, 100)
SUBSTANTIAL_REDUCTION = Fraction(50, 100)
CURRENT_WINDOW_DAYS = 14


class ResponseClass(StrEnum):
    NOT_ENOUGH_DATA = "not enough data"
    BASELINE_ZERO = "no pain at baseline"
    SUBSTANTIAL = "substantial response (≥50% less pain)"
    MEANINGFUL = "meaningful response (≥30% less pain)"
    NO_RESPONSE = "no meaningful response (<30% less pain)"
    WORSE = "pain is worse than at baseline"


@dataclass(frozen=True)
class PainReading:
    day: datetime.date
    score: int


@dataclass(frozen=True)
class Response:
    classification: ResponseClass
    baseline: PainReading | None = None
    current_mean: Fraction | None = None
    current_count: int = 0

    @property
    def change_points(self) -> Fraction | None:
        if self.baseline is None or self.current_mean is None:
            return None
        return self.current_mean - self.baseline.score

    @property
    def change_percent(self) -> Fraction | None:
        change = self.change_points
        if change is None or self.baseline is None or self.baseline.score == 0:
            return None
        return change * 100 / self.baseline.score

    @property
    def has_data(self) -> bool:
        return self.classification is not ResponseClass.NOT_ENOUGH_DATA


def pick_baseline(readings: Sequence[PainReading], first_dose_day: datetime.date | None) -> PainReading | None:
    """The last reading on or before the first dose of the current plan, else the first reading."""
    ordered = sorted(readings, key=lambda r: r.day)
    if not ordered:
        return None
    if first_dose_day is not None:
        before = [r for r in ordered if r.day <= first_dose_day]
        if before:
            return before[-1]
    return ordered[0]


def classify(baseline: int, current: Fraction) -> ResponseClass:
    if baseline == 0:
        return ResponseClass.BASELINE_ZERO
    reduction = (baseline - current) / baseline
    if reduction >= SUBSTANTIAL_REDUCTION:
        return ResponseClass.SUBSTANTIAL
    if reduction >= MEANINGFUL_REDUCTION:
        return ResponseClass.MEANINGFUL
    if reduction < 0:
        return ResponseClass.WORSE
    return ResponseClass.NO_RESPONSE


def assess_response(
    readings: Sequence[PainReading], *, first_dose_day: datetime.date | None, today: datetime.date
) -> Response:
    """Baseline against the mean of the readings of the last 14 days that come after the baseline."""
    baseline = pick_baseline(readings, first_dose_day)
    if baseline is None:
        return Response(ResponseClass.NOT_ENOUGH_DATA)
    window_start = today - datetime.timedelta(days=CURRENT_WINDOW_DAYS - 1)
    recent = [r.score for r in readings if window_start <= r.day <= today and r.day > baseline.day]
    if not recent:
        return Response(ResponseClass.NOT_ENOUGH_DATA, baseline=baseline)
    mean = Fraction(sum(recent), len(recent))
    return Response(classify(baseline.score, mean), baseline=baseline, current_mean=mean, current_count=len(recent))
