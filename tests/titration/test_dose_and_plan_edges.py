"""Edges of the dose and plan forms: each would let a wrong dose or a wrong schedule through unnoticed."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.conftest import client_for, make_user
from titration import rules, services
from titration.forms import FIXED_DOSE_TARGET, FUTURE_START_WITH_ACTIVE_PLAN
from titration.models import DoseEntry

from .conftest import dose_post

pytestmark = pytest.mark.django_db


def ago(today, n):
    return today - datetime.timedelta(days=n)


def test_an_underscore_is_not_read_as_a_digit_separator(prescriber_client, patient, today):
    response = prescriber_client.post(reverse("titration:dose-create", args=[patient.pk]), dose_post(today, "1_5"))
    assert response.context["form"].errors["dose_mg"] == [rules.NOT_A_NUMBER]
    assert not DoseEntry.objects.exists()


def test_a_backfilled_dose_is_checked_against_the_plan_of_its_own_date(patient, prescriber, today):
    first = services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 30),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    second = services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 5),
        starting_dose_mg=Decimal("3"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("3"),
    )
    old, _ = services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 10), dose_mg=Decimal("1"))
    new, _ = services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 2), dose_mg=Decimal("3"))
    assert (old.plan, old.scheduled_dose_mg) == (first, Decimal("1"))
    assert (new.plan, new.scheduled_dose_mg) == (second, Decimal("3"))
    assert not old.flags.exists()


def test_a_future_start_is_refused_while_a_plan_is_active(prescriber_client, patient, prescriber, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 10),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    data = {
        "preset": "low_slow",
        "start_date": (today + datetime.timedelta(days=7)).isoformat(),
        "formulation": "capsule",
        "dosing_time": "bedtime",
    }
    response = prescriber_client.post(reverse("titration:plan", args=[patient.pk]), data)
    assert response.context["form"].errors["start_date"] == [FUTURE_START_WITH_ACTIVE_PLAN]
    assert patient.plans.count() == 1


def test_a_fixed_dose_plan_needs_its_target_equal_to_its_start(prescriber_client, patient, today):
    data = {
        "preset": "custom",
        "start_date": today.isoformat(),
        "starting_dose_mg": "1",
        "step_mg": "0",
        "step_interval_days": "7",
        "target_dose_mg": "4.5",
        "formulation": "capsule",
        "dosing_time": "bedtime",
    }
    response = prescriber_client.post(reverse("titration:plan", args=[patient.pk]), data)
    assert response.context["form"].errors["target_dose_mg"] == [FIXED_DOSE_TARGET]


def test_a_confirmation_holds_only_for_the_dose_it_was_given_for(prescriber_client, patient, today):
    url = reverse("titration:dose-create", args=[patient.pk])
    warned = prescriber_client.post(url, dose_post(today, "5"))
    assert 'name="confirmed_dose_mg" value="5"' in warned.content.decode()
    changed = dose_post(today, "45", confirm_out_of_range="on", override_reason="ok", confirmed_dose_mg="5")
    response = prescriber_client.post(url, changed)
    assert "45 mg is above the LDN range" in " ".join(response.context["form"].errors["confirm_out_of_range"])
    assert not DoseEntry.objects.exists()
    same = dose_post(today, "5", confirm_out_of_range="on", override_reason="ok", confirmed_dose_mg="5")
    assert prescriber_client.post(url, same).status_code == 302
    assert DoseEntry.objects.get().dose_mg == Decimal("5")


def test_a_member_without_a_role_sees_no_patient_data(clinic, patient):
    client = client_for(make_user("no.role", None, clinic))
    assert client.get(reverse("patients:list")).status_code == 403
    assert client.get("/").status_code == 403
    assert client.get(reverse("titration:patient", args=[patient.pk])).status_code == 403


def test_the_access_log_filter_ignores_non_ascii_digits(db):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", "root@example.org", "a-long-admin-passphrase")
    assert client_for(admin).get(reverse("patients:access-log"), {"patient": "²"}).status_code == 200
