import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from titration.forms import (
    CONCENTRATION_OUTSIDE_LIMITS,
    INTERVAL_OUTSIDE_LIMITS,
    LARGE_STEP_NEEDS_CONFIRMATION,
    LIQUID_NEEDS_CONCENTRATION,
    PLAN_DOSE_OUT_OF_RANGE,
    PLAN_STARTS_BEFORE_BIRTH,
    START_TOO_FAR_BACK,
    STEP_OUTSIDE_LIMITS,
)
from titration.models import PlanStateChange, TitrationPlan

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return reverse("titration:plan", args=[patient.pk])


def plan_post(today, **overrides):
    data = {
        "preset": "low_slow",
        "start_date": today.isoformat(),
        "starting_dose_mg": "",
        "step_mg": "",
        "step_interval_days": "",
        "target_dose_mg": "",
        "formulation": "capsule",
        "dosing_time": "bedtime",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_a_preset_fills_blank_numbers(prescriber_client, patient, today):
    response = prescriber_client.post(url(patient), plan_post(today, preset="standard"))
    assert response.status_code == 302
    plan = TitrationPlan.objects.get()
    assert (plan.starting_dose_mg, plan.step_mg, plan.step_interval_days, plan.target_dose_mg) == (
        Decimal("1.5"),
        Decimal("1.5"),
        14,
        Decimal("4.5"),
    )
    assert plan.preset == "standard"
    assert plan.dosing_time == "bedtime"


def test_a_custom_plan(prescriber_client, patient, today):
    data = plan_post(
        today,
        preset="custom",
        starting_dose_mg="1",
        step_mg="0.25",
        step_interval_days="10",
        target_dose_mg="3",
        formulation="liquid",
        liquid_concentration_mg_per_ml="1",
    )
    assert prescriber_client.post(url(patient), data).status_code == 302
    plan = TitrationPlan.objects.get()
    assert plan.preset == "custom"
    assert plan.scheduled_dose_on(today + datetime.timedelta(days=10)) == Decimal("1.25")
    assert plan.liquid_concentration_mg_per_ml == Decimal("1")


def test_changing_the_plan_keeps_the_old_one(prescriber_client, patient, today):
    prescriber_client.post(url(patient), plan_post(today))
    opened = prescriber_client.get(url(patient)).context["form"]
    version = opened["version"].value()
    assert prescriber_client.post(url(patient), plan_post(today, preset="standard", version=version)).status_code == 302
    assert TitrationPlan.objects.count() == 2
    old, new = TitrationPlan.objects.order_by("pk")
    assert not old.is_active and old.ended_at is not None
    assert new.is_active
    page = prescriber_client.get(url(patient)).content.decode()
    assert "Previous plans" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {
                "preset": "custom",
                "starting_dose_mg": "6",
                "step_mg": "1",
                "step_interval_days": "7",
                "target_dose_mg": "4.5",
            },
            "starting_dose_mg",
            PLAN_DOSE_OUT_OF_RANGE,
        ),
        ({"target_dose_mg": "4.51"}, "target_dose_mg", PLAN_DOSE_OUT_OF_RANGE),
        ({"step_interval_days": "0"}, "step_interval_days", INTERVAL_OUTSIDE_LIMITS),
        ({"step_mg": "-0.5"}, "step_mg", STEP_OUTSIDE_LIMITS),
        ({"starting_dose_mg": "abc"}, "starting_dose_mg", "Enter a number."),
        ({"start_date": "1970-01-01"}, "start_date", PLAN_STARTS_BEFORE_BIRTH),
        ({"formulation": "liquid"}, "liquid_concentration_mg_per_ml", LIQUID_NEEDS_CONCENTRATION),
        ({"preset": "custom"}, "starting_dose_mg", "This field is required for a custom plan."),
        ({"preset": "nonsense"}, "preset", "Select a valid choice. nonsense is not one of the available choices."),
    ],
)
def test_bad_plans_are_explained_and_nothing_changes(prescriber_client, patient, today, overrides, field, message):
    response = prescriber_client.post(url(patient), plan_post(today, **overrides))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert not TitrationPlan.objects.exists()


def test_staff_cannot_set_plans(staff_client, patient, today):
    assert staff_client.post(url(patient), plan_post(today)).status_code == 403
    assert not TitrationPlan.objects.exists()


