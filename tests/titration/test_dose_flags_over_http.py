"""The flags a titration raises, walked through the real forms over HTTP: tenfold slips, first doses, steps
due, holds, runs off the expected dose, missed entries, responses, and who may clear a critical flag.

One test per rule, named after it; the date is pinned (a Monday) and moved day by day where the story
needs it. The 90-day titration at the end counts every flag it raises, by kind and severity.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import Counter
from decimal import Decimal
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from titration import rules, services
from titration.models import DoseEntry, Flag, PlanStateChange

pytestmark = pytest.mark.django_db

D = Decimal


def ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


class Desk:
    """A clinician at the app: the real forms, posted over HTTP, signed in again after the clock moves."""

    def __init__(self, user, patient) -> None:
        self.user, self.patient = user, patient
        self.client = Client()
        self.client.force_login(user)

    def again(self) -> None:
        self.client = Client()
        self.client.force_login(self.user)

    @property
    def base(self) -> str:
        return f"/patients/{self.patient.pk}"

    def plan(self, start: datetime.date, starting="0.5", step="0.5", interval=7, target="4.5", **extra):
        data = {
            "preset": "custom",
            "start_date": start.isoformat(),
            "starting_dose_mg": starting,
            "step_mg": step,
            "step_interval_days": str(interval),
            "target_dose_mg": target,
            "formulation": "capsule",
            "dosing_time": "bedtime",
            **extra,
        }
        form = self.client.get(f"{self.base}/plan/").context["form"]
        if form.is_versioned:
            data.setdefault("version", form["version"].value())
        return self.client.post(f"{self.base}/plan/", data)

    def prefill(self) -> str:
        return self.client.get(f"{self.base}/doses/new/").context["form"].fields["dose_mg"].initial

    def dose(self, day: datetime.date, dose: str | None = None, status="taken", reason: str = ""):
        """Log a dose; with ``reason``, confirm it when asked (as a prescriber does after checking)."""
        data = {"taken_on": day.isoformat(), "dose_mg": dose or "", "formulation": "capsule", "status": status}
        response = self.client.post(f"{self.base}/doses/new/", data)
        if response.status_code == 200 and reason and response.context["form"].needs_confirmation:
            confirmed = {**data, "confirm_out_of_range": "on", "override_reason": reason, "confirmed_dose_mg": dose}
            response = self.client.post(f"{self.base}/doses/new/", confirmed)
        return response

    def doses(self, first: datetime.date, last: datetime.date, dose: str | None, status="taken") -> None:
        day = first
        while day <= last:
            assert self.dose(day, dose, status).status_code == 302, day
            day += datetime.timedelta(days=1)

    def take_prefill(self) -> str:
        dose = self.prefill()
        assert self.dose(timezone.localdate(), dose).status_code == 302
        return dose

    def state(self, state: str, reason: str):
        return self.client.post(f"{self.base}/plan/state/", {"state": state, "reason": reason})

    def void(self, entry: DoseEntry, reason: str):
        return self.client.post(f"{self.base}/doses/{entry.pk}/void/", {"reason": reason})

    def checkin(self, day: datetime.date, pain: int):
        response = self.client.post(f"{self.base}/checkins/new/", {"checked_on": day.isoformat(), "pain_score": pain})
        assert response.status_code == 302
        return response

    def page(self) -> str:
        return self.client.get(f"{self.base}/").content.decode()

    def dashboard(self):
        return self.client.get("/").context["dashboard"]

    def export(self) -> list[dict[str, str]]:
        body = b"".join(self.client.get(f"{self.base}/export.csv").streaming_content).decode()
        rows = list(csv.reader(io.StringIO(body)))
        # The patient's name, MRN and the export time head the file; the table starts at its "Date" header.
        start = next(i for i, row in enumerate(rows) if row and row[0] == "Date")
        return [dict(zip(rows[start], row, strict=True)) for row in rows[start + 1 :]]


@pytest.fixture
def desk(clock, prescriber, patient) -> Desk:
    return Desk(prescriber, patient)


@pytest.fixture
def nurse(clock, staff, patient) -> Desk:
    return Desk(staff, patient)


def flags_on(day: datetime.date) -> set[tuple[str, int]]:
    return set(
        Flag.objects.filter(dose_entry__taken_on=day, dose_entry__voided_at=None).values_list("kind", "severity")
    )


CRITICAL = (rules.FlagKind.TENFOLD_CHANGE.value, rules.Severity.CRITICAL)
RANGE = (rules.FlagKind.OUT_OF_RANGE.value, rules.Severity.WARNING)
STEP = (rules.FlagKind.STEP_TOO_LARGE.value, rules.Severity.WARNING)


# --- slips against the plan --------------------------------------------------------------------------------


def test_a_first_dose_of_5_mg_on_a_0_5_mg_plan_is_critical_not_a_warning(desk):
    desk.plan(ago(0))
    asked = desk.dose(ago(0), "5")
    message = "5 mg is ten times or more above the plan&#x27;s starting dose of 0.5 mg: did you mean 0.05 or 0.5 mg?"
    assert message in asked.content.decode()
    desk.dose(ago(0), "5", reason="checked with the pharmacy")
    assert flags_on(ago(0)) == {CRITICAL, RANGE}


def test_0_45_mg_on_the_day_the_plan_steps_from_3_to_4_5_mg_is_critical(desk):
    desk.plan(ago(14), starting="3", step="1.5", interval=14)
    desk.doses(ago(14), ago(1), "3")
    assert desk.prefill() == "4.5"  # the step falls due today
    asked = desk.dose(ago(0), "0.45")
    page = asked.content.decode()
    assert "Possible decimal slip" in page
    assert "the expected dose for the day of 4.5 mg: did you mean 4.5 mg?" in page
    desk.dose(ago(0), "0.45", reason="as written on the label")
    assert CRITICAL in flags_on(ago(0))


def test_a_first_dose_of_4_5_mg_on_a_0_5_mg_plan_is_a_warning_not_an_info_note(desk):
    desk.plan(ago(0))
    assert desk.dose(ago(0), "4.5").status_code == 302
    assert flags_on(ago(0)) == {STEP}
    flag = Flag.objects.get()
    assert flag.message == (
        "A first dose of 4.5 mg is more than one step above the plan's starting dose of 0.5 mg; the plan steps 0.5 mg."
    )


@pytest.mark.parametrize(
    ("previous", "slip"),
    [
        ("1.5", "15"),
        ("1.5", "0.15"),
        ("0.5", "5"),
        ("0.5", "0.05"),
        ("4.5", "45"),
        ("4.5", "0.45"),
        ("3", "30"),
        ("3", "0.3"),
        ("1", "10"),
    ],
)
def test_all_9_true_tenfold_slips_are_critical(desk, previous, slip):
    desk.dose(ago(1), previous, reason="checked")
    asked = desk.dose(ago(0), slip)
    assert asked.status_code == 200 and asked.context["form"].needs_confirmation  # never stored unconfirmed
    assert "did you mean" in asked.content.decode() or "check for a decimal slip" in asked.content.decode()
    desk.dose(ago(0), slip, reason="checked with the patient")
    assert CRITICAL in flags_on(ago(0))


# --- a schedule that follows the patient -------------------------------------------------------------------


def test_a_patient_held_at_1_mg_for_three_weeks_is_expected_one_step_up_and_the_suggestion_raises_no_warning(desk):
    desk.plan(ago(28))
    desk.doses(ago(28), ago(22), "0.5")
    desk.doses(ago(21), ago(1), "1")  # three weeks at 1 mg; the calendar would say 2.5 mg today
    # Held on purpose at the best-tolerated dose, the expected dose is the current one.
    assert desk.state("holding", "best-tolerated at 1 mg").status_code == 302
    assert "Expected today: <strong>1 mg</strong>" in desk.page()
    assert desk.prefill() == "1"
    # Titrating, it is one step above the patient, not the calendar's.
    assert desk.state("titrating", "ready for the next step").status_code == 302
    assert "Expected today: <strong>1.5 mg</strong>" in desk.page()
    assert desk.prefill() == "1.5"
    assert desk.dose(ago(0), "1.5").status_code == 302
    assert flags_on(ago(0)) == set()  # the app's own suggestion raises no "step too large"


def test_the_dashboard_proposes_the_next_step_from_the_dose_the_patient_is_really_on(desk, clock):
    desk.plan(ago(60))  # the calendar would be at 4.5 mg by now
    desk.doses(ago(60), ago(47), "0.5")
    desk.doses(ago(46), ago(25), "1")
    desk.doses(ago(24), ago(1), "1.5")  # on 1.5 mg for over 3 weeks: 2 mg is overdue
    assert desk.dashboard().due_step_up == [(desk.patient, D("2"))]
    assert "step up to 2 mg" in desk.client.get("/").content.decode()


def test_a_step_due_on_a_weekend_is_listed_on_monday_and_stays_listed_while_overdue(desk, clock):
    desk.plan(ago(9))  # a Saturday
    desk.doses(ago(9), ago(3), "0.5")  # the step to 1 mg falls due on Saturday; nothing logged that weekend
    assert ago(2).weekday() == 5
    assert desk.dashboard().due_step_up == [(desk.patient, D("1"))]
    clock.shift(datetime.timedelta(days=1))
    desk.again()
    assert desk.dashboard().due_step_up == [(desk.patient, D("1"))]  # overdue: listed again on Tuesday


def test_a_patient_who_logs_the_step_up_dose_leaves_the_step_up_list(desk):
    desk.plan(ago(7))
    desk.doses(ago(7), ago(1), "0.5")
    assert desk.dashboard().due_step_up == [(desk.patient, D("1"))]
    assert desk.take_prefill() == "1"
    assert desk.dashboard().due_step_up == []


# --- flags that reconcile ----------------------------------------------------------------------------------


def test_the_correct_dose_after_a_tenfold_slip_raises_no_false_critical(desk):
    desk.dose(ago(2), "1.5")
    desk.dose(ago(1), "15", reason="as written")
    assert CRITICAL in flags_on(ago(1))
    assert desk.dose(ago(0), "1.5").status_code == 302
    assert flags_on(ago(0)) == set()  # not "ten times below 15 mg": a slip is never the reference


def test_voiding_the_slip_closes_its_flags_everywhere_and_the_critical_count_goes_down(desk, nurse):
    desk.dose(ago(2), "1.5")
    desk.dose(ago(1), "15", reason="as written")
    assert dict(nurse.dashboard().open_flags_by_severity)["critical"] == 1
    slip = DoseEntry.objects.get(dose_mg=D("15"))
    assert desk.void(slip, "decimal slip: 1.5 mg was taken").status_code == 302
    assert set(slip.flags.values_list("closed_as", flat=True)) == {Flag.ClosedAs.ENTRY_VOIDED}
    assert dict(nurse.dashboard().open_flags_by_severity) == {"critical": 0, "warning": 0, "info": 0}
    assert "No open flags." in nurse.client.get(reverse("titration:flags")).content.decode()
    assert "No open flags." in nurse.page()
    assert desk.dose(ago(1), "1.5").status_code == 302  # the correct dose for the day: no flag
    assert flags_on(ago(1)) == set()


# --- alert fatigue -----------------------------------------------------------------------------------------


def test_a_deliberate_hold_at_the_best_tolerated_dose_raises_no_daily_info_flags(desk, clock):
    desk.plan(ago(0), starting="1", step="1", interval=7)  # the weekly 1 mg preset: "hold at the best-tolerated"
    for _ in range(14):
        desk.take_prefill()
        clock.shift(datetime.timedelta(days=1))
        desk.again()
    assert desk.state("holding", "best-tolerated dose: vivid dreams at 3 mg").status_code == 302
    for _ in range(76):  # to day 90 of the plan
        assert desk.take_prefill() == "2"
        clock.shift(datetime.timedelta(days=1))
        desk.again()
    assert Flag.objects.count() == 0


def test_days_off_the_expected_dose_in_a_row_are_one_info_flag_not_one_a_day(desk):
    desk.plan(ago(20))
    desk.doses(ago(20), ago(14), "0.5")
    desk.doses(ago(13), ago(0), "0.5")  # the step to 1 mg never taken: 14 days off the expected dose
    info = Flag.objects.filter(severity=rules.Severity.INFO)
    assert info.count() == 1
    assert info.get().message.startswith("14 consecutive days")


# --- non-adherence -----------------------------------------------------------------------------------------


def test_21_consecutive_missed_entries_raise_one_adherence_warning_and_list_the_patient(desk, nurse):
    desk.plan(ago(28))
    desk.doses(ago(28), ago(22), "0.5")
    desk.doses(ago(21), ago(1), None, status="missed")
    [flag] = Flag.objects.all()
    assert (flag.kind, flag.severity) == (rules.FlagKind.ADHERENCE, rules.Severity.WARNING)
    assert flag.message.startswith("21 consecutive missed doses")
    assert nurse.dashboard().adherence == [desk.patient]
    assert [p for p, _ in nurse.dashboard().stale] == [desk.patient]  # and no dose taken for 7 days


def test_a_missed_entry_carries_no_dose_anywhere(desk, nurse):
    desk.plan(ago(5))
    desk.doses(ago(5), ago(1), "0.5")
    assert desk.dose(ago(0), "45", status="missed").status_code == 302  # 45 typed, then "missed" chosen
    entry = DoseEntry.objects.get(taken_on=ago(0))
    assert entry.dose_mg is None
    assert "45 mg" not in nurse.page()
    assert nurse.export()[-1]["Dose (mg)"] == "" and nurse.export()[-1]["Status"].startswith("Missed")
    assert Flag.objects.count() == 0  # never range-checked


# --- response without treatment ----------------------------------------------------------------------------


@pytest.mark.parametrize("story", ["no plan", "plan set today", "only missed entries"])
def test_check_ins_of_8_then_3_without_treatment_are_not_a_substantial_response(desk, nurse, story):
    if story == "plan set today":
        desk.plan(ago(0))
    if story == "only missed entries":
        desk.plan(ago(20))
        desk.doses(ago(20), ago(0), None, status="missed")
    nurse.checkin(ago(20), 8)
    nurse.checkin(ago(1), 3)
    page = nurse.page()
    assert "Not enough data" in page and "no dose taken yet" in page
    assert "ubstantial" not in page


def test_one_check_in_a_day_after_the_first_dose_is_not_a_substantial_response(desk, nurse):
    desk.plan(ago(1))
    nurse.checkin(ago(1), 8)
    desk.dose(ago(1), "0.5")
    nurse.checkin(ago(0), 3)
    page = nurse.page()
    assert "Not enough data" in page and "ubstantial" not in page
    assert f"two check-ins from {ago(1) + datetime.timedelta(days=14):%-d %b %Y}" in page


def test_a_400_day_old_baseline_is_never_used_silently(desk, nurse):
    nurse.checkin(ago(430), 9)  # 400 days before the first dose
    desk.plan(ago(30))
    desk.doses(ago(30), ago(0), "0.5")
    nurse.checkin(ago(20), 7)
    nurse.checkin(ago(10), 4)
    nurse.checkin(ago(3), 3)
    page = nurse.page()
    assert f"Baseline during treatment pain <strong>7/10</strong> on {ago(20):%-d %b %Y}" in page
    assert f"the one of {ago(430):%-d %b %Y} is too old to compare with" in page
    assert "Change: −3.5 points (−50%)" in page


# --- acknowledgement by role -------------------------------------------------------------------------------


def test_only_a_prescriber_clears_a_critical_flag_and_only_with_a_note_of_a_few_words(desk, nurse):
    desk.dose(ago(1), "1.5")
    desk.dose(ago(0), "15", reason="as written")
    critical = Flag.objects.get(severity=rules.Severity.CRITICAL)
    url = reverse("titration:flag-acknowledge", args=[critical.pk])
    assert nurse.client.post(url, {"note": ""}).status_code == 403
    assert nurse.client.post(url, {"note": "phoned the patient, all fine"}).status_code == 403
    assert services.CRITICAL_NOTE_TOO_SHORT in desk.client.post(url, {"note": ""}, follow=True).content.decode()
    critical.refresh_from_db()
    assert critical.is_open
    desk.client.post(url, {"note": "Phoned: took 1.5 mg, typo"})
    critical.refresh_from_db()
    assert (critical.closed_as, critical.acknowledged_by) == (Flag.ClosedAs.ACKNOWLEDGED, desk.user)


# --- unsafe plans ------------------------------------------------------------------------------------------


def test_0_5_mg_plus_4_mg_every_day_to_4_5_mg_is_refused_and_cannot_silence_the_step_check(desk):
    response = desk.plan(ago(0), starting="0.5", step="4", interval=1, target="4.5")
    assert response.status_code == 200 and not desk.patient.plans.exists()
    assert desk.dose(ago(1), "0.5").status_code == 302
    desk.dose(ago(0), "4.5")
    assert STEP in flags_on(ago(0))  # without that plan, 4 mg in one step is a warning


@pytest.mark.parametrize(
    "plan",
    [
        {"step": "0.03"},
        {"formulation": "liquid", "liquid_concentration_mg_per_ml": "50"},
        {"formulation": "liquid", "liquid_concentration_mg_per_ml": "0.01"},
    ],
)
def test_a_step_of_0_03_mg_and_concentrations_of_50_or_0_01_mg_per_ml_are_refused(desk, plan):
    response = desk.plan(ago(0), **plan)
    assert response.status_code == 200 and response.context["form"].errors
    assert not desk.patient.plans.exists()


def test_a_start_date_in_1981_is_refused(desk):
    response = desk.plan(datetime.date(1981, 1, 1))
    assert response.context["form"].errors["start_date"]
    assert not desk.patient.plans.exists()


def test_change_plan_prefills_the_current_plan_not_a_preset(desk):
    desk.plan(ago(3), starting="1", step="0.25", interval=10, target="3")
    form = desk.client.get(f"{desk.base}/plan/").context["form"]
    values = [form[name].value() for name in ("preset", "starting_dose_mg", "step_mg", "step_interval_days")]
    assert values == ["custom", D("1"), D("0.25"), 10]


# --- one route for a dose ----------------------------------------------------------------------------------


def test_a_dose_is_assessed_once_by_the_service_and_the_form_only_parses(desk):
    with (
        mock.patch("titration.rules.assess_dose", wraps=rules.assess_dose) as assess,
        mock.patch("titration.rules.hard_limit_problem", wraps=rules.hard_limit_problem) as hard_limits,
    ):
        assert desk.dose(ago(0), "1.5").status_code == 302
        assert desk.dose(ago(1), "0").status_code == 200  # refused by the assessment, shown on the form
    assert assess.call_count == 2 and hard_limits.call_count == 2  # once per POST
    refused = desk.dose(ago(1), "0").context["form"]
    assert refused.errors["dose_mg"] == [rules.NOT_POSITIVE]


def test_the_plan_in_force_is_a_rule_and_no_writer_imports_a_display_module(desk):
    import titration.chart
    import titration.services

    assert hasattr(rules, "plan_in_force") and not hasattr(titration.chart, "plan_in_force")
    assert "chart" not in {name for name in vars(titration.services) if not name.startswith("_")}


def test_a_record_error_knows_no_form_field_names(desk):
    form_fields = {"taken_on", "dose_mg", "formulation", "status", "notes", "confirm_out_of_range", "override_reason"}
    problems = {value for name, value in vars(services.Problem).items() if not name.startswith("_")}
    assert problems and not problems & form_fields
    with pytest.raises(services.RecordError) as refused:
        services.dose_record(patient=desk.patient, by=desk.user, taken_on=ago(-1), dose_mg=D("1"))
    assert refused.value.problem == services.Problem.DAY


# --- a 90-day titration through the forms ------------------------------------------------------------------


def test_a_90_day_titration_with_a_hold_a_void_a_slip_and_a_gap(desk, nurse, clock):
    """0.5 mg + 0.5 mg every 7 days, following the form's pre-filled dose, with:

    day 16 a slip (15 mg for 1.5 mg), voided the next day and the right dose backfilled; days 30–59 a hold
    at 2 mg after vivid dreams at 2.5 mg; days 70–78 a 9-day gap, then a restart at the old 2.5 mg.
    """
    start = timezone.localdate()
    assert desk.plan(start).status_code == 302

    def next_day() -> None:
        clock.shift(datetime.timedelta(days=1))
        desk.again()
        nurse.again()

    taken: list[str] = []
    for day in range(90):
        if day == 7:
            assert nurse.dashboard().due_step_up == [(desk.patient, D("1"))]
        if day == 16:
            assert desk.prefill() == "1.5"
            desk.dose(ago(0), "15", reason="as read from the syringe label")
            taken.append("15")
        elif day == 17:
            slip = DoseEntry.objects.get(dose_mg=D("15"))
            assert desk.void(slip, "decimal slip: 1.5 mg was taken").status_code == 302
            assert desk.dose(ago(1), "1.5").status_code == 302  # the right dose for yesterday
            taken.append(desk.take_prefill())
        elif day == 30:
            assert desk.state("holding", "vivid dreams at 2.5 mg: hold at 2 mg").status_code == 302
            assert desk.dose(ago(0), "2").status_code == 302
            taken.append("2")
        elif day == 60:
            assert desk.state("titrating", "dreams settled").status_code == 302
            taken.append(desk.take_prefill())
        elif 70 <= day <= 78:
            taken.append("")  # the gap: nothing recorded
            if day == 77:
                assert [p for p, _ in nurse.dashboard().stale] == [desk.patient]
        elif day == 79:
            assert desk.prefill() == "0.5"  # the plan restarts at its starting dose
            assert desk.dose(ago(0), "2.5").status_code == 302  # the patient went back to 2.5 mg
            taken.append("2.5")
        else:
            taken.append(desk.take_prefill())
        next_day()

    assert taken[:8] == ["0.5"] * 7 + ["1"]
    assert taken[14:17] == ["1.5", "1.5", "15"] and taken[21] == "2" and taken[28] == "2.5"
    assert taken[30:60] == ["2"] * 30 and taken[60] == "2" and taken[67] == "2.5" and taken[86] == "3"
    everything = Counter(Flag.objects.values_list("kind", "severity", "closed_as"))
    assert everything == {
        ("tenfold_change", rules.Severity.CRITICAL, "entry_voided"): 1,
        ("out_of_range", rules.Severity.WARNING, "entry_voided"): 1,
        ("restart_high", rules.Severity.WARNING, ""): 1,
    }
    restart = Flag.objects.get(kind="restart_high")
    assert restart.message == "Restarting after a 9-day gap at 2.5 mg; the plan restarts at 0.5 mg."
    assert PlanStateChange.objects.count() == 2
    assert not Flag.objects.filter(dose_entry__voided_at__isnull=False, acknowledged_at__isnull=True).exists()
