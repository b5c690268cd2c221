"""Security events on the "ldn_tracker.security" logger: who, when (UTC), from where, which path."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

from .conftest import sign_in

pytestmark = pytest.mark.django_db

SECURITY = "ldn_tracker.security"


@pytest.fixture
def security_log(caplog):
    caplog.set_level(logging.INFO, logger=SECURITY)

    def events(name: str) -> list[dict[str, str]]:
        return [r.security for r in caplog.records if r.name == SECURITY and r.security["event"] == name]

    return events


def test_a_failed_sign_in_is_logged_with_the_name_time_address_and_path(clock, client, prescriber, security_log):
    sign_in(client, prescriber.username, "wrong-password-here", REMOTE_ADDR="203.0.113.7")
    [event] = security_log("login_failed")
    assert event == {
        "event": "login_failed",
        "user": "dr.lee",
        "at": "2026-03-02T09:00:00Z",
        "remote_addr": "203.0.113.7",
        "path": reverse("login"),
    }


def test_the_password_is_never_logged(client, prescriber, caplog, security_log):
    sign_in(client, prescriber.username, "wrong-password-here")
    sign_in(client, prescriber.username, PASSWORD)
    assert "wrong-password-here" not in caplog.text
    assert PASSWORD not in caplog.text
    assert [event["user"] for event in security_log("login")] == ["dr.lee"]


def test_a_lockout_is_logged(client, prescriber, security_log):
    for _ in range(5):
        sign_in(client, prescriber.username, "wrong-password-here")
    [event] = security_log("locked_out")
    assert event["user"] == "dr.lee"
    assert event["remote_addr"] == "127.0.0.1"


def test_a_404_is_logged_with_the_path_but_never_the_query_string(prescriber_client, caplog, security_log):
    response = prescriber_client.get("/patients/999999/", {"q": "Byron", "mrn": "A-100"})
    assert response.status_code == 404
    [event] = security_log("not_found")
    assert event["user"] == "dr.lee"
    assert event["path"] == "/patients/999999/"
    assert "Byron" not in caplog.text
    assert "A-100" not in caplog.text


def test_a_404_for_an_anonymous_visitor_is_logged_as_anonymous(client, security_log):
    client.get("/no-such-page/")
    [event] = security_log("not_found")
    assert event["user"] == "anonymous"


def test_a_403_is_logged_with_the_user(staff_client, security_log):
    assert staff_client.get(f"{reverse('patients:create')}?q=Byron").status_code == 403
    [event] = security_log("forbidden")
    assert event["user"] == "nurse.kim"
    assert event["path"] == reverse("patients:create")


def test_a_refused_csrf_token_is_logged(prescriber, security_log):
    client = Client(enforce_csrf_checks=True)
    client.force_login(prescriber)
    assert client.post(reverse("patients:create"), {}).status_code == 403
    assert security_log("forbidden")


def test_a_name_with_a_line_break_cannot_forge_a_log_line(client, caplog, security_log):
    sign_in(client, "x\n2026-01-01 WARNING ldn_tracker.security security event=login user=admin", "wrong")
    [record] = [r for r in caplog.records if getattr(r, "security", {}).get("event") == "login_failed"]
    assert "\n" not in record.getMessage()
    assert record.security["user"].startswith("x?2026-01-01")
