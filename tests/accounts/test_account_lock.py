"""The account-wide sign-in limit: 10 wrong passwords for one username from any addresses lock it, briefly."""

import datetime
import logging

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from accounts.account_lock import FAILURE_LIMIT, cool_off_for
from accounts.models import AccountLock
from tests.conftest import PASSWORD, client_for

from .conftest import sign_in

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"
LOCKED = 429
SECURITY = "ldn_tracker.security"


def address(n: int) -> str:
    return f"198.51.{n // 250}.{n % 250 + 1}"


def spread_guesses(client, username: str, *, addresses: int, each: int, first: int = 0) -> list[int]:
    """``each`` wrong passwords from each of ``addresses`` addresses (fewer than axes' 5 per address)."""
    return [
        sign_in(client, username, WRONG, REMOTE_ADDR=address(first + n)).status_code
        for n in range(addresses)
        for _ in range(each)
    ]


def signs_in(client, username: str, n: int = 999) -> bool:
    response = sign_in(client, username, PASSWORD, REMOTE_ADDR=address(n))
    if response.status_code == 302:
        assert "_auth_user_id" in client.session
        client.post(reverse("logout"))
        return True
    assert response.status_code == LOCKED
    assert "_auth_user_id" not in client.session
    return False


def test_eighty_guesses_from_twenty_addresses_then_the_right_password_is_refused(client, clock, prescriber):
    statuses = spread_guesses(client, prescriber.username, addresses=20, each=4)
    assert statuses[:FAILURE_LIMIT] == [200] * FAILURE_LIMIT
    assert set(statuses[FAILURE_LIMIT:]) == {LOCKED}

    response = sign_in(client, prescriber.username, PASSWORD, REMOTE_ADDR="203.0.113.99")
    assert response.status_code == LOCKED
    assert "Sign-in paused" in response.content.decode()
    assert "1 minute," in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_the_cool_off_grows_and_then_the_right_password_works(client, clock, prescriber):
    spread_guesses(client, prescriber.username, addresses=20, each=4)
    clock.shift(datetime.timedelta(seconds=59))
    assert not signs_in(client, prescriber.username)
    clock.shift(datetime.timedelta(seconds=2))

    # The lock ended on time; ten more wrong passwords start a second one, twice as long.
    spread_guesses(client, prescriber.username, addresses=5, each=2, first=100)
    response = sign_in(client, prescriber.username, PASSWORD, REMOTE_ADDR=address(999))
    assert response.status_code == LOCKED
    assert "2 minutes" in response.content.decode()
    clock.shift(datetime.timedelta(minutes=1, seconds=59))
    assert not signs_in(client, prescriber.username)
    clock.shift(datetime.timedelta(seconds=2))
    assert signs_in(client, prescriber.username)


def test_the_cool_off_doubles_up_to_fifteen_minutes():
    assert [cool_off_for(level).total_seconds() / 60 for level in range(7)] == [1, 2, 4, 8, 15, 15, 15]


def test_refused_attempts_during_the_cool_off_do_not_extend_it(client, clock, prescriber):
    spread_guesses(client, prescriber.username, addresses=5, each=2)
    for seconds in (10, 20, 20):
        clock.shift(datetime.timedelta(seconds=seconds))
        assert not signs_in(client, prescriber.username)
        assert sign_in(client, prescriber.username, WRONG, REMOTE_ADDR=address(50)).status_code == LOCKED
    clock.shift(datetime.timedelta(seconds=11))
    assert signs_in(client, prescriber.username)


def test_failures_older_than_fifteen_minutes_do_not_count(client, clock, prescriber):
    spread_guesses(client, prescriber.username, addresses=3, each=3)
    clock.shift(datetime.timedelta(minutes=15, seconds=1))
    spread_guesses(client, prescriber.username, addresses=1, each=1, first=10)
    assert signs_in(client, prescriber.username)


def test_the_page_is_the_same_for_an_unknown_username(client, clock, prescriber):
    spread_guesses(client, prescriber.username, addresses=5, each=2)
    spread_guesses(client, "no.such.person", addresses=5, each=2, first=20)
    known = sign_in(client, prescriber.username, PASSWORD, REMOTE_ADDR=address(90)).content.decode()
    unknown = sign_in(client, "no.such.person", PASSWORD, REMOTE_ADDR=address(91)).content.decode()
    assert prescriber.username not in known
    assert "no.such.person" not in unknown
    assert known == unknown


def test_the_per_address_lock_is_kept(client, clock, prescriber):
    spread_guesses(client, prescriber.username, addresses=1, each=5)
    assert not AccountLock.objects.exists()
    assert sign_in(client, prescriber.username, PASSWORD, REMOTE_ADDR=address(0)).status_code == LOCKED
    assert signs_in(client, prescriber.username, n=1)


def test_an_administrator_lifts_the_lock_and_it_is_logged(client, clock, prescriber, caplog):
    caplog.set_level(logging.INFO, logger=SECURITY)
    spread_guesses(client, prescriber.username, addresses=20, each=4)
    lock = AccountLock.objects.get(username=prescriber.username)
    admin = client_for(User.objects.create_superuser("root", "root@example.org", "a-long-admin-passphrase"))

    page = admin.get("/admin/accounts/accountlock/")
    assert page.status_code == 200
    assert prescriber.username in page.content.decode()
    response = admin.post("/admin/accounts/accountlock/", {"action": "lift", "_selected_action": [lock.pk]})
    assert response.status_code == 302

    assert signs_in(client, prescriber.username)
    lock.refresh_from_db()
    assert lock.lifted_by.username == "root"
    events = [record.security for record in caplog.records if record.name == SECURITY]
    [locked] = [event for event in events if event["event"] == "account_locked"]
    assert (locked["user"], locked["minutes"], locked["remote_addr"]) == ("dr.lee", "1", address(2))
    [lifted] = [event for event in events if event["event"] == "account_lock_lifted"]
    assert lifted["user"] == "root"
    assert lifted["target"] == "dr.lee"
    assert any(event["event"] == "account_locked_out" and event["user"] == "dr.lee" for event in events)


def test_the_lock_cannot_be_deleted_or_edited_in_the_admin(clock, prescriber, client):
    spread_guesses(client, prescriber.username, addresses=5, each=2)
    lock = AccountLock.objects.get()
    admin = client_for(User.objects.create_superuser("root", "root@example.org", "a-long-admin-passphrase"))
    assert admin.post(f"/admin/accounts/accountlock/{lock.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccountLock.objects.filter(pk=lock.pk).exists()
