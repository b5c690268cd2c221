"""Helpers for the sign-in tests: a frozen clock, the real sign-in form, and authenticator codes."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import TOTP_DEVICE_NAME, recovery_codes_replace
from tests.conftest import PASSWORD

LOGIN_URL = reverse("login")
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """A clock that stands still until the test moves it with ``clock.shift(...)``."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: str) -> Any:
    """Post the real sign-in form, as a browser does (``Client.login`` bypasses django-axes)."""
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def code_for(device: TOTPDevice) -> str:
    """The code the authenticator app shows now."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def wrong_code_for(device: TOTPDevice) -> str:
    """A well-formed code that the app does not show now."""
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


def give_authenticator(user: User) -> tuple[TOTPDevice, list[str]]:
    """A confirmed authenticator and ten recovery codes, as after the set-up page."""
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    return device, recovery_codes_replace(user=user)
