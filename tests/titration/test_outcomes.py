"""Response to treatment on its edges (IMMPACT thresholds)."""

import datetime
from fractions import Fraction

from titration.outcomes import PainReading, ResponseClass, assess_response, classify, pick_baseline

TODAY = datetime.date(2026, 6, 30)
FIRST_DOSE = datetime.date(2026, 3, 1)


def r(day: str, score: int) -> PainReading:
    return PainReading(datetime.date.fromisoformat(day), score)


def test_no_checkins_is_not_enough_data():
    response = assess_response([], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.classification is ResponseClass.NOT_ENOUGH_DATA
    assert response.baseline is None
    assert response.change_percent is None


def test_a_baseline_without_recent_checkins_is_not_enough_data():
    response = assess_response([r("2026-02-27", 8)], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.classification is ResponseClass.NOT_ENOUGH_DATA
    assert response.baseline == r("2026-02-27", 8)


def test_the_baseline_is_the_last_checkin_on_or_before_the_first_dose():
    readings = [r("2026-02-01", 9), r("2026-03-01", 7), r("2026-03-02", 5)]
    assert pick_baseline(readings, FIRST_DOSE) == r("2026-03-01", 7)


def test_without_a_checkin_before_the_first_dose_the_first_checkin_is_the_baseline():
    readings = [r("2026-03-10", 6), r("2026-03-05", 8)]
    assert pick_baseline(readings, FIRST_DOSE) == r("2026-03-05", 8)
    assert pick_baseline(readings, None) == r("2026-03-05", 8)


def test_current_pain_is_the_mean_of_the_last_14_days():
    # The window is the 14 days 17–30 June: 16 June is one day too early.
    readings = [r("2026-02-28", 8), r("2026-06-16", 0), r("2026-06-17", 3), r("2026-06-30", 6)]
    response = assess_response(readings, first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.current_mean == Fraction(9, 2)
    assert response.current_count == 2


def test_exactly_30_percent_is_a_meaningful_response():
    response = assess_response([r("2026-02-28", 10), r("2026-06-29", 7)], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.change_percent == -30
    assert response.change_points == -3
    assert response.classification is ResponseClass.MEANINGFUL


def test_just_under_30_percent_is_no_meaningful_response():
    readings = [r("2026-02-28", 10), r("2026-06-29", 7), r("2026-06-30", 8)]  # mean 7.5: 25% less
    assert assess_response(readings, first_dose_day=FIRST_DOSE, today=TODAY).classification is ResponseClass.NO_RESPONSE


def test_exactly_50_percent_is_a_substantial_response():
    response = assess_response([r("2026-02-28", 8), r("2026-06-29", 4)], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.change_percent == -50
    assert response.classification is ResponseClass.SUBSTANTIAL


def test_worse_pain_is_said_plainly():
    response = assess_response([r("2026-02-28", 4), r("2026-06-29", 6)], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.classification is ResponseClass.WORSE
    assert response.change_percent == 50


def test_a_baseline_of_zero_has_no_percent_change():
    response = assess_response([r("2026-02-28", 0), r("2026-06-29", 3)], first_dose_day=FIRST_DOSE, today=TODAY)
    assert response.classification is ResponseClass.BASELINE_ZERO
    assert response.change_points == 3
    assert response.change_percent is None


def test_classify_uses_exact_fractions():
    assert classify(3, Fraction(21, 10)) is ResponseClass.MEANINGFUL  # exactly 30% of 3
    assert classify(3, Fraction(1, 1)) is ResponseClass.SUBSTANTIAL
