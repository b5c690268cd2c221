"""The pure dose rules, edge by edge."""

import datetime
from decimal import Decimal

import pytest

from titration import rules
from titration.rules import FlagKind, Schedule, Severity


def d(text: str) -> Decimal:
    return Decimal(text)


class TestParseDose:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("0.5", "0.5"),
            ("4.5", "4.5"),
            ("0.49", "0.49"),
            ("4.51", "4.51"),
            ("50", "50"),
            (" 1.5 ", "1.5"),
            ("1.50", "1.5"),
            ("3 mg", "3"),
            ("0.01", "0.01"),
        ],
    )
    def test_accepts_numbers_within_the_hard_limits(self, raw, expected):
        assert rules.parse_dose(raw) == d(expected)

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("abc", rules.NOT_A_NUMBER),
            ("", rules.NOT_A_NUMBER),
            ("NaN", rules.NOT_A_NUMBER),
            ("Infinity", rules.NOT_A_NUMBER),
            ("1,5", rules.DECIMAL_COMMA),
            ("0", rules.NOT_POSITIVE),
            ("0.00", rules.NOT_POSITIVE),
            ("-1", rules.NOT_POSITIVE),
            ("1.234", rules.TOO_MANY_PLACES),
            ("50.01", rules.ABOVE_HARD_MAX),
            ("500", rules.ABOVE_HARD_MAX),
            ("1e-5", rules.NOT_A_NUMBER),
            ("1e1", rules.NOT_A_NUMBER),
            ("1_5", rules.NOT_A_NUMBER),
            ("0_3", rules.NOT_A_NUMBER),
            ("+1", rules.NOT_A_NUMBER),
            ("1.5.1", rules.NOT_A_NUMBER),
            ("٣", rules.NOT_A_NUMBER),
        ],
    )
    def test_refuses_what_can_never_be_a_dose(self, raw, message):
        with pytest.raises(rules.DoseError) as caught:
            rules.parse_dose(raw)
        assert str(caught.value) == message


class TestRange:
    @pytest.mark.parametrize("dose", ["0.5", "1", "4.5"])
    def test_the_ldn_range_includes_its_bounds(self, dose):
        assert rules.out_of_range_message(d(dose)) is None

    def test_below_the_range(self):
        assert rules.out_of_range_message(d("0.49")) == "0.49 mg is below the LDN range of 0.5–4.5 mg."

    def test_above_the_range(self):
        assert rules.out_of_range_message(d("4.51")) == "4.51 mg is above the LDN range of 0.5–4.5 mg."
        assert rules.out_of_range_message(d("4.8")) == "4.8 mg is above the LDN range of 0.5–4.5 mg."


class TestFormatDose:
    @pytest.mark.parametrize(
        ("dose", "text"),
        [
            ("0.5", "0.5 mg"),
            ("0.50", "0.5 mg"),
            ("1.5", "1.5 mg"),
            ("1.50", "1.5 mg"),
            ("3.0", "3 mg"),
            ("3.00", "3 mg"),
            ("4", "4 mg"),
            ("10", "10 mg"),
            ("50.00", "50 mg"),
            ("0.05", "0.05 mg"),
        ],
    )
    def test_leading_zero_and_no_trailing_zeros(self, dose, text):
        assert rules.format_dose(d(dose)) == text

    def test_no_dose(self):
        assert rules.format_dose(None) == "—"


LOW_SLOW = Schedule(
    start_date=datetime.date(2026, 1, 1),
    starting_dose_mg=d("0.5"),
    step_mg=d("0.5"),
    step_interval_days=7,
    target_dose_mg=d("4.5"),
)


class TestScheduledDose:
    @pytest.mark.parametrize(
        ("day", "dose"),
        [
            (datetime.date(2025, 12, 31), None),  # before the plan starts
            (datetime.date(2026, 1, 1), "0.5"),  # first day
            (datetime.date(2026, 1, 7), "0.5"),  # last day of the first step
            (datetime.date(2026, 1, 8), "1"),  # first step up
            (datetime.date(2026, 1, 15), "1.5"),
            (datetime.date(2026, 2, 26), "4.5"),  # 8 steps of 7 days: target reached 56 days after the start
            (datetime.date(2026, 2, 25), "4"),
            (datetime.date(2027, 1, 1), "4.5"),  # holds at target
        ],
    )
    def test_steps_every_interval_up_to_the_target(self, day, dose):
        expected = None if dose is None else d(dose)
        assert rules.scheduled_dose(LOW_SLOW, day) == expected

    def test_a_target_between_steps_is_not_overshot(self):
        schedule = Schedule(datetime.date(2026, 1, 1), d("1.5"), d("1.5"), 14, d("4"))
        assert rules.scheduled_dose(schedule, datetime.date(2026, 1, 29)) == d("4")

    def test_a_plan_can_step_down(self):
        schedule = Schedule(datetime.date(2026, 1, 1), d("4.5"), d("1"), 7, d("1.5"))
        assert rules.scheduled_dose(schedule, datetime.date(2026, 1, 8)) == d("3.5")
        assert rules.scheduled_dose(schedule, datetime.date(2026, 3, 1)) == d("1.5")

    def test_a_fixed_dose_plan_holds(self):
        schedule = Schedule(datetime.date(2026, 1, 1), d("3"), d("0"), 7, d("3"))
        assert rules.scheduled_dose(schedule, datetime.date(2026, 6, 1)) == d("3")
        assert rules.next_step(schedule, datetime.date(2026, 6, 1)) is None

    def test_next_step(self):
        assert rules.next_step(LOW_SLOW, datetime.date(2026, 1, 3)) == (datetime.date(2026, 1, 8), d("1"))
        assert rules.next_step(LOW_SLOW, datetime.date(2026, 1, 8)) == (datetime.date(2026, 1, 15), d("1.5"))
        assert rules.next_step(LOW_SLOW, datetime.date(2026, 3, 1)) is None
        assert rules.next_step(LOW_SLOW, datetime.date(2025, 12, 1)) == (datetime.date(2026, 1, 1), d("0.5"))

    def test_steps_up_on(self):
        assert rules.steps_up_on(LOW_SLOW, datetime.date(2026, 1, 8))
        assert not rules.steps_up_on(LOW_SLOW, datetime.date(2026, 1, 9))
        assert not rules.steps_up_on(LOW_SLOW, datetime.date(2026, 1, 1))  # the start is not a step-up
        assert not rules.steps_up_on(LOW_SLOW, datetime.date(2026, 3, 4))  # at target


