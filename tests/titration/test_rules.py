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
            ("0", "0"),  # a number: the assessment refuses it, the parser only reads it
            ("-1", "-1"),
            ("1.234", "1.234"),
            ("500", "500"),
        ],
    )
    def test_reads_plain_numbers(self, raw, expected):
        assert rules.parse_dose(raw) == d(expected)

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("abc", rules.NOT_A_NUMBER),
            ("", rules.NOT_A_NUMBER),
            ("NaN", rules.NOT_A_NUMBER),
            ("Infinity", rules.NOT_A_NUMBER),
            ("1,5", rules.DECIMAL_COMMA),
            ("1e-5", rules.NOT_A_NUMBER),
            ("1e1", rules.NOT_A_NUMBER),
            ("1_5", rules.NOT_A_NUMBER),
            ("0_3", rules.NOT_A_NUMBER),
            ("+1", rules.NOT_A_NUMBER),
            ("1.5.1", rules.NOT_A_NUMBER),
            ("٣", rules.NOT_A_NUMBER),
        ],
    )
    def test_refuses_what_is_not_a_number(self, raw, message):
        with pytest.raises(rules.DoseError) as caught:
            rules.parse_dose(raw)
        assert str(caught.value) == message


class TestHardLimits:
    @pytest.mark.parametrize(
        ("dose", "message"),
        [
            ("0", rules.NOT_POSITIVE),
            ("0.00", rules.NOT_POSITIVE),
            ("-1", rules.NOT_POSITIVE),
            ("1.234", rules.TOO_MANY_PLACES),
            ("50.01", rules.ABOVE_HARD_MAX),
            ("500", rules.ABOVE_HARD_MAX),
        ],
    )
    def test_the_assessment_refuses_what_can_never_be_a_dose(self, dose, message):
        day = datetime.date(2026, 3, 1)
        verdict = rules.assess_dose(
            dose=d(dose),
            day=day,
            taken=True,
            context=rules.DoseContext(),
            today=day,
            born=datetime.date(1980, 1, 1),
            day_has_entry=False,
            confirmed=True,
            override_reason="confirmed",
        )
        assert (verdict.outcome, verdict.message, verdict.problem) == (
            rules.Outcome.REFUSED,
            message,
            rules.Problem.DOSE,
        )

    @pytest.mark.parametrize("dose", ["0.01", "50", "50.00", "1.25"])
    def test_the_hard_limits_include_their_bounds(self, dose):
        assert rules.hard_limit_problem(d(dose)) is None


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


LOW_SLOW_TERMS = rules.PlanTerms(1, datetime.date(2026, 1, 1), d("0.5"), d("0.5"), 7, d("4.5"))
STEP_3_TO_4_5 = rules.PlanTerms(2, datetime.date(2026, 1, 1), d("1.5"), d("1.5"), 14, d("4.5"))


def ctx(**kwargs) -> rules.DoseContext:
    return rules.DoseContext(**kwargs)


def found(dose, context):
    return [(f.kind, f.severity) for f in rules.dose_findings(d(dose), context)]


CRIT = (FlagKind.TENFOLD_CHANGE, Severity.CRITICAL)
RANGE = (FlagKind.OUT_OF_RANGE, Severity.WARNING)
STEP = (FlagKind.STEP_TOO_LARGE, Severity.WARNING)
OFF = (FlagKind.OFF_SCHEDULE, Severity.INFO)


