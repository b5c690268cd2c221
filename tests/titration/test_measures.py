"""The patient-level measures and the clinic statistics, on hand-made histories with known answers."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from titration import outcomes
from titration.measures import (
    CLASS_RANK,
    RESPONDER_CLASSES,
    DoseDay,
    Proportion,
    Reading,
    adherence,
    at_risk_at,
    best_on_checkin_days,
    kaplan_meier,
    median,
    response_on,
    response_summary,
    retained_by,
    small_count,
    survival_at,
    time_at_target,
    time_to_target,
    wilson,
)
from titration.outcomes import ResponseClass

START = datetime.date(2026, 1, 1)
TARGET = Decimal("4.5")


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n)


def taken(n: int, dose: str, target: Decimal = TARGET) -> DoseDay:
    return DoseDay(day(n), True, Decimal(dose), target)


def missed(n: int) -> DoseDay:
    return DoseDay(day(n), False, None, TARGET)


def low_slow(days: int) -> list[DoseDay]:
    """0.5 mg, +0.5 mg every 7 days to 4.5 mg, every day taken: the target is reached on day 56."""
    return [taken(n, str(min(Decimal("0.5") * (n // 7 + 1), TARGET))) for n in range(days)]


def test_time_to_target_counts_days_from_the_first_taken_dose_to_the_first_day_at_target() -> None:
    result = time_to_target([missed(0), *low_slow(70)[1:]])
    assert result.reached and result.days == 55 and result.reached_on == day(56)


def test_a_patient_who_never_reaches_target_has_not_reached_with_the_highest_dose() -> None:
    result = time_to_target([taken(0, "0.5"), taken(7, "1.5"), taken(8, "1"), missed(9)])
    assert not result.reached
    assert result.days is None and result.highest == Decimal("1.5")


def test_no_taken_dose_has_no_time_to_target() -> None:
    assert time_to_target([missed(0)]).highest is None


def test_time_at_target_counts_missed_and_absent_days_against_it() -> None:
    entries = [taken(0, "4.5"), taken(1, "4.5"), missed(2), taken(4, "4.5")]  # day 3: nothing recorded
    share = time_at_target(entries, end=day(4))
    assert share is not None and (share.part, share.whole) == (3, 5) and share.percent == 60


def test_time_at_target_counts_only_days_at_or_above_the_target() -> None:
    entries = [taken(0, "4.5"), taken(1, "3"), taken(2, "4.5", target=Decimal("3"))]
    share = time_at_target(entries, end=day(2))
    assert share is not None and (share.part, share.whole) == (2, 3)


def test_time_at_target_is_none_before_the_target_is_reached() -> None:
    assert time_at_target([taken(0, "0.5")], end=day(10)) is None


def test_adherence_counts_days_with_a_taken_dose_and_shows_gaps_and_restarts() -> None:
    # Taken days 0-4, a gap of 9 days (a restart), taken 14-15, missed 16, taken 17, nothing on 18-19.
    entries = [*(taken(n, "0.5") for n in range(5)), taken(14, "0.5"), taken(15, "0.5"), missed(16), taken(17, "1")]
    result = adherence(entries, end=day(19), restart_after_gap_days=7)
    assert result is not None
    assert (result.days.part, result.days.whole) == (8, 20)
    assert (result.gaps, result.restarts, result.longest_gap) == (3, 1, 9)


def test_a_gap_shorter_than_the_clinic_s_restart_setting_is_no_restart() -> None:
    result = adherence([taken(0, "1"), taken(7, "1")], end=day(7), restart_after_gap_days=7)
    assert result is not None and (result.gaps, result.restarts) == (1, 0)
    result = adherence([taken(0, "1"), taken(8, "1")], end=day(8), restart_after_gap_days=7)
    assert result is not None and result.restarts == 1


def test_adherence_without_a_taken_dose_is_none() -> None:
    assert adherence([missed(0)], end=day(3)) is None


def readings(*pairs: tuple[int, int] | tuple[int, int, int]) -> list[Reading]:
    return [Reading(day(p[0]), p[1], p[2] if len(p) == 3 else None) for p in pairs]  # type: ignore[misc]  # len() narrows


@pytest.mark.parametrize(
    ("current", "expected"),
    [(7, ResponseClass.MEANINGFUL), (8, ResponseClass.NO_RESPONSE), (5, ResponseClass.SUBSTANTIAL)],
)
def test_exactly_30_and_50_percent_less_pain_are_responses(current: int, expected: ResponseClass) -> None:
    history = readings((0, 10), (20, current), (27, current))
    classification, responder = response_on(history, first_dose=day(0), on=day(27))
    assert classification == expected
    assert responder is (expected != ResponseClass.NO_RESPONSE)


@pytest.mark.parametrize(("pgic", "responder"), [(1, True), (3, True), (4, False), (7, False), (None, False)])
def test_a_pgic_of_1_to_3_makes_a_responder_without_less_pain(pgic: int | None, responder: bool) -> None:
    history = readings((0, 6), (20, 6), (27, 6, pgic) if pgic else (27, 6))
    classification, result = response_on(history, first_dose=day(0), on=day(27))
    assert classification == ResponseClass.BELOW_MCID
    assert result is responder


def test_a_pgic_before_the_effect_window_does_not_count() -> None:
    history = readings((0, 6), (5, 6, 1), (20, 6), (27, 6))
    assert response_on(history, first_dose=day(0), on=day(27)) == (ResponseClass.BELOW_MCID, False)


def test_the_responder_rule_is_the_engine_s() -> None:
    assert outcomes.is_responder(ResponseClass.MEANINGFUL)
    assert not outcomes.is_responder(ResponseClass.NO_RESPONSE, 4)
    assert outcomes.is_responder(ResponseClass.WORSE, 3)


def test_the_response_summary_gives_the_best_and_latest_class_and_the_dose_of_the_first_30_percent() -> None:
    entries = low_slow(90)
    history = readings((0, 8), (21, 6), (28, 4), (35, 3), (70, 6), (77, 7))
    summary = response_summary(history, entries, today=day(80))
    assert summary.best == ResponseClass.SUBSTANTIAL  # day 35: 4 and 3, a mean of 3.5 against 8
    assert summary.latest == ResponseClass.BELOW_MCID  # days 70 and 77 in the last 14 days: mean 6.5
    assert summary.first_meaningful_on == day(28)  # 6 and 4: a mean of 5 against 8, 37.5% less
    assert summary.dose_at_meaningful == Decimal("2.5")
    assert not summary.responder


def test_without_a_taken_dose_the_response_has_not_enough_data() -> None:
    summary = response_summary(readings((0, 8), (21, 2), (28, 2)), [missed(0)], today=day(30))
    assert summary.best == summary.latest == ResponseClass.NOT_ENOUGH_DATA
    assert summary.dose_at_meaningful is None


def test_the_median_of_an_odd_and_an_even_count_and_of_none() -> None:
    assert median([5, 1, 3]) == 3
    assert median([4, 1, 3, 2]) == 2.5
    assert median([]) is None


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    # Newcombe, Stat Med 1998, table I, method 3 (the Wilson score interval).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_the_wilson_interval_matches_published_values(successes: int, total: int, low: float, high: float) -> None:
    bounds = wilson(successes, total)
    assert bounds is not None
    assert bounds[0] == pytest.approx(low, abs=5e-5) and bounds[1] == pytest.approx(high, abs=5e-5)


def test_the_wilson_interval_at_0_and_at_n_stays_inside_0_to_1_and_is_not_empty() -> None:
    none, every = wilson(0, 10), wilson(10, 10)
    assert none is not None and none[0] == 0.0 and 0.25 < none[1] < 0.35
    assert every is not None and every[1] == 1.0 and 0.65 < every[0] < 0.75
    assert wilson(0, 0) is None and wilson(3, 2) is None


def test_a_group_of_4_patients_is_suppressed_and_a_group_of_5_is_shown() -> None:
    assert str(Proportion(2, 4)) == "fewer than 5 patients" and Proportion(2, 4).percent is None
    assert str(Proportion(2, 5)) == "2 of 5 (40%, 95% CI 12–77%)"
    assert str(Proportion(12, 30)) == "12 of 30 (40%, 95% CI 25–58%)"
    assert [small_count(n) for n in (0, 1, 4, 5)] == ["0", "<5", "<5", "5"]


def test_kaplan_meier_against_a_hand_computed_example() -> None:
    # 6 patients: stopped on days 2, 3, 5 and 8; censored on days 3 and 6 (still on treatment at the last record).
    steps = kaplan_meier([2, 3, 3, 5, 6, 8], [True, True, False, True, False, True])
    assert [(s.time, s.at_risk, s.events, s.censored) for s in steps] == [
        (2, 6, 1, 0),
        (3, 5, 1, 1),
        (5, 3, 1, 0),
        (6, 2, 0, 1),
        (8, 1, 1, 0),
    ]
    assert [round(s.survival, 4) for s in steps] == [0.8333, 0.6667, 0.4444, 0.4444, 0.0]
    assert survival_at(steps, 0) == 1.0 and round(survival_at(steps, 4) or 0, 4) == 0.6667
    assert survival_at(steps, 9) is None
    assert at_risk_at(steps, 4) == 3


def test_kaplan_meier_with_everyone_censored_stays_at_1() -> None:
    steps = kaplan_meier([10, 20], [False, False])
    assert [s.survival for s in steps] == [1.0, 1.0]
    assert kaplan_meier([], []) == []


def test_retention_by_a_milestone_leaves_out_patients_censored_before_it() -> None:
    # Stopped on day 14 (week 2, side effects), stopped on day 200, censored on day 30, followed 400 days.
    share = retained_by([14, 200, 30, 400], [True, True, False, False], 91)
    assert (share.part, share.whole) == (2, 3)


@given(
    pains=st.lists(st.tuples(st.integers(0, 120), st.integers(0, 10)), max_size=25, unique_by=lambda p: p[0]),
    first=st.integers(0, 60),
    on=st.integers(0, 130),
)
def test_the_response_on_a_day_is_the_engine_s_assessment_of_the_whole_history(
    pains: list[tuple[int, int]], first: int, on: int
) -> None:
    history = readings(*pains)
    engine = outcomes.assess_response(
        [outcomes.PainReading(r.day, r.pain) for r in history], first_dose_day=day(first), today=day(on)
    )
    assert response_on(history, first_dose=day(first), on=day(on))[0] == engine.classification


@given(
    pains=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 10)), max_size=40, unique_by=lambda p: p[0]),
    first=st.integers(0, 60),
)
def test_the_best_response_and_its_first_day_are_those_of_every_check_in_day_assessed_in_full(
    pains: list[tuple[int, int]], first: int
) -> None:
    # The assessment stops at the first substantial response: no later day may change either answer.
    history = readings(*pains)
    pain = [outcomes.PainReading(r.day, r.pain) for r in history]
    effect_from = day(first + outcomes.EFFECT_AFTER_DAYS)
    assessed = [
        (reading.day, outcomes.assess_response(pain, first_dose_day=day(first), today=reading.day).classification)
        for reading in sorted(history, key=lambda r: r.day)
        if reading.day >= effect_from
    ]
    best = max((cls for _, cls in assessed), key=CLASS_RANK.__getitem__, default=ResponseClass.NOT_ENOUGH_DATA)
    first_meaningful = next((on for on, cls in assessed if cls in RESPONDER_CLASSES), None)
    assert best_on_checkin_days(history, first_dose=day(first)) == (best, first_meaningful)
