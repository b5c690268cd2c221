"""Admin users: two-factor sign-in always, and the admin itself open to superusers only."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from accounts.two_factor import two_factor_required
from patients.models import Patient
from patients.roles import Role
from tests.conftest import PASSWORD, client_for, make_user

from .conftest import code_for, give_authenticator, sign_in

pytestmark = pytest.mark.django_db

SETUP = reverse("accounts:two-factor-setup")
VERIFY = reverse("accounts:two-factor-verify")
PAGES = ["/", reverse("patients:list"), reverse("password_change"), "/admin/", "/admin/patients/patient/"]


def password_only_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def staff_prescriber(prescriber) -> User:
    """A prescriber someone made an admin user, with every permission on patients."""
    prescriber.is_staff = True
    prescriber.save()
    prescriber.user_permissions.add(*Permission.objects.filter(content_type__app_label="patients"))
    return prescriber


@pytest.mark.parametrize("kind", ["superuser", "admin user", "admin nurse"])
def test_superusers_and_admin_users_must_set_up_two_factor_whatever_the_clinic_says(kind, clinic, superuser):
    assert not clinic.require_two_factor_for_prescribers
    user = {
        "superuser": superuser,
        "admin user": User.objects.create_user("ops", password=PASSWORD, is_staff=True),
        "admin nurse": make_user("nurse.admin", Role.STAFF, clinic),
    }[kind]
    if kind == "admin nurse":
        user.is_staff = True
        user.save()
    assert two_factor_required(user)
    client = password_only_client(user)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == SETUP, path


def test_a_superuser_signed_in_through_the_admin_must_still_give_a_code(clock, client, superuser):
    device, _ = give_authenticator(superuser)
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.get("/admin/")["Location"].startswith(f"{VERIFY}?next=")
    client.post(VERIFY, {"code": code_for(device)})
    assert client.get("/admin/").status_code == 200


def test_a_prescriber_without_admin_rights_keeps_the_clinic_setting(prescriber):
    assert not two_factor_required(prescriber)
    assert password_only_client(prescriber).get("/").status_code == 200


def test_a_prescriber_given_is_staff_cannot_open_the_admin(staff_prescriber, make_patient, other_clinic, outsider):
    make_patient(clinic=other_clinic, prescriber=outsider, family_name="Elsewhere", mrn="S-1")
    client = client_for(staff_prescriber)  # past two-factor sign-in: only the admin's own check is left
    assert client.get("/").status_code == 200
    for path in ["/admin/", "/admin/patients/patient/", f"/admin/patients/patient/{Patient.objects.get().pk}/change/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path
        page = client.get(response["Location"])
        assert "Elsewhere" not in page.content.decode()
        assert "S-1" not in page.content.decode()


def test_the_admin_sign_in_refuses_a_staff_prescriber_like_a_wrong_password(client, staff_prescriber):
    response = client.post("/admin/login/", {"username": staff_prescriber.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_superuser_past_two_factor_sees_the_admin(superuser, make_patient, other_clinic, outsider):
    make_patient(clinic=other_clinic, prescriber=outsider, family_name="Elsewhere", mrn="S-1")
    response = client_for(superuser).get("/admin/patients/patient/")
    assert response.status_code == 200
    assert "Elsewhere" in response.content.decode()


def test_the_admin_password_change_is_the_throttled_one(superuser):
    response = client_for(superuser).get("/admin/password_change/")
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change")


def test_sign_in_still_works_for_a_superuser(clock, client, superuser):
    assert sign_in(client, "root").status_code == 302
    assert client.get("/")["Location"] == SETUP