def kinds(findings):
    return [(f.kind, f.severity) for f in findings]


class TestEvaluateDose:
    def test_a_dose_on_schedule_raises_nothing(self):
        assert rules.evaluate_dose(d("1"), previous_dose=d("0.5"), plan_step_mg=d("0.5"), scheduled_mg=d("1")) == []

    def test_tenfold_up_is_critical(self):
        findings = rules.evaluate_dose(d("15"), previous_dose=d("1.5"), plan_step_mg=None, scheduled_mg=None)
        assert kinds(findings) == [
            (FlagKind.TENFOLD_CHANGE, Severity.CRITICAL),
            (FlagKind.OUT_OF_RANGE, Severity.WARNING),
        ]
        assert "decimal slip" in findings[0].message

    def test_tenfold_down_is_critical(self):
        findings = rules.evaluate_dose(d("0.05"), previous_dose=d("0.5"), plan_step_mg=None, scheduled_mg=None)
        assert (FlagKind.TENFOLD_CHANGE, Severity.CRITICAL) in kinds(findings)

    def test_just_under_tenfold_is_not_critical(self):
        findings = rules.evaluate_dose(d("4.49"), previous_dose=d("0.45"), plan_step_mg=None, scheduled_mg=None)
        assert FlagKind.TENFOLD_CHANGE not in [f.kind for f in findings]

    def test_a_step_larger_than_the_plans_is_a_warning(self):
        findings = rules.evaluate_dose(d("2"), previous_dose=d("1"), plan_step_mg=d("0.5"), scheduled_mg=None)
        assert kinds(findings) == [(FlagKind.STEP_TOO_LARGE, Severity.WARNING)]
        assert findings[0].message == "Step up of 1 mg from 1 mg is larger than the plan step of 0.5 mg."

    def test_a_step_equal_to_the_plans_is_fine(self):
        assert rules.evaluate_dose(d("1.5"), previous_dose=d("1"), plan_step_mg=d("0.5"), scheduled_mg=None) == []

    def test_without_a_plan_the_step_limit_is_1_5_mg(self):
        assert rules.evaluate_dose(d("3"), previous_dose=d("1.5"), plan_step_mg=None, scheduled_mg=None) == []
        findings = rules.evaluate_dose(d("3.01"), previous_dose=d("1.5"), plan_step_mg=None, scheduled_mg=None)
        assert kinds(findings) == [(FlagKind.STEP_TOO_LARGE, Severity.WARNING)]

    def test_a_step_down_is_not_a_step_too_large(self):
        assert rules.evaluate_dose(d("1"), previous_dose=d("4.5"), plan_step_mg=d("0.5"), scheduled_mg=None) == []

    def test_off_schedule_is_info(self):
        findings = rules.evaluate_dose(d("1"), previous_dose=d("1"), plan_step_mg=d("0.5"), scheduled_mg=d("1.5"))
        assert kinds(findings) == [(FlagKind.OFF_SCHEDULE, Severity.INFO)]

    @pytest.mark.parametrize(("dose", "flagged"), [("0.49", True), ("0.5", False), ("4.5", False), ("4.51", True)])
    def test_out_of_range_edges(self, dose, flagged):
        findings = rules.evaluate_dose(d(dose), previous_dose=None, plan_step_mg=None, scheduled_mg=None)
        assert ((FlagKind.OUT_OF_RANGE, Severity.WARNING) in kinds(findings)) is flagged

    def test_the_first_dose_has_no_previous_to_compare(self):
        assert rules.evaluate_dose(d("4.5"), previous_dose=None, plan_step_mg=None, scheduled_mg=None) == []


def test_off_schedule_is_not_added_when_another_flag_explains_the_dose():
    findings = rules.evaluate_dose(d("15"), previous_dose=d("1.5"), plan_step_mg=d("0.5"), scheduled_mg=d("2"))
    assert FlagKind.OFF_SCHEDULE not in [f.kind for f in findings]
    assert FlagKind.TENFOLD_CHANGE in [f.kind for f in findings]
