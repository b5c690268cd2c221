"""The two-factor overview and set-up pages: QR code, secret, confirmation, recovery codes, turning off."""

import base64
import datetime
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import resolve, reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import views
from accounts.two_factor import INVALID_CODE, RECOVERY_CODE_COUNT

from .conftest import code_for, give_authenticator, wrong_code_for

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("accounts:two-factor")
SETUP = reverse("accounts:two-factor-setup")
DISABLE = reverse("accounts:two-factor-disable")
NEW_CODES = reverse("accounts:two-factor-recovery-codes")


@pytest.mark.parametrize(
    ("name", "path", "view"),
    [
        ("accounts:two-factor", OVERVIEW, views.overview),
        ("accounts:two-factor-setup", SETUP, views.setup),
        ("accounts:two-factor-verify", reverse("accounts:two-factor-verify"), views.verify),
        ("accounts:two-factor-disable", DISABLE, views.disable),
        ("accounts:two-factor-recovery-codes", NEW_CODES, views.recovery_codes),
    ],
)
def test_the_two_factor_urls_round_trip(name, path, view):
    assert reverse(name) == path
    assert resolve(path).func is view


def test_the_overview_says_it_is_off_and_links_to_the_setup(prescriber_client):
    html = prescriber_client.get(OVERVIEW).content.decode()
    assert "Off." in html
    assert f'href="{SETUP}"' in html


def test_the_navigation_links_to_the_two_factor_page(staff_client):
    assert f'href="{OVERVIEW}">Two-factor</a>' in staff_client.get("/").content.decode()


def test_the_setup_page_shows_the_uri_the_secret_and_a_qr_code_drawn_on_the_server(prescriber, prescriber_client):
    response = prescriber_client.get(SETUP)
    html = response.content.decode()
    device = TOTPDevice.objects.get(user=prescriber)
    assert not device.confirmed

    uri = response.context["uri"]
    assert uri.startswith("otpauth://totp/LDN%20Titration%20Tracker%3Adr.lee?")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert base64.b32decode(secret) == device.bin_key
    assert secret in html.replace(" ", "")
    assert uri.replace("&", "&amp;") in html

    svg = re.search(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert svg is not None
    assert 'role="img"' in svg.group(0)
    assert "<path" in svg.group(0)
    assert "<script" not in svg.group(0)
    assert "<img" not in html and "http://" not in svg.group(0).replace("http://www.w3.org/2000/svg", "")


def test_reloading_the_setup_page_keeps_the_same_secret(prescriber, prescriber_client):
    first = prescriber_client.get(SETUP).context["secret"]
    second = prescriber_client.get(SETUP).context["secret"]
    assert first == second
    assert TOTPDevice.objects.filter(user=prescriber).count() == 1


def test_a_valid_code_turns_it_on_and_shows_ten_recovery_codes_once(clock, prescriber, prescriber_client):
    prescriber_client.get(SETUP)
    device = TOTPDevice.objects.get(user=prescriber)

    response = prescriber_client.post(SETUP, {"code": code_for(device)})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    codes = response.context["codes"]
    assert len(codes) == len(set(codes)) == RECOVERY_CODE_COUNT == 10
    html = response.content.decode()
    assert all(code in html for code in codes)
    assert "shown only now" in html
    assert sorted(StaticToken.objects.filter(device__user=prescriber).values_list("token", flat=True)) == sorted(codes)
    assert response["Cache-Control"] == "no-store"

    # Signed in with the new device already; the codes are not shown again.
    overview = prescriber_client.get(OVERVIEW).content.decode()
    assert "On." in overview
    assert "Recovery codes left: 10" in overview
    assert not any(code in overview for code in codes)
    assert prescriber_client.get(SETUP).status_code == 302


def test_a_code_with_spaces_is_accepted(clock, prescriber, prescriber_client):
    prescriber_client.get(SETUP)
    code = code_for(TOTPDevice.objects.get(user=prescriber))
    response = prescriber_client.post(SETUP, {"code": f" {code[:3]} {code[3:]} "})
    assert "codes" in response.context


def test_a_wrong_code_does_not_turn_it_on(clock, prescriber, prescriber_client):
    prescriber_client.get(SETUP)
    device = TOTPDevice.objects.get(user=prescriber)

    response = prescriber_client.post(SETUP, {"code": wrong_code_for(device)})

    assert response.status_code == 200
    assert INVALID_CODE in response.context["form"].errors["code"]
    device.refresh_from_db()
    assert not device.confirmed
    assert device.throttling_failure_count == 1
    assert not StaticToken.objects.exists()


def test_a_code_from_an_old_secret_is_refused(clock, prescriber, prescriber_client):
    old = TOTPDevice.objects.create(user=prescriber, name="old", confirmed=False)
    old_code = code_for(old)
    old.delete()
    prescriber_client.get(SETUP)
    response = prescriber_client.post(SETUP, {"code": old_code})
    assert "codes" not in response.context
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_turning_it_off_needs_a_valid_code(clock, prescriber, prescriber_client):
    device, _ = give_authenticator(prescriber)
    prescriber_client.post(reverse("accounts:two-factor-verify"), {"code": code_for(device)})

    clock.shift(datetime.timedelta(seconds=31))
    response = prescriber_client.post(DISABLE, {"disable-code": wrong_code_for(device)})
    assert response.status_code == 200
    assert INVALID_CODE in response.context["disable_form"].errors["code"]
    assert TOTPDevice.objects.filter(user=prescriber).exists()

    clock.shift(datetime.timedelta(seconds=31))
    response = prescriber_client.post(DISABLE, {"disable-code": code_for(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=prescriber).exists()
    assert not StaticToken.objects.filter(device__user=prescriber).exists()
    assert "Off." in prescriber_client.get(OVERVIEW).content.decode()


def test_new_recovery_codes_replace_the_old_ones(clock, prescriber, prescriber_client):
    device, old_codes = give_authenticator(prescriber)
    prescriber_client.post(reverse("accounts:two-factor-verify"), {"code": code_for(device)})

    response = prescriber_client.post(NEW_CODES, {"codes-code": old_codes[0]})

    new_codes = response.context["codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(new_codes)


def test_the_pages_that_change_it_are_post_only(prescriber_client):
    assert prescriber_client.get(DISABLE).status_code == 405
    assert prescriber_client.get(NEW_CODES).status_code == 405
