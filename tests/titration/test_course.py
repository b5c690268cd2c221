"""The patient-paced course, edge by edge: plain values in, expected doses and derived flags out."""

import datetime
import json
from decimal import Decimal

import pytest

from titration import course
from titration.rules import FlagKind, PlanState, PlanTerms, Severity

D = Decimal
START = datetime.date(2026, 1, 5)
LOW_SLOW = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"))


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n)


def walk(doses: dict[int, str | None], plans=(LOW_SLOW,), gap=7) -> course.Course:
    """``doses``: day number → dose taken ("missed" for a missed entry)."""
    entries = [
        course.EntryFact(n, day(n), dose != "missed", None if dose == "missed" else D(dose))
        for n, dose in sorted(doses.items())
    ]
    return course.walk(entries, list(plans), gap)[1]


def flags(doses: dict[int, str], plans=(LOW_SLOW,), gap=7) -> list[tuple[str, int, int | None]]:
    entries = [
        course.EntryFact(n, day(n), dose != "missed", None if dose == "missed" else D(dose))
        for n, dose in sorted(doses.items())
    ]
    assessed, _ = course.walk(entries, list(plans), gap)
    return [(f.kind.value, f.severity, f.entry_id) for f in course.derive_flags(assessed)]


def test_before_any_dose_the_plan_s_starting_dose_is_expected_whatever_the_calendar():
    assert walk({}).context_on(day(30)).expected == D("0.5")


def test_a_step_falls_due_an_interval_after_the_patient_reached_the_current_step():
    on_time = walk(dict.fromkeys(range(3, 10), "0.5"))  # started three days late
    assert on_time.context_on(day(9)).expected == D("0.5")
    assert on_time.context_on(day(10)).expected == D("1")  # 7 days after reaching 0.5 mg on day 3


def test_a_due_step_stays_due_until_the_step_dose_is_taken():
    stuck = walk(dict.fromkeys(range(0, 20), "0.5"))
    assert stuck.context_on(day(20)).expected == D("1")
    assert stuck.pending_step(day(20)) == D("1")
    taken = walk({**dict.fromkeys(range(0, 20), "0.5"), 20: "1"})
    assert taken.pending_step(day(21)) is None
    assert taken.next_step(day(21)) == (day(27), D("1.5"))


def test_a_patient_below_the_step_is_expected_one_plan_step_above_the_last_accepted_dose():
    dropped = walk({**dict.fromkeys(range(0, 7), "0.5"), **dict.fromkeys(range(7, 14), "1"), 14: "1.5", 15: "0.5"})
    assert dropped.context_on(day(16)).expected == D("1")  # not 1.5 (two steps above 0.5 mg)


def test_after_a_confirmed_dose_below_the_plan_s_start_the_starting_dose_is_expected():
    """1 mg reached, then 0.5 mg, then a confirmed 0.1 mg: the step that falls due does not jump back to 1.25 mg
    (three steps above the last dose), the patient starts again from the plan's starting dose."""
    plan = PlanTerms(1, START, D("0.5"), D("0.25"), 3, D("3"))
    assert walk({2: "1", 3: "0.5"}, plans=(plan,)).context_on(day(4)).expected == D("0.75")
    assert walk({2: "1", 3: "0.5", 4: "0.1"}, plans=(plan,)).context_on(day(5)).expected == D("0.5")


@pytest.mark.parametrize(("gap_days", "restarts"), [(6, False), (7, True)])
def test_after_the_clinic_s_gap_the_plan_restarts_at_its_starting_dose(gap_days, restarts):
    course_ = walk(dict.fromkeys(range(7, 14), "1") | dict.fromkeys(range(0, 7), "0.5"))
    back = day(13 + gap_days + 1)
    context = course_.context_on(back)
    assert (context.expected == D("0.5")) is restarts
    assert (context.restart_gap_days == gap_days) is restarts


def test_the_restart_gap_is_the_clinic_s_setting():
    course_ = walk(dict.fromkeys(range(0, 7), "0.5") | dict.fromkeys(range(7, 14), "1"), gap=14)
    assert course_.context_on(day(13 + 10)).expected == D("1.5")  # 9 days off: no restart at a 14-day setting


@pytest.mark.parametrize(("state", "expected"), [("holding", "1"), ("paused", None), ("stopped", None)])
def test_holding_expects_the_current_dose_and_paused_or_stopped_expect_none(state, expected):
    plan = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"), states=((day(10), PlanState(state)),))
    course_ = walk(dict.fromkeys(range(0, 7), "0.5") | dict.fromkeys(range(7, 10), "1"), plans=(plan,))
    assert course_.context_on(day(14)).expected == (None if expected is None else D(expected))
    assert course_.pending_step(day(14)) is None  # titrating, 1.5 mg would be due on day 14


def test_a_slip_is_never_the_reference_for_the_next_day():
    assert flags({0: "1.5", 1: "15", 2: "1.5"}, plans=()) == [
        ("tenfold_change", Severity.CRITICAL, 1),
        ("out_of_range", Severity.WARNING, 1),
    ]


def test_a_run_of_days_off_the_expected_dose_is_one_info_flag_on_its_first_day():
    doses = dict.fromkeys(range(0, 7), "0.5") | dict.fromkeys(range(7, 12), "0.5") | {12: "1"} | {13: "0.5"}
    assert flags(doses) == [("off_schedule", Severity.INFO, 7), ("off_schedule", Severity.INFO, 13)]


def test_holding_raises_no_off_schedule_note():
    plan = PlanTerms(1, START, D("1"), D("1"), 7, D("4.5"), states=((day(0), PlanState.HOLDING),))
    assert flags(dict.fromkeys(range(0, 60), "1"), plans=(plan,)) == []


@pytest.mark.parametrize(("missed", "warned"), [(2, False), (3, True)])
def test_three_or_more_consecutive_missed_days_are_one_adherence_warning(missed, warned):
    doses = {0: "0.5"} | dict.fromkeys(range(1, 1 + missed), "missed") | {1 + missed: "0.5"}
    expected = [("adherence", Severity.WARNING, 1)] if warned else []
    assert flags(doses) == expected


def test_the_prescriber_s_new_starting_dose_is_no_step_too_large():
    second = PlanTerms(2, day(10), D("3"), D("0.5"), 7, D("4.5"))
    first = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"), last_day=day(10))
    doses = dict.fromkeys(range(0, 7), "0.5") | dict.fromkeys(range(7, 10), "1") | {10: "3"}
    assert flags(doses, plans=(first, second)) == []
    stepped = dict.fromkeys(range(0, 7), "0.5") | dict.fromkeys(range(7, 10), "1") | {10: "3.5"}
    assert [f[0] for f in flags(stepped, plans=(first, second))] == [FlagKind.STEP_TOO_LARGE.value]


def test_a_position_stored_as_json_resumes_the_same_course():
    walked = walk(dict.fromkeys(range(0, 20), "0.5"))
    stored = course.Position.from_json(walked.position().as_json())
    assert course.Position.from_json(json.dumps(walked.position().as_json())) == stored  # as read from the column
    resumed = course.Course([LOW_SLOW], 7, stored)
    assert resumed.context_on(day(21)) == walked.context_on(day(21))
    assert resumed.pending_step(day(21)) == walked.pending_step(day(21)) == D("1")
