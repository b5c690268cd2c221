"""Sessions: a new key at sign-in, sign-out on the server, and the idle and absolute time limits."""

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.middleware import SESSION_TIME_LIMIT_REACHED
from tests.conftest import client_for

from .conftest import LOGIN_URL, sign_in

pytestmark = pytest.mark.django_db

PAGE = "/"


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def signed_in(client: Client) -> bool:
    response = client.get(PAGE)
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
    return False


def test_signing_in_gives_a_new_session_key(client, prescriber):
    planted = SessionStore()
    planted["visited"] = True
    planted.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    assert sign_in(client, prescriber.username).status_code == 302

    assert session_key(client) != planted.session_key
    assert not Session.objects.filter(session_key=planted.session_key).exists()
    assert signed_in(client)


def test_sign_out_is_post_only(prescriber_client):
    assert prescriber_client.get(reverse("logout")).status_code == 405
    assert signed_in(prescriber_client)


def test_sign_out_ends_the_session_on_the_server(client, prescriber):
    sign_in(client, prescriber.username)
    old_key = session_key(client)

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert not Session.objects.filter(session_key=old_key).exists()

    # Someone who kept a copy of the old cookie gets nothing from it.
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_key
    assert not signed_in(replay)


def test_a_deactivated_user_is_signed_out_on_the_next_request(prescriber):
    client = client_for(prescriber)
    assert signed_in(client)
    prescriber.is_active = False
    prescriber.save()
    assert not signed_in(client)


def test_thirty_minutes_without_a_request_end_the_session(clock, prescriber):
    client = client_for(prescriber)
    clock.shift(datetime.timedelta(minutes=29))
    assert signed_in(client)
    clock.shift(datetime.timedelta(minutes=30, seconds=1))
    assert not signed_in(client)


def test_activity_keeps_the_session_alive(clock, prescriber):
    client = client_for(prescriber)
    for _ in range(6):
        clock.shift(datetime.timedelta(minutes=25))
        assert signed_in(client)


def test_the_session_ends_twelve_hours_after_sign_in_however_active(clock, prescriber):
    client = client_for(prescriber)
    for _ in range(11 * 2 + 1):  # a request every 30 minutes less a second, up to 11:30 after sign-in
        clock.shift(datetime.timedelta(minutes=30) - datetime.timedelta(seconds=1))
        assert signed_in(client)
    clock.shift(datetime.timedelta(minutes=29))
    assert signed_in(client)  # 11:59 after sign-in

    clock.shift(datetime.timedelta(minutes=2))
    response = client.get(f"{reverse('patients:list')}?q=Byron")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
    assert "_auth_user_id" not in client.session
    login_page = client.get(response["Location"])
    assert SESSION_TIME_LIMIT_REACHED.format(hours=12) in login_page.content.decode()
    assert not signed_in(client)


def test_signing_in_again_restarts_the_twelve_hours(clock, client, prescriber):
    sign_in(client, prescriber.username)
    for _ in range(28):  # active until 11:40 after sign-in
        clock.shift(datetime.timedelta(minutes=25))
        assert signed_in(client)
    assert sign_in(client, prescriber.username).status_code == 302  # signs in again, same session data
    clock.shift(datetime.timedelta(minutes=25))
    assert signed_in(client)  # 12:05 after the first sign-in, 0:25 after the second
