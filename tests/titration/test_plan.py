import datetime
from decimal import Decimal

import pytest

from titration.forms import (
    INTERVAL_OUTSIDE_LIMITS,
    LIQUID_NEEDS_CONCENTRATION,
    PLAN_DOSE_OUT_OF_RANGE,
    PLAN_STARTS_BEFORE_BIRTH,
    STEP_OUTSIDE_LIMITS,
)
from titration.models import TitrationPlan

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return f"/patients/{patient.pk}/plan/"


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
