"""The signed-in user's roles, clinics and two-factor state are read once per request, never kept longer.

Each test changes something between two requests of the same session and checks that the second request
already sees it.
"""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import Membership
from patients.roles import Role
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_role_given_takes_effect_on_the_next_request(staff, patient):
    client = client_for(staff)
    assert client.get(reverse("titration:dose-create", args=[patient.pk])).status_code == 403
    staff.groups.add(Group.objects.get(name=Role.PRESCRIBER.group_name))
    assert client.get(reverse("titration:dose-create", args=[patient.pk])).status_code == 200


def test_a_role_taken_away_takes_effect_on_the_next_request(prescriber_client, prescriber, patient):
    assert prescriber_client.get(reverse("titration:dose-create", args=[patient.pk])).status_code == 200
    prescriber.groups.clear()
    assert prescriber_client.get(reverse("titration:dose-create", args=[patient.pk])).status_code == 403


def test_a_membership_ended_takes_effect_on_the_next_request(staff_client, staff, patient):
    assert staff_client.get(reverse("titration:patient", args=[patient.pk])).status_code == 200
    Membership.objects.filter(user=staff).delete()
    assert staff_client.get(reverse("titration:patient", args=[patient.pk])).status_code == 404
    assert patient.mrn not in staff_client.get(reverse("patients:list")).content.decode()


def test_the_role_label_follows_the_groups_of_the_request(staff, patient):
    client = client_for(staff)
    assert "Clinic staff" in client.get("/").content.decode()
    staff.groups.set([Group.objects.get(name=Role.PRESCRIBER.group_name)])
    page = client.get("/").content.decode()
    assert "Prescriber" in page
    assert "Clinic staff" not in page


def test_a_deleted_authenticator_no_longer_verifies_the_session(clinic):
    admin = User.objects.create_superuser("root", password="x")
    client = client_for(admin)
    assert client.get("/").status_code == 200
    TOTPDevice.objects.filter(user=admin).delete()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:two-factor-setup")
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_session_naming_another_users_authenticator_is_not_verified(clinic, prescriber):
    admin = User.objects.create_superuser("root", password="x")
    theirs = TOTPDevice.objects.create(user=prescriber, name="Authenticator app", confirmed=True)
    client = client_for(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = theirs.persistent_id
    session.save()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two-factor-verify"))


def test_an_unconfirmed_authenticator_does_not_verify_the_session(clinic):
    admin = User.objects.create_superuser("root", password="x")
    client = client_for(admin)
    TOTPDevice.objects.filter(user=admin).update(confirmed=False)
    response = client.get("/")
    assert response.status_code == 302
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_deactivated_user_is_signed_out_on_the_next_request(prescriber_client, prescriber):
    assert prescriber_client.get("/").status_code == 200
    User.objects.filter(pk=prescriber.pk).update(is_active=False)
    response = prescriber_client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
