"""The safety profile page: both roles edit it, it is audited, its warnings show, and a stale edit is refused."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from medications import rules, selectors, services
from medications.models import SafetyProfile
from patients.concurrency import VERSION_UNREADABLE
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def safety_url(patient):
    return reverse("medications:safety", args=[patient.pk])


def profile_data(version=None, **overrides):
    data = {"pregnant": "", "breastfeeding": "", "hepatic_impairment": "none", "naltrexone_hypersensitivity": ""}
    data["notes"] = ""
    data.update(overrides)
    if version is not None:
        data["version"] = version
    return {key: value for key, value in data.items() if value != ""}


def version_in(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found, "the form carries no version"
    return found.group(1)


def test_a_patient_without_a_profile_shows_not_recorded_and_an_empty_form(staff_client, patient):
    response = staff_client.get(safety_url(patient))
    assert response.status_code == 200
    assert "Not recorded yet." in response.content.decode()
    assert 'name="version"' not in response.content.decode()


@pytest.mark.parametrize("role", ["staff", "prescriber"])
def test_both_roles_record_the_profile_and_the_history_keeps_who(role, request, patient):
    user = request.getfixturevalue(role)
    client = client_for(user)
    response = client.post(safety_url(patient), profile_data(pregnant="on", hepatic_impairment="severe"))
    assert response.status_code == 302
    profile = SafetyProfile.objects.get(patient=patient)
    assert profile.pregnant and profile.hepatic_impairment == "severe" and not profile.breastfeeding
    assert profile.updated_by == user and profile.history.get().history_user == user
    page = client.get(safety_url(patient)).content.decode()
    assert rules.PREGNANCY_WARNING in page
    assert "Severe hepatic impairment: naltrexone is metabolised in the liver" in page
    assert rules.PREGNANCY_WARNING in client.get(reverse("medications:list", args=[patient.pk])).content.decode()


def test_an_edit_keeps_the_old_values_in_the_history(prescriber_client, staff, prescriber, patient):
    services.safety_profile_save(
        patient=patient,
        by=staff,
        version=None,
        pregnant=False,
        breastfeeding=True,
        hepatic_impairment="none",
        naltrexone_hypersensitivity=False,
    )
    version = version_in(prescriber_client.get(safety_url(patient)).content.decode())
    response = prescriber_client.post(safety_url(patient), profile_data(version, naltrexone_hypersensitivity="on"))
    assert response.status_code == 302
    rows = list(SafetyProfile.objects.get().history.order_by("history_id"))
    assert [(row.breastfeeding, row.naltrexone_hypersensitivity, row.history_user) for row in rows] == [
        (True, False, staff),
        (False, True, prescriber),
    ]
    assert rules.HYPERSENSITIVITY_WARNING in prescriber_client.get(safety_url(patient)).content.decode()


def test_a_stale_edit_from_a_second_session_is_refused_with_who_and_the_diff(staff, prescriber, patient):
    services.safety_profile_save(
        patient=patient,
        by=staff,
        version=None,
        pregnant=False,
        breastfeeding=False,
        hepatic_impairment="none",
        naltrexone_hypersensitivity=False,
    )
    nurse, doctor = client_for(staff), client_for(prescriber)
    nurse_version = version_in(nurse.get(safety_url(patient)).content.decode())
    doctor_version = version_in(doctor.get(safety_url(patient)).content.decode())
    assert nurse.post(safety_url(patient), profile_data(nurse_version, pregnant="on")).status_code == 302

    response = doctor.post(safety_url(patient), profile_data(doctor_version, hepatic_impairment="moderate"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "This record was changed by nurse.kim at" in page
    assert "Re-apply my changes" in page
    profile = SafetyProfile.objects.get()
    assert profile.pregnant and profile.hepatic_impairment == "none"  # nothing of the doctor's was saved
    changes = {change.name: change for change in response.context["form"].stale.changes}
    assert changes["pregnant"].changed_by_other and changes["hepatic_impairment"].changed_by_you

    new_version = version_in(page)
    assert new_version != doctor_version
    # Re-applying sends the re-rendered form: the doctor's change on top of the nurse's.
    reapply = profile_data(new_version, pregnant="on", hepatic_impairment="moderate")
    assert doctor.post(safety_url(patient), reapply).status_code == 302
    profile.refresh_from_db()
    assert profile.pregnant and profile.hepatic_impairment == "moderate"
    assert profile.history.count() == 3


def test_two_sessions_creating_the_first_profile_cannot_both_save(staff, prescriber, patient):
    nurse, doctor = client_for(staff), client_for(prescriber)
    nurse.get(safety_url(patient))
    doctor.get(safety_url(patient))
    assert nurse.post(safety_url(patient), profile_data(breastfeeding="on")).status_code == 302
    response = doctor.post(safety_url(patient), profile_data(hepatic_impairment="mild"))
    assert response.status_code == 200
    assert "This record was changed by nurse.kim at" in response.content.decode()
    profile = SafetyProfile.objects.get()
    assert profile.breastfeeding and profile.hepatic_impairment == "none"
    assert profile.history.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (profile_data(hepatic_impairment="extreme"), "hepatic_impairment"),
        (profile_data(hepatic_impairment=""), "hepatic_impairment"),
    ],
)
def test_bad_input_is_a_form_error_and_saves_nothing(prescriber_client, patient, data, field):
    response = prescriber_client.post(safety_url(patient), data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not SafetyProfile.objects.exists()


def test_a_forged_version_is_refused_with_a_message(prescriber_client, staff, patient):
    services.safety_profile_save(
        patient=patient,
        by=staff,
        version=None,
        pregnant=True,
        breastfeeding=False,
        hepatic_impairment="none",
        naltrexone_hypersensitivity=False,
    )
    response = prescriber_client.post(safety_url(patient), profile_data("abc"))
    assert response.status_code == 200
    assert VERSION_UNREADABLE in response.context["form"].non_field_errors()
    assert SafetyProfile.objects.get().pregnant


def birthday_patient(make_patient, today):
    """A patient who turns 18 today (born on 28 Feb in a leap year when today is 29 Feb cannot happen here)."""
    born = today.replace(year=today.year - 18) if not (today.month == 2 and today.day == 29) else None
    if born is None:
        pytest.skip("no 18th birthday on 29 February")
    return make_patient(date_of_birth=born)


def test_the_paediatric_warning_stops_on_the_18th_birthday(make_patient, today):
    patient = birthday_patient(make_patient, today)
    day_before = today - datetime.timedelta(days=1)
    assert [w.message for w in selectors.safety_warnings_for(patient, on=day_before)] == [rules.PAEDIATRIC_WARNING]
    assert selectors.safety_warnings_for(patient, on=today) == []


def test_a_17_year_old_is_warned_on_the_pages(staff_client, make_patient, today):
    patient = make_patient(date_of_birth=today.replace(year=today.year - 18) + datetime.timedelta(days=1))
    for url in (safety_url(patient), reverse("medications:list", args=[patient.pk])):
        assert rules.PAEDIATRIC_WARNING in staff_client.get(url).content.decode()
