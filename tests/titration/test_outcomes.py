"""Response to treatment on its edges (IMMPACT thresholds, clinical reference "Outcome measures")."""

import datetime
from fractions import Fraction

import pytest

from titration import outcomes
from titration.outcomes import PainReading, ResponseClass, assess_response, classify, pick_baseline

TODAY = datetime.date(2026, 6, 30)
FIRST_DOSE = datetime.date(2026, 3, 1)
ON_TREATMENT = [("2026-06-20", 5), ("2026-06-29", 4)]  # two check-ins 14+ days after the first dose, recent


def r(day: str, score: int) -> PainReading:
    return PainReading(datetime.date.fromisoformat(day), score)


def assess(*readings: tuple[str, int], first_dose=FIRST_DOSE, today=TODAY):
    return assess_response([r(day, score) for day, score in readings], first_dose_day=first_dose, today=today)


def test_without_a_taken_dose_there_is_not_enough_data_whatever_the_check_ins_say():
    response = assess(("2026-06-01", 8), ("2026-06-29", 3), first_dose=None)
    assert response.classification is ResponseClass.NOT_ENOUGH_DATA
    assert response.why_not == outcomes.NO_DOSE


def test_one_check_in_a_day_after_the_first_dose_is_not_enough_data():
    response = assess(("2026-02-28", 8), ("2026-03-02", 3), today=datetime.date(2026, 3, 2))
    assert response.classification is ResponseClass.NOT_ENOUGH_DATA
    assert response.why_not == outcomes.TOO_FEW_ON_TREATMENT.format(day="15 Mar 2026")


@pytest.mark.parametrize(
    ("days", "enough"),
    [
        (["2026-03-14", "2026-03-20"], False),  # 13 days after the first dose: too early
        (["2026-03-15", "2026-03-20"], True),  # exactly 14 days after
        (["2026-03-20"], False),  # only one
    ],
)
def test_two_check_ins_from_14_days_after_the_first_dose_are_needed(days, enough):
    readings = [("2026-02-28", 8), *((day, 3) for day in days)]
    response = assess(*readings, today=datetime.date(2026, 3, 25))
    assert response.has_data is enough


def test_no_recent_check_in_is_not_enough_data():
    response = assess(("2026-02-28", 8), ("2026-04-01", 4), ("2026-04-08", 4))
    assert (response.classification, response.why_not) == (ResponseClass.NOT_ENOUGH_DATA, outcomes.NONE_RECENT)


@pytest.mark.parametrize(
    ("baseline_day", "used"),
    [("2026-03-01", True), ("2026-01-30", True), ("2026-01-29", False)],  # the first dose, 30 and 31 days before
)
def test_the_baseline_is_at_most_30_days_before_the_first_dose(baseline_day, used):
    baseline, too_old = pick_baseline([r(baseline_day, 8)], FIRST_DOSE)
    assert (baseline is not None, too_old is not None) == (used, not used)


def test_the_baseline_is_the_last_check_in_on_or_before_the_first_dose():
    readings = [r("2026-02-01", 9), r("2026-03-01", 7), r("2026-03-02", 5)]
    assert pick_baseline(readings, FIRST_DOSE) == (r("2026-03-01", 7), None)


def test_a_400_day_old_check_in_is_never_used_silently_as_the_baseline():
    response = assess(("2025-01-25", 8), ("2026-04-01", 6), *ON_TREATMENT)
    assert response.baseline == r("2026-04-01", 6)
    assert response.baseline_during_treatment
    assert response.too_old_baseline == r("2025-01-25", 8)
    assert response.classification is ResponseClass.BELOW_MCID  # 6 → 4.5: 1.5 points


def test_without_any_earlier_check_in_there_is_no_baseline():
    response = assess(*ON_TREATMENT)
    assert (response.classification, response.why_not) == (ResponseClass.NOT_ENOUGH_DATA, outcomes.NO_BASELINE)


def test_current_pain_is_the_mean_of_the_on_treatment_check_ins_of_the_last_14_days():
    # The window is the 14 days 17–30 June: 16 June is one day too early.
    response = assess(("2026-02-28", 8), ("2026-06-16", 0), ("2026-06-17", 3), ("2026-06-30", 6))
    assert response.current_mean == Fraction(9, 2)
    assert response.current_count == 2


def test_exactly_30_percent_is_a_meaningful_response():
    response = assess(("2026-02-28", 10), ("2026-06-28", 7), ("2026-06-29", 7))
    assert response.change_percent == -30
    assert response.change_points == -3
    assert response.classification is ResponseClass.MEANINGFUL


def test_just_under_30_percent_is_no_meaningful_response():
    response = assess(("2026-02-28", 10), ("2026-06-29", 7), ("2026-06-30", 8))  # mean 7.5: 25% and 2.5 points less
    assert response.classification is ResponseClass.NO_RESPONSE


def test_exactly_50_percent_is_a_substantial_response():
    response = assess(("2026-02-28", 8), ("2026-06-28", 4), ("2026-06-29", 4))
    assert response.change_percent == -50
    assert response.classification is ResponseClass.SUBSTANTIAL


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (3, Fraction(3, 2), ResponseClass.BELOW_MCID),  # 50% less, but 1.5 points
        (3, Fraction(1), ResponseClass.SUBSTANTIAL),  # 2 points: the difference is reached
        (8, Fraction(63, 10), ResponseClass.BELOW_MCID),  # 1.7 points
        (4, Fraction(59, 10), ResponseClass.BELOW_MCID),  # 1.9 points worse
        (4, Fraction(6), ResponseClass.WORSE),
    ],
)
def test_a_change_of_less_than_2_points_is_below_the_minimal_clinically_important_difference(
    baseline, current, expected
):
    assert classify(baseline, current) is expected


def test_worse_pain_is_said_plainly():
    response = assess(("2026-02-28", 4), ("2026-06-28", 6), ("2026-06-29", 6))
    assert response.classification is ResponseClass.WORSE
    assert response.change_percent == 50


def test_a_baseline_of_zero_has_no_percent_change():
    response = assess(("2026-02-28", 0), ("2026-06-28", 3), ("2026-06-29", 3))
    assert response.classification is ResponseClass.BASELINE_ZERO
    assert response.change_points == 3
    assert response.change_percent is None


def test_classify_uses_exact_fractions():
    assert classify(10, Fraction(7)) is ResponseClass.MEANINGFUL  # exactly 30% of 10
    assert classify(6, Fraction(3)) is ResponseClass.SUBSTANTIAL
