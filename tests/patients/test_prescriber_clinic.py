"""A patient's named prescriber is an active prescriber of the patient's own clinic."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from patients.forms import PRESCRIBER_NOT_IN_CLINIC
from patients.models import Clinic, Membership, Patient
from patients.roles import Role
from patients.services import PrescriberNotInClinicError, patient_save
from tests.conftest import client_for, make_user

from .test_patient_views import patient_data, with_prescriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_clinic_prescriber(clinic: Clinic, other_clinic: Clinic) -> User:
    user = make_user("dr.both", Role.PRESCRIBER, clinic)
    Membership.objects.create(user=user, clinic=other_clinic)
    return user


def test_a_prescriber_of_the_other_clinic_cannot_be_named(two_clinic_prescriber, clinic, outsider, fibromyalgia):
    client = client_for(two_clinic_prescriber)
    data = with_prescriber(patient_data(fibromyalgia, clinic=clinic.pk), outsider)
    response = client.post(reverse("patients:create"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["prescriber"] == [PRESCRIBER_NOT_IN_CLINIC]
    assert not Patient.objects.exists()


def test_a_prescriber_of_the_chosen_clinic_can_be_named(two_clinic_prescriber, other_clinic, outsider, fibromyalgia):
    client = client_for(two_clinic_prescriber)
    response = client.post(
        reverse("patients:create"), with_prescriber(patient_data(fibromyalgia, clinic=other_clinic.pk), outsider)
    )
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert (patient.clinic, patient.prescriber) == (other_clinic, outsider)
    assert client_for(outsider).get(patient.get_absolute_url()).status_code == 200


def test_an_inactive_or_non_prescriber_member_cannot_be_named(
    clinic, prescriber, staff, fibromyalgia, prescriber_client
):
    gone = make_user("dr.gone", Role.PRESCRIBER, clinic)
    gone.is_active = False
    gone.save()
    for named in (staff, gone):
        response = prescriber_client.post(
            reverse("patients:create"), with_prescriber(patient_data(fibromyalgia), named)
        )
        assert "prescriber" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_the_service_refuses_a_prescriber_of_another_clinic(clinic, outsider, prescriber, fibromyalgia):
    patient = Patient(
        clinic=clinic,
        mrn="X-1",
        given_name="Grace",
        family_name="Hopper",
        date_of_birth=datetime.date(1975, 12, 9),
        prescriber=outsider,
    )
    with pytest.raises(PrescriberNotInClinicError):
        patient_save(patient=patient, diagnoses={fibromyalgia: None}, by=prescriber)
    assert not Patient.objects.exists()