def test_another_clinic_gets_404(outsider_client, patient, today):
    assert outsider_client.get(url(patient)).status_code == 404


def open_change_form(client, patient):
    return client.get(url(patient)).context["form"]


def test_change_plan_starts_from_the_current_plan_not_a_preset(prescriber_client, patient, today):
    custom = plan_post(
        today, preset="custom", starting_dose_mg="1", step_mg="0.25", step_interval_days="10", target_dose_mg="3"
    )
    prescriber_client.post(url(patient), custom)
    form = open_change_form(prescriber_client, patient)
    assert form["preset"].value() == "custom"
    assert (form["starting_dose_mg"].value(), form["step_mg"].value()) == (Decimal("1"), Decimal("0.25"))
    assert (form["step_interval_days"].value(), form["target_dose_mg"].value()) == (10, Decimal("3"))
    assert form["version"].value()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"step_mg": "0.03"}, "step_mg", STEP_OUTSIDE_LIMITS),
        ({"step_mg": "0.09"}, "step_mg", STEP_OUTSIDE_LIMITS),
        ({"step_mg": "4"}, "confirm_large_step", LARGE_STEP_NEEDS_CONFIRMATION),
        ({"step_mg": "4", "confirm_large_step": "on"}, "confirm_large_step", LARGE_STEP_NEEDS_CONFIRMATION),
        ({"step_interval_days": "1"}, "step_interval_days", INTERVAL_OUTSIDE_LIMITS),
        ({"step_interval_days": "2"}, "step_interval_days", INTERVAL_OUTSIDE_LIMITS),
        ({"step_interval_days": "91"}, "step_interval_days", INTERVAL_OUTSIDE_LIMITS),
        (
            {"formulation": "liquid", "liquid_concentration_mg_per_ml": "50"},
            "liquid_concentration_mg_per_ml",
            CONCENTRATION_OUTSIDE_LIMITS,
        ),
        (
            {"formulation": "liquid", "liquid_concentration_mg_per_ml": "0.01"},
            "liquid_concentration_mg_per_ml",
            CONCENTRATION_OUTSIDE_LIMITS,
        ),
        ({"start_date": "1981-01-01"}, "start_date", START_TOO_FAR_BACK),
    ],
)
def test_unsafe_plans_are_refused(prescriber_client, patient, today, overrides, field, message):
    data = plan_post(today, preset="custom", starting_dose_mg="0.5", step_mg="0.5", step_interval_days="7")
    data.update(target_dose_mg="4.5", **overrides)
    response = prescriber_client.post(url(patient), data)
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert not TitrationPlan.objects.exists()


def test_the_tester_s_plan_of_4_mg_steps_every_day_is_refused(prescriber_client, patient, today):
    data = plan_post(today, preset="custom", starting_dose_mg="0.5", step_mg="4", step_interval_days="1")
    response = prescriber_client.post(url(patient), {**data, "target_dose_mg": "4.5"})
    errors = response.context["form"].errors
    assert errors["step_interval_days"] == [INTERVAL_OUTSIDE_LIMITS]
    assert errors["confirm_large_step"] == [LARGE_STEP_NEEDS_CONFIRMATION]
    assert not TitrationPlan.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"step_mg": "0.1"},
        {"step_mg": "1.5"},
        {"step_interval_days": "3"},
        {"step_interval_days": "90"},
        {"formulation": "liquid", "liquid_concentration_mg_per_ml": "0.1"},
        {"formulation": "liquid", "liquid_concentration_mg_per_ml": "10"},
    ],
)
def test_the_plan_limits_include_their_bounds(prescriber_client, patient, today, overrides):
    data = plan_post(today, preset="custom", starting_dose_mg="0.5", step_mg="0.5", step_interval_days="7")
    data.update(target_dose_mg="4.5", **overrides)
    assert prescriber_client.post(url(patient), data).status_code == 302


@pytest.mark.parametrize(("days_back", "saved"), [(365, True), (366, False)])
def test_a_plan_starts_at_most_a_year_ago(prescriber_client, patient, today, days_back, saved):
    start = today - datetime.timedelta(days=days_back)
    response = prescriber_client.post(url(patient), plan_post(today, start_date=start.isoformat()))
    assert (response.status_code == 302) is saved
    assert TitrationPlan.objects.exists() is saved


