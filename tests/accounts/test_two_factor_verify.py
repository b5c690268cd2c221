"""Signing in with two-factor: the password, then a code from the app or a single-use recovery code."""

import datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken

from accounts.two_factor import INVALID_CODE

from .conftest import code_for, give_authenticator, sign_in, wrong_code_for

pytestmark = pytest.mark.django_db

VERIFY = reverse("accounts:two-factor-verify")
PATIENTS = reverse("patients:list")


@pytest.fixture
def authenticator(clock, prescriber):
    device, codes = give_authenticator(prescriber)
    clock.shift(datetime.timedelta(minutes=1))  # set up a while ago
    return device, codes


def test_after_the_password_every_page_asks_for_the_code(client, prescriber, authenticator):
    assert sign_in(client, prescriber.username).status_code == 302

    for path in [
        "/",
        PATIENTS,
        reverse("titration:flags"),
        reverse("accounts:two-factor"),
        reverse("password_change"),
        "/admin/",
    ]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{VERIFY}?next="), path
    assert client.get(VERIFY).status_code == 200


def test_the_code_from_the_app_lets_the_user_in_and_back_to_the_page_they_wanted(client, prescriber, authenticator):
    device, _ = authenticator
    sign_in(client, prescriber.username)
    to_verify = client.get(f"{PATIENTS}?q=Byron")["Location"]
    key_before = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post(to_verify, {"code": code_for(device), "next": f"{PATIENTS}?q=Byron"})

    assert response.status_code == 302
    assert response["Location"] == f"{PATIENTS}?q=Byron"
    assert client.get(PATIENTS).status_code == 200
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != key_before


def test_a_wrong_code_is_refused_and_the_next_try_must_wait(clock, client, prescriber, authenticator):
    device, _ = authenticator
    sign_in(client, prescriber.username)

    response = client.post(VERIFY, {"code": wrong_code_for(device)})
    assert response.status_code == 200
    assert INVALID_CODE in response.context["form"].errors["code"]

    response = client.post(VERIFY, {"code": code_for(device)})
    assert "Too many wrong codes" in response.context["form"].errors["code"][0]
    assert client.get(PATIENTS).status_code == 302

    clock.shift(datetime.timedelta(seconds=2))
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert client.get(PATIENTS).status_code == 200


def test_a_code_from_the_app_works_only_once(clock, client, prescriber, authenticator):
    device, _ = authenticator
    code = code_for(device)
    sign_in(client, prescriber.username)
    assert client.post(VERIFY, {"code": code}).status_code == 302

    other = type(client)()
    sign_in(other, prescriber.username)
    clock.shift(datetime.timedelta(seconds=5))
    assert other.post(VERIFY, {"code": code}).status_code == 200


def test_a_recovery_code_works_once(client, prescriber, authenticator):
    _, codes = authenticator
    sign_in(client, prescriber.username)

    response = client.post(VERIFY, {"code": codes[0].upper()}, follow=True)
    assert response.status_code == 200
    assert "Recovery codes left: 9" in response.content.decode()
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    client.post(reverse("logout"))

    sign_in(client, prescriber.username)
    response = client.post(VERIFY, {"code": codes[0]})
    assert response.status_code == 200
    assert INVALID_CODE in response.context["form"].errors["code"]
    assert client.get(PATIENTS).status_code == 302


def test_a_link_to_another_site_is_not_followed_after_the_code(client, prescriber, authenticator):
    device, _ = authenticator
    sign_in(client, prescriber.username)
    response = client.post(f"{VERIFY}?next=https://evil.example/", {"code": code_for(device)})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sign_out_works_before_the_code(client, prescriber, authenticator):
    sign_in(client, prescriber.username)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_user_without_an_authenticator_is_not_asked(client, prescriber):
    sign_in(client, prescriber.username)
    assert client.get(PATIENTS).status_code == 200
    assert client.get(VERIFY)["Location"] == reverse("accounts:two-factor")
