"""Clinics that require two-factor sign-in send their prescribers to set it up before anything else."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import Clinic, Membership
from patients.roles import Role
from tests.conftest import client_for, make_user

from .conftest import code_for, give_authenticator

pytestmark = pytest.mark.django_db

SETUP = reverse("accounts:two-factor-setup")
PAGES = [
    "/",
    reverse("patients:list"),
    reverse("titration:flags"),
    reverse("accounts:two-factor"),
    reverse("password_change"),
    "/admin/",
]


@pytest.fixture
def strict_clinic() -> Clinic:
    return Clinic.objects.create(name="Strict Clinic", require_two_factor_for_prescribers=True)


@pytest.fixture
def strict_prescriber(strict_clinic) -> User:
    return make_user("dr.strict", Role.PRESCRIBER, strict_clinic)


def sent_to_setup(client, path: str) -> bool:
    response = client.get(path)
    return response.status_code == 302 and response["Location"] == SETUP


def test_a_prescriber_of_a_clinic_that_requires_it_must_set_it_up_first(strict_prescriber):
    client = client_for(strict_prescriber)
    for path in PAGES:
        assert sent_to_setup(client, path), path
    assert client.post(reverse("patients:create"), {}).status_code == 302
    assert client.get(SETUP).status_code == 200


def test_sign_out_and_static_files_stay_reachable_before_set_up(strict_prescriber):
    client = client_for(strict_prescriber)
    assert not sent_to_setup(client, "/static/css/app.css")
    assert client.get("/static/no-such-file.css").status_code == 404
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")


def test_after_set_up_the_prescriber_reaches_every_page(clock, strict_prescriber):
    client = client_for(strict_prescriber)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=strict_prescriber)
    assert "codes" in client.post(SETUP, {"code": code_for(device)}).context
    for path in PAGES[:5]:
        assert client.get(path).status_code == 200, path


def test_a_prescriber_of_a_clinic_that_does_not_require_it_is_not_sent(prescriber, clinic):
    assert not clinic.require_two_factor_for_prescribers
    client = client_for(prescriber)
    for path in PAGES[:5]:
        assert client.get(path).status_code == 200, path


def test_one_requiring_clinic_among_several_is_enough(prescriber, strict_clinic):
    Membership.objects.create(user=prescriber, clinic=strict_clinic)
    assert sent_to_setup(client_for(prescriber), "/")


def test_turning_the_requirement_on_applies_at_the_next_request(prescriber, clinic):
    client = client_for(prescriber)
    assert client.get("/").status_code == 200
    clinic.require_two_factor_for_prescribers = True
    clinic.save()
    assert sent_to_setup(client, "/")


def test_staff_are_not_forced(strict_clinic):
    nurse = make_user("nurse.strict", Role.STAFF, strict_clinic)
    client = client_for(nurse)
    for path in PAGES[:5]:
        assert client.get(path).status_code == 200, path


def test_a_prescriber_who_turns_it_off_is_sent_back_to_set_up(clock, strict_prescriber):
    device, codes = give_authenticator(strict_prescriber)
    client = client_for(strict_prescriber)
    assert client.get("/")["Location"].startswith(reverse("accounts:two-factor-verify"))
    client.post(reverse("accounts:two-factor-verify"), {"code": code_for(device)})
    assert client.get("/").status_code == 200

    response = client.post(reverse("accounts:two-factor-disable"), {"disable-code": codes[0]}, follow=True)
    assert response.redirect_chain[-1][0] == SETUP
