"""Response to treatment: pain now against pain at baseline, classified by the IMMPACT thresholds.

Pure functions of plain values. Thresholds from the clinical reference ("Outcome measures"; Dworkin et al.,
J Pain 2008; Farrar et al., Pain 2001): a reduction of at least 30% from baseline is a meaningful
(moderately important) improvement, at least 50% a substantial one, and about 2 points on the 0–10 scale is
the minimal clinically important difference.

A response is only claimed when it can mean something:

* at least one taken dose, and at least two check-ins from ``EFFECT_AFTER_DAYS`` days after the first dose
  (before that, pain has not had time to answer the treatment);
* the baseline is the last check-in on or before the first dose, at most ``BASELINE_MAX_DAYS_BEFORE`` days
  before it; otherwise the first check-in during treatment is the baseline, and the page says so, with its
  date (an older check-in is never used silently);
* current pain is the mean of those check-ins within the last ``CURRENT_WINDOW_DAYS`` days.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

MEANINGFUL_REDUCTION = Fraction(30, 100)
SUBSTANTIAL_REDUCTION = Fraction(50, 100)
MCID_POINTS = 2  # IMMPACT: about 2 NRS points is the minimal clinically important difference
CURRENT_WINDOW_DAYS = 14
EFFECT_AFTER_DAYS = 14
MIN_CHECKINS_ON_TREATMENT = 2
BASELINE_MAX_DAYS_BEFORE = 30

NO_DOSE = "no dose taken yet"
TOO_FEW_ON_TREATMENT = "it needs at least two check-ins from {day} (14 days after the first dose)"
NONE_RECENT = "no check-in in the last 14 days"
NO_BASELINE = "no check-in before the current ones to compare with"


class ResponseClass(StrEnum):
    NOT_ENOUGH_DATA = "not enough data"
    BASELINE_ZERO = "no pain at baseline"
    BELOW_MCID = "below the minimal clinically important difference (a change of less than 2 points)"
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
    first_dose_day: datetime.date | None = None
    baseline_during_treatment: bool = False
    # A check-in before the first dose that was too old to be the baseline (shown, never used).
    too_old_baseline: PainReading | None = None
    why_not: str = ""  # why there is not enough data

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


def pick_baseline(
    readings: Sequence[PainReading], first_dose_day: datetime.date
) -> tuple[PainReading | None, PainReading | None]:
    """The last reading on or before the first dose if it is at most 30 days before it; and, when there
    is an older one instead, that one (too old to be the baseline)."""
    before = [r for r in sorted(readings, key=lambda r: r.day) if r.day <= first_dose_day]
    if not before:
        return None, None
    last = before[-1]
    if (first_dose_day - last.day).days <= BASELINE_MAX_DAYS_BEFORE:
        return last, None
    return None, last


def classify(baseline: int, current: Fraction) -> ResponseClass:
    if baseline == 0:
        return ResponseClass.BASELINE_ZERO
    if abs(current - baseline) < MCID_POINTS:
        return ResponseClass.BELOW_MCID
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
    """Classify the response to treatment, or say why there is not enough data (see the module's rules)."""
    if first_dose_day is None:
        return Response(ResponseClass.NOT_ENOUGH_DATA, why_not=NO_DOSE)
    ordered = sorted((r for r in readings if r.day <= today), key=lambda r: r.day)
    effect_from = first_dose_day + datetime.timedelta(days=EFFECT_AFTER_DAYS)
    on_treatment = [r for r in ordered if r.day >= effect_from]
    baseline, too_old = pick_baseline(ordered, first_dose_day)
    response = functools.partial(Response, first_dose_day=first_dose_day, too_old_baseline=too_old)
    if len(on_treatment) < MIN_CHECKINS_ON_TREATMENT:
        why = TOO_FEW_ON_TREATMENT.format(day=f"{effect_from:%-d %b %Y}")
        return response(ResponseClass.NOT_ENOUGH_DATA, baseline=baseline, why_not=why)
    window_start = today - datetime.timedelta(days=CURRENT_WINDOW_DAYS - 1)
    current = [r for r in on_treatment if r.day >= window_start]
    if not current:
        return response(ResponseClass.NOT_ENOUGH_DATA, baseline=baseline, why_not=NONE_RECENT)
    during = False
    if baseline is None:
        during_treatment = [r for r in ordered if first_dose_day < r.day < current[0].day]
        if not during_treatment:
            return response(ResponseClass.NOT_ENOUGH_DATA, why_not=NO_BASELINE)
        baseline, during = during_treatment[0], True
    mean = Fraction(sum(r.score for r in current), len(current))
    return response(
        classify(baseline.score, mean),
        baseline=baseline,
        current_mean=mean,
        current_count=len(current),
        baseline_during_treatment=during,
    )


# PGIC (Patient Global Impression of Change), 7 points (clinical reference, "Outcome measures").
PGIC_LABELS = {
    1: "Very much improved",
    2: "Much improved",
    3: "Minimally improved",
    4: "No change",
    5: "Minimally worse",
    6: "Much worse",
    7: "Very much worse",
}
PGIC_RESPONDER_MAX = 3  # Bruun-Plesner et al. counted 1–3 (minimally improved or better) as responders


def is_responder(classification: ResponseClass, pgic: int | None = None) -> bool:
    """A responder: at least 30% less pain (a meaningful or substantial response), or a PGIC of 1–3.

    Clinical reference, "Outcome measures": IMMPACT's ≥30% reduction; PGIC 1–3 as responders
    (Bruun-Plesner et al.). A PGIC of 4 ("no change") or worse is not a response by itself.
    """
    if classification in (ResponseClass.MEANINGFUL, ResponseClass.SUBSTANTIAL):
        return True
    return pgic is not None and 1 <= pgic <= PGIC_RESPONDER_MAX
