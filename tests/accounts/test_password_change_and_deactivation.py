"""The password change throttles wrong old passwords like sign-in; deactivating an account ends its sessions."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import SignInFailure
from tests.conftest import PASSWORD, client_for

from .conftest import sign_in

pytestmark = pytest.mark.django_db

CHANGE = reverse("password_change")
NEW = "a-brand-new-passphrase-2026"
LOCKED = 429


def change(client: Client, old: str, **extra: str):
    return client.post(CHANGE, {"old_password": old, "new_password1": NEW, "new_password2": NEW}, **extra)


def password_is_unchanged(user: User) -> bool:
    user.refresh_from_db()
    return user.check_password(PASSWORD)


def test_the_right_old_password_changes_it(prescriber_client, prescriber):
    assert change(prescriber_client, PASSWORD)["Location"] == reverse("password_change_done")
    assert not password_is_unchanged(prescriber)


def test_five_wrong_old_passwords_lock_the_change_even_for_the_right_one(clock, prescriber_client, prescriber):
    for _ in range(4):
        response = change(prescriber_client, "a-wrong-old-password")
        assert response.status_code == 200
        assert "old password was entered incorrectly" in response.content.decode()
    assert change(prescriber_client, "a-wrong-old-password").status_code == LOCKED

    response = change(prescriber_client, PASSWORD)
    assert response.status_code == LOCKED
    assert "Sign-in paused" in response.content.decode()
    assert password_is_unchanged(prescriber)
    # The same lock as sign-in: that username from that address.
    assert sign_in(Client(), prescriber.username).status_code == LOCKED

    clock.shift(datetime.timedelta(minutes=15, seconds=1))
    assert change(prescriber_client, PASSWORD).status_code == 302


def test_wrong_old_passwords_from_many_addresses_count_towards_the_account_wide_limit(clock, prescriber):
    client = client_for(prescriber)
    for n in range(10):
        assert change(client, "a-wrong-old-password", REMOTE_ADDR=f"192.0.2.{n + 1}").status_code == 200
    assert SignInFailure.objects.filter(username=prescriber.username).count() == 10
    assert change(client, PASSWORD, REMOTE_ADDR="192.0.2.200").status_code == LOCKED
    assert password_is_unchanged(prescriber)
    assert sign_in(Client(), prescriber.username, REMOTE_ADDR="192.0.2.201").status_code == LOCKED


def sessions_of(user: User) -> list[Session]:
    return [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def test_deactivating_a_user_deletes_their_sessions_so_reactivating_revives_none(prescriber, staff):
    desk, laptop = Client(), client_for(prescriber)
    assert sign_in(desk, prescriber.username).status_code == 302
    colleague = client_for(staff)
    assert signed_in(desk) and signed_in(laptop)
    assert len(sessions_of(prescriber)) == 2

    prescriber.is_active = False
    prescriber.save()
    assert sessions_of(prescriber) == []

    prescriber.is_active = True
    prescriber.save()
    assert not signed_in(desk)
    assert not signed_in(laptop)
    assert signed_in(colleague)


def test_deactivating_a_user_in_the_admin_ends_their_sessions(prescriber):
    victim = client_for(prescriber)
    admin = client_for(User.objects.create_superuser("root", "root@example.org", "a-long-admin-passphrase"))
    url = f"/admin/auth/user/{prescriber.pk}/change/"
    assert admin.get(url).status_code == 200
    # The admin's user form as sent with "Active" unticked (an unticked box is not sent at all).
    data = {
        "username": prescriber.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "groups": [group.pk for group in prescriber.groups.all()],
        "date_joined_0": prescriber.date_joined.date().isoformat(),
        "date_joined_1": "09:00:00",
    }
    response = admin.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    prescriber.refresh_from_db()
    assert not prescriber.is_active
    assert sessions_of(prescriber) == []

    prescriber.is_active = True
    prescriber.save()
    assert not signed_in(victim)
    assert signed_in(admin)