@pytest.mark.parametrize(
    ("dose", "context", "expected"),
    [
        # first dose against the plan's starting dose
        ("5", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), [CRIT, RANGE]),
        ("4.5", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), [STEP]),
        ("1", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), [OFF]),  # exactly one step above: info only
        ("1.01", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), [STEP]),
        ("0.5", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), []),
        ("0.05", ctx(plan=LOW_SLOW_TERMS, expected=d("0.5")), [CRIT, RANGE]),
        # the expected dose of a step-up day
        (
            "0.45",
            ctx(plan=STEP_3_TO_4_5, expected=d("4.5"), previous=d("3"), is_first=False),
            [CRIT, RANGE],
        ),
        ("4.5", ctx(plan=STEP_3_TO_4_5, expected=d("4.5"), previous=d("3"), is_first=False), []),
        # the previous accepted dose
        ("15", ctx(previous=d("1.5"), is_first=False), [CRIT, RANGE]),
        ("14.99", ctx(previous=d("1.5"), is_first=False), [RANGE, STEP]),
        ("0.15", ctx(previous=d("1.5"), is_first=False), [CRIT, RANGE]),
        ("0.16", ctx(previous=d("1.5"), is_first=False), [RANGE]),
        ("3", ctx(previous=d("1.5"), is_first=False), []),  # 1.5 mg: the usual largest step
        ("3.01", ctx(previous=d("1.5"), is_first=False), [STEP]),
        ("2", ctx(plan=LOW_SLOW_TERMS, expected=d("1.5"), previous=d("1"), is_first=False), [STEP]),
        ("1.5", ctx(plan=LOW_SLOW_TERMS, expected=d("1.5"), previous=d("1"), is_first=False), []),
        ("1", ctx(plan=LOW_SLOW_TERMS, expected=d("1.5"), previous=d("1"), is_first=False), [OFF]),
        # holding: no off-schedule note
        (
            "1",
            ctx(plan=LOW_SLOW_TERMS, state=rules.PlanState.HOLDING, expected=d("1"), previous=d("1"), is_first=False),
            [],
        ),
        # restart after a gap
        (
            "4.5",
            ctx(plan=LOW_SLOW_TERMS, expected=d("0.5"), previous=d("4.5"), is_first=False, restart_gap_days=12),
            [(FlagKind.RESTART_HIGH, Severity.WARNING)],
        ),
        (
            "0.5",
            ctx(plan=LOW_SLOW_TERMS, expected=d("0.5"), previous=d("4.5"), is_first=False, restart_gap_days=12),
            [],
        ),
        # range edges
        ("0.49", ctx(), [RANGE]),
        ("0.5", ctx(), []),
        ("4.5", ctx(), []),
        ("4.51", ctx(), [RANGE]),
    ],
)
def test_the_assessment_table(dose, context, expected):
    assert found(dose, context) == expected


@pytest.mark.parametrize(
    ("dose", "reference"),
    [
        ("15", "1.5"),
        ("0.15", "1.5"),
        ("5", "0.5"),
        ("0.05", "0.5"),
        ("45", "4.5"),
        ("0.45", "4.5"),
        ("30", "3"),
        ("0.3", "3"),
        ("10", "1"),
    ],
)
def test_every_true_tenfold_slip_is_critical(dose, reference):
    context = ctx(previous=d(reference), is_first=False)
    assert CRIT in found(dose, context)


def test_the_slip_message_names_the_reference_and_asks_what_was_meant():
    [slip] = [
        f
        for f in rules.dose_findings(
            d("0.45"), ctx(plan=STEP_3_TO_4_5, expected=d("4.5"), previous=d("3"), is_first=False)
        )
        if f.severity == Severity.CRITICAL
    ]
    assert "the expected dose for the day of 4.5 mg" in slip.message
    assert slip.message.endswith("did you mean 4.5 mg?")
    [slip45] = [f for f in rules.dose_findings(d("45"), ctx(previous=d("4.5"), is_first=False)) if f.severity == 30]
    assert slip45.message.endswith("did you mean 0.45 or 4.5 mg?")


def test_the_step_message_names_the_recorded_dose():
    [step] = rules.dose_findings(d("2"), ctx(plan=LOW_SLOW_TERMS, expected=d("1.5"), previous=d("1"), is_first=False))
    assert step.message == "2 mg is a step of 1 mg from 1 mg; the plan steps 0.5 mg."


def test_the_restart_message():
    context = ctx(plan=LOW_SLOW_TERMS, expected=d("0.5"), previous=d("4.5"), is_first=False, restart_gap_days=12)
    [finding] = rules.dose_findings(d("4.5"), context)
    assert finding.message == "Restarting after a 12-day gap at 4.5 mg; the plan restarts at 0.5 mg."