def test_a_step_above_1_5_mg_is_saved_with_a_confirmation_and_a_reason(prescriber_client, patient, today):
    data = plan_post(today, preset="custom", starting_dose_mg="1.5", step_mg="3", step_interval_days="14")
    data.update(target_dose_mg="4.5", confirm_large_step="on", step_override_reason="Specialist protocol")
    assert prescriber_client.post(url(patient), data).status_code == 302
    plan = TitrationPlan.objects.get()
    assert (plan.step_mg, plan.step_override_reason) == (Decimal("3"), "Specialist protocol")


def test_a_stale_plan_save_shows_who_changed_it_the_diff_and_can_be_reapplied(patient, prescriber, today):
    from django.contrib.auth.models import Group

    from patients.roles import Role
    from tests.conftest import client_for, make_user

    colleague = make_user("dr.kay", Role.PRESCRIBER, patient.clinic)
    assert Group.objects.get(name=Role.PRESCRIBER.group_name) in colleague.groups.all()
    mine, theirs = client_for(prescriber), client_for(colleague)
    mine.post(url(patient), plan_post(today))
    opened_by_me = open_change_form(mine, patient)["version"].value()
    opened_by_them = open_change_form(theirs, patient)["version"].value()
    assert theirs.post(url(patient), plan_post(today, preset="standard", version=opened_by_them)).status_code == 302

    mine_data = plan_post(today, preset="custom", starting_dose_mg="0.5", step_mg="0.25", step_interval_days="7")
    mine_data.update(target_dose_mg="3", version=opened_by_me)
    response = mine.post(url(patient), mine_data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "This record was changed by dr.kay" in page
    assert "while you were editing" in page
    assert "Re-apply my changes" in page
    changes = {c.name: (c.opened, c.current, c.submitted) for c in response.context["form"].stale.changes}
    assert changes["starting_dose_mg"] == ("0.5", "1.5", "0.5")  # as I opened it, as dr.kay saved it, mine
    assert changes["step_mg"] == ("0.5", "1.5", "0.25")
    assert TitrationPlan.objects.get(is_active=True).preset == "standard"  # nothing saved
    resubmitted = response.context["form"].data.copy()
    assert mine.post(url(patient), {**resubmitted.dict(), "reapply": "1"}).status_code == 302
    active = TitrationPlan.objects.get(is_active=True)
    assert (active.step_mg, active.target_dose_mg) == (Decimal("0.25"), Decimal("3"))


def state_url(patient) -> str:
    return reverse("titration:plan-state", args=[patient.pk])


def test_a_prescriber_holds_the_plan_with_a_reason_and_it_is_audited(prescriber_client, prescriber, patient, today):
    prescriber_client.post(url(patient), plan_post(today))
    response = prescriber_client.post(state_url(patient), {"state": "holding", "reason": "best-tolerated dose"})
    assert response.status_code == 302
    change = PlanStateChange.objects.get()
    assert (change.state, change.reason, change.changed_by, change.effective_on) == (
        "holding",
        "best-tolerated dose",
        prescriber,
        today,
    )
    assert change.history.get().history_change_reason == "best-tolerated dose"
    page = prescriber_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
    assert "Holding at the current dose since" in page and "best-tolerated dose" in page
    assert f'action="/patients/{patient.pk}/plan/state/"' in prescriber_client.get(url(patient)).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"state": "holding", "reason": ""}, "Choose the new state and give the reason."),
        ({"state": "sleeping", "reason": "x"}, "Choose the new state and give the reason."),
        ({"state": "titrating", "reason": "again"}, "The plan is already in that state."),
    ],
)
def test_a_state_change_needs_a_known_new_state_and_a_reason(prescriber_client, patient, today, data, message):
    prescriber_client.post(url(patient), plan_post(today))
    response = prescriber_client.post(state_url(patient), data, follow=True)
    assert message in response.content.decode()
    assert not PlanStateChange.objects.exists()


def test_without_a_plan_there_is_no_state_to_set(prescriber_client, patient):
    response = prescriber_client.post(state_url(patient), {"state": "paused", "reason": "travel"}, follow=True)
    assert "The patient has no active plan." in response.content.decode()
    assert not PlanStateChange.objects.exists()


def test_staff_cannot_change_the_plan_state(prescriber_client, staff_client, patient, today):
    prescriber_client.post(url(patient), plan_post(today))
    assert staff_client.post(state_url(patient), {"state": "paused", "reason": "x"}).status_code == 403
    assert not PlanStateChange.objects.exists()
