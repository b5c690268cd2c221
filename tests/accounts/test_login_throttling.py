"""django-axes: five failed sign-ins for one username from one address lock that pair out for 15 minutes."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.urls import reverse

from tests.conftest import PASSWORD

from .conftest import sign_in

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"
LOCKOUT_STATUS = 429


def fail(client, username: str, times: int, **extra: str):
    """``times`` wrong passwords; the last answer (the fifth is already the lockout page)."""
    statuses = [sign_in(client, username, WRONG, **extra).status_code for _ in range(times)]
    assert statuses[:4] == [200] * min(times, 4)
    return statuses[-1]


def error_text(response) -> str:
    return " ".join(response.context["form"].non_field_errors())


def test_the_right_password_signs_in(client, prescriber):
    response = sign_in(client, prescriber.username)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_after_five_failures_even_the_right_password_is_refused(client, clock, prescriber):
    assert fail(client, prescriber.username, 4) == 200
    response = sign_in(client, prescriber.username, WRONG)
    assert response.status_code == LOCKOUT_STATUS
    assert "Sign-in paused" in response.content.decode()
    assert "accounts/lockout.html" in [template.name for template in response.templates]

    response = sign_in(client, prescriber.username, PASSWORD)
    assert response.status_code == LOCKOUT_STATUS
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_four_failures_do_not_lock(client, clock, prescriber):
    fail(client, prescriber.username, 4)
    assert sign_in(client, prescriber.username).status_code == 302


def test_the_lockout_ends_after_fifteen_minutes(client, clock, prescriber):
    fail(client, prescriber.username, 5)
    clock.shift(datetime.timedelta(minutes=14))
    assert sign_in(client, prescriber.username).status_code == LOCKOUT_STATUS

    # The refused attempt above restarted the cool-off.
    clock.shift(datetime.timedelta(minutes=15, seconds=1))
    response = sign_in(client, prescriber.username)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_the_lockout_is_for_the_username_and_address_together(client, clock, prescriber, staff):
    fail(client, prescriber.username, 5)
    assert sign_in(client, prescriber.username, REMOTE_ADDR="192.0.2.10").status_code == 302
    assert sign_in(client, staff.username).status_code == 302
    assert AccessAttempt.objects.get(username=prescriber.username).ip_address == "127.0.0.1"


def test_a_successful_sign_in_clears_the_earlier_failures(client, clock, prescriber):
    fail(client, prescriber.username, 4)
    assert sign_in(client, prescriber.username).status_code == 302
    client.post(reverse("logout"))
    fail(client, prescriber.username, 4)
    assert sign_in(client, prescriber.username).status_code == 302


def test_the_failure_message_is_the_same_for_a_wrong_password_an_unknown_name_and_an_inactive_account(
    client, prescriber, make_user_inactive
):
    wrong_password = error_text(sign_in(client, prescriber.username, WRONG))
    unknown = error_text(sign_in(client, "no.such.person", WRONG))
    inactive = error_text(sign_in(client, make_user_inactive.username, PASSWORD))
    assert wrong_password == unknown == inactive
    assert "correct username and password" in wrong_password
    assert "no.such.person" not in unknown


def test_an_unknown_username_is_locked_out_with_the_same_page(client, clock, prescriber):
    fail(client, prescriber.username, 5)
    known = sign_in(client, prescriber.username)
    fail(client, "no.such.person", 5)
    unknown = sign_in(client, "no.such.person")
    assert known.status_code == unknown.status_code == LOCKOUT_STATUS
    assert known.content.decode().replace(prescriber.username, "X") == unknown.content.decode().replace(
        "no.such.person", "X"
    )
    assert prescriber.username not in known.content.decode()
    assert "no.such.person" not in unknown.content.decode()
    assert "15 minutes" in unknown.content.decode()


@pytest.fixture
def make_user_inactive(clinic) -> User:
    user = User.objects.create_user(username="gone.away", password=PASSWORD, is_active=False)
    return user