@pytest.mark.parametrize(
    ("dose", "confirmed", "reason", "outcome"),
    [
        ("1.5", False, "", rules.Outcome.ACCEPTED),
        ("15", False, "", rules.Outcome.NEEDS_CONFIRMATION),
        ("15", True, "", rules.Outcome.NEEDS_CONFIRMATION),
        ("15", True, "really meant", rules.Outcome.ACCEPTED),
        ("6", False, "", rules.Outcome.NEEDS_CONFIRMATION),
    ],
)
def test_assess_dose_asks_for_a_confirmation_with_a_reason(dose, confirmed, reason, outcome):
    day = datetime.date(2026, 3, 1)
    verdict = rules.assess_dose(
        dose=d(dose),
        day=day,
        taken=True,
        context=ctx(previous=d("1.5"), is_first=False),
        today=day,
        born=datetime.date(1980, 1, 1),
        day_has_entry=False,
        confirmed=confirmed,
        override_reason=reason,
    )
    assert verdict.outcome is outcome


def test_assess_dose_refuses_the_future_a_second_entry_and_a_taken_dose_without_amount():
    day = datetime.date(2026, 3, 1)
    common = {"taken": True, "context": ctx(), "today": day, "born": datetime.date(1980, 1, 1)}
    future = rules.assess_dose(dose=d("1"), day=day + datetime.timedelta(days=1), day_has_entry=False, **common)
    assert (future.outcome, future.message) == (rules.Outcome.REFUSED, rules.FUTURE_DAY)
    twice = rules.assess_dose(dose=d("1"), day=day, day_has_entry=True, **common)
    assert (twice.outcome, twice.message) == (rules.Outcome.REFUSED, rules.DUPLICATE_DAY)
    empty = rules.assess_dose(dose=None, day=day, day_has_entry=False, **common)
    assert empty.outcome is rules.Outcome.REFUSED


def test_a_missed_dose_is_never_range_checked():
    day = datetime.date(2026, 3, 1)
    verdict = rules.assess_dose(
        dose=d("45"),
        day=day,
        taken=False,
        context=ctx(),
        today=day,
        born=datetime.date(1980, 1, 1),
        day_has_entry=False,
    )
    assert verdict.accepted and verdict.findings == ()


