"""A dose taken on a day the prescriber had paused or stopped the plan: one warning per run of days."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.conftest import client_for
from titration import course
from titration.models import Flag
from titration.rules import FlagKind, PlanState, PlanTerms, Severity

from .conftest import dose_post, plan_for, take

D = Decimal
START = datetime.date(2026, 1, 5)


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n)


def derived(doses: dict[int, str], state: PlanState, since: int) -> list[tuple[str, int, int | None, str]]:
    plan = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"), states=((day(since), state),))
    entries = [course.EntryFact(n, day(n), True, D(dose)) for n, dose in sorted(doses.items())]
    assessed, _ = course.walk(entries, [plan], 7)
    return [(f.kind.value, f.severity, f.entry_id, f.message) for f in course.derive_flags(assessed)]


@pytest.mark.parametrize("state", [PlanState.PAUSED, PlanState.STOPPED])
def test_a_dose_on_a_paused_or_stopped_day_is_one_warning(state):
    [flag] = derived(dict.fromkeys(range(0, 6), "0.5"), state, since=5)
    assert flag[:3] == ("taken_while_off", Severity.WARNING, 5)
    assert (
        flag[3] == f"0.5 mg taken while the plan is {state.value}. If the patient has restarted, resume the plan; "
        "otherwise check why."
    )


def test_the_day_before_the_pause_raises_nothing():
    assert derived(dict.fromkeys(range(0, 5), "0.5"), PlanState.PAUSED, since=5) == []


def test_holding_and_titrating_raise_no_such_warning():
    assert derived(dict.fromkeys(range(0, 7), "0.5"), PlanState.HOLDING, since=3) == []


def test_a_run_of_days_taken_while_paused_is_one_warning_on_its_first_day_and_a_gap_starts_a_new_one():
    doses = dict.fromkeys(range(0, 5), "0.5") | dict.fromkeys(range(5, 9), "0.5") | {11: "1"}
    flags = derived(doses, PlanState.PAUSED, since=5)
    assert [(kind, severity, entry) for kind, severity, entry, _ in flags] == [
        ("taken_while_off", Severity.WARNING, 5),
        ("taken_while_off", Severity.WARNING, 11),
    ]
    assert flags[0][3].startswith("4 consecutive doses (10 Jan 2026 – 13 Jan 2026) taken while the plan is paused")
    assert flags[1][3].startswith("1 mg taken while the plan is paused.")


@pytest.mark.django_db
def test_through_the_forms_a_paused_patient_s_doses_raise_one_warning_and_resuming_stops_it(
    clock, prescriber, prescriber_client, patient
):
    today = datetime.date(2026, 3, 9)
    plan_for(patient, prescriber, today - datetime.timedelta(days=5))
    take(patient, prescriber, today - datetime.timedelta(days=5), today - datetime.timedelta(days=1), "0.5")
    state_url = reverse("titration:plan-state", args=[patient.pk])
    dose_url = reverse("titration:dose-create", args=[patient.pk])
    prescriber_client.post(state_url, {"state": "paused", "reason": "Opioid for surgery"})

    assert prescriber_client.post(dose_url, dose_post(today, "0.5")).status_code == 302
    clock.shift(datetime.timedelta(days=1))
    prescriber_client = client_for(prescriber)  # a new day, a new sign-in
    assert prescriber_client.post(dose_url, dose_post(today + datetime.timedelta(days=1), "0.5")).status_code == 302
    [flag] = Flag.objects.filter(patient=patient, kind=FlagKind.TAKEN_WHILE_OFF)
    assert flag.is_open and flag.severity == Severity.WARNING
    assert flag.message.startswith("2 consecutive doses (9 Mar 2026 – 10 Mar 2026) taken while the plan is paused")
    page = prescriber_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
    assert "Taken while paused or stopped" in page

    clock.shift(datetime.timedelta(days=1))
    prescriber_client = client_for(prescriber)
    prescriber_client.post(state_url, {"state": "titrating", "reason": "Surgery over, no opioids since"})
    assert prescriber_client.post(dose_url, dose_post(today + datetime.timedelta(days=2), "0.5")).status_code == 302
    assert Flag.objects.filter(patient=patient, kind=FlagKind.TAKEN_WHILE_OFF).count() == 1


def test_missed_days_while_paused_are_no_adherence_warning():
    plan = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"), states=((day(5), PlanState.PAUSED),))
    entries = [course.EntryFact(n, day(n), True, D("0.5")) for n in range(0, 5)]
    entries += [course.EntryFact(n, day(n), False, None) for n in range(5, 12)]
    assessed, _ = course.walk(entries, [plan], 7)
    assert course.derive_flags(assessed) == []
    titrating = PlanTerms(1, START, D("0.5"), D("0.5"), 7, D("4.5"))
    assessed, _ = course.walk(entries, [titrating], 7)
    assert [f.kind for f in course.derive_flags(assessed)] == [FlagKind.ADHERENCE]