class TestPlanProblems:
    TODAY = datetime.date(2026, 3, 9)
    BORN = datetime.date(1980, 6, 1)

    def problems(self, replaces=False, **changes):
        draft = {
            "start_date": self.TODAY,
            "starting_dose_mg": d("0.5"),
            "step_mg": d("0.5"),
            "step_interval_days": 7,
            "target_dose_mg": d("4.5"),
        }
        draft.update(changes)
        return rules.plan_problems(rules.PlanDraft(**draft), today=self.TODAY, born=self.BORN, replaces_a_plan=replaces)

    @pytest.mark.parametrize(
        ("changes", "part", "message"),
        [
            ({"starting_dose_mg": d("0.49")}, rules.PlanPart.STARTING_DOSE, rules.PLAN_DOSE_OUT_OF_RANGE),
            ({"target_dose_mg": d("4.51")}, rules.PlanPart.TARGET, rules.PLAN_DOSE_OUT_OF_RANGE),
            ({"step_mg": d("0.09")}, rules.PlanPart.STEP, rules.STEP_OUTSIDE_LIMITS),
            ({"step_mg": d("-0.5")}, rules.PlanPart.STEP, rules.STEP_OUTSIDE_LIMITS),
            ({"step_mg": d("4.51")}, rules.PlanPart.STEP, rules.STEP_OUTSIDE_LIMITS),
            ({"step_mg": d("1.51")}, rules.PlanPart.STEP_CONFIRMATION, rules.LARGE_STEP_NEEDS_CONFIRMATION),
            ({"step_mg": d("0"), "target_dose_mg": d("1")}, rules.PlanPart.TARGET, rules.FIXED_DOSE_TARGET),
            ({"step_interval_days": 2}, rules.PlanPart.INTERVAL, rules.INTERVAL_OUTSIDE_LIMITS),
            ({"step_interval_days": 91}, rules.PlanPart.INTERVAL, rules.INTERVAL_OUTSIDE_LIMITS),
            ({"liquid": True}, rules.PlanPart.CONCENTRATION, rules.LIQUID_NEEDS_CONCENTRATION),
            (
                {"liquid": True, "concentration_mg_per_ml": d("0.09")},
                rules.PlanPart.CONCENTRATION,
                rules.CONCENTRATION_OUTSIDE_LIMITS,
            ),
            (
                {"liquid": True, "concentration_mg_per_ml": d("10.01")},
                rules.PlanPart.CONCENTRATION,
                rules.CONCENTRATION_OUTSIDE_LIMITS,
            ),
            ({"start_date": datetime.date(1980, 5, 31)}, rules.PlanPart.START, rules.PLAN_STARTS_BEFORE_BIRTH),
            ({"start_date": datetime.date(2025, 3, 8)}, rules.PlanPart.START, rules.START_TOO_FAR_BACK),
            ({"start_date": datetime.date(2027, 3, 10)}, rules.PlanPart.START, rules.START_TOO_FAR_AHEAD),
        ],
    )
    def test_each_limit_refuses_just_past_its_bound(self, changes, part, message):
        assert self.problems(**changes) == [(part, message)]

    @pytest.mark.parametrize(
        "changes",
        [
            {"step_mg": d("0.1")},
            {"step_mg": d("1.5")},
            {"step_mg": d("0"), "starting_dose_mg": d("3"), "target_dose_mg": d("3")},
            {"step_mg": d("3"), "large_step_confirmed": True},
            {"step_interval_days": 3},
            {"step_interval_days": 90},
            {"liquid": True, "concentration_mg_per_ml": d("0.1")},
            {"liquid": True, "concentration_mg_per_ml": d("10")},
            {"start_date": datetime.date(2025, 3, 9)},  # exactly a year back
            {"start_date": datetime.date(2026, 3, 10)},  # tomorrow, with no plan to replace
        ],
    )
    def test_the_limits_include_their_bounds(self, changes):
        assert self.problems(**changes) == []

    def test_a_future_start_cannot_replace_an_active_plan(self):
        tomorrow = datetime.date(2026, 3, 10)
        assert self.problems(replaces=True, start_date=tomorrow) == [
            (rules.PlanPart.START, rules.FUTURE_START_WITH_ACTIVE_PLAN)
        ]


@pytest.mark.parametrize(
    ("severity", "note", "may", "may_critical", "problem"),
    [
        (Severity.CRITICAL, "checked with the patient", True, False, rules.CRITICAL_NEEDS_PRESCRIBER),
        (Severity.CRITICAL, "", True, True, rules.CRITICAL_NOTE_TOO_SHORT),
        (Severity.CRITICAL, "checked it", True, True, rules.CRITICAL_NOTE_TOO_SHORT),
        (Severity.CRITICAL, "checked it twice", True, True, None),
        (Severity.WARNING, "", True, False, None),
        (Severity.INFO, "", False, False, rules.ROLE_CANNOT_ACKNOWLEDGE),
    ],
)
def test_who_may_acknowledge_a_flag_and_with_what_note(severity, note, may, may_critical, problem):
    assert (
        rules.acknowledgement_problem(severity, note, may_acknowledge=may, may_acknowledge_critical=may_critical)
        == problem
    )


@pytest.mark.parametrize(("severity", "flagged"), [("mild", False), ("moderate", False), ("severe", True)])
def test_only_a_severe_side_effect_is_a_warning(severity, flagged):
    finding = rules.side_effect_finding("Insomnia", severity, datetime.date(2026, 3, 9))
    assert (finding is not None) is flagged
    if finding:
        assert (finding.kind, finding.severity) == (FlagKind.SEVERE_SIDE_EFFECT, Severity.WARNING)
        assert finding.message == "Severe insomnia reported at the check-in of 9 Mar 2026."
