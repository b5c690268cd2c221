"""Each request has an id: sent back in X-Request-ID and written on each of its log lines."""

import logging
import uuid

import pytest
from django.urls import reverse

from ldn_tracker.middleware import RequestIdFilter

from .urls_with_errors import SECRET_IN_ERROR

pytestmark = pytest.mark.django_db


def request_id_of(response) -> str:
    value = response["X-Request-ID"]
    assert str(uuid.UUID(value)) == value
    return value


def test_every_response_carries_a_new_request_id(client, prescriber_client):
    ids = {request_id_of(client.get(reverse("login"))), request_id_of(prescriber_client.get("/"))}
    ids.add(request_id_of(client.get("/no-such-page/")))
    assert len(ids) == 3
    assert all(uuid.UUID(value).version == 4 for value in ids)


def test_a_valid_incoming_request_id_is_kept(client):
    incoming = str(uuid.uuid4())
    assert request_id_of(client.get(reverse("login"), headers={"X-Request-ID": incoming})) == incoming
    upper = incoming.upper()
    assert request_id_of(client.get(reverse("login"), headers={"X-Request-ID": upper})) == incoming


@pytest.mark.parametrize("incoming", ["not-a-uuid", "1234", "x" * 300, "a\nb", "' OR 1=1 --"])
def test_any_other_incoming_request_id_is_replaced(client, incoming):
    assert request_id_of(client.get(reverse("login"), headers={"X-Request-ID": incoming})) != incoming


def test_the_log_lines_of_a_request_carry_its_id(client, prescriber, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    response = client.post(reverse("login"), {"username": prescriber.username, "password": "wrong"})
    request_id = request_id_of(response)
    records = [r for r in caplog.records if r.name == "ldn_tracker.security"]
    assert records
    assert {r.request_id for r in records} == {request_id}


def test_log_lines_outside_a_request_get_a_dash():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"


def test_the_console_log_format_shows_the_request_id(settings):
    console = settings.LOGGING["handlers"]["console"]
    assert "request_id" in console["filters"]
    assert "%(request_id)s" in settings.LOGGING["formatters"][console["formatter"]]["format"]


def test_an_unhandled_error_is_logged_with_the_request_id(settings, prescriber_client, caplog):
    settings.ROOT_URLCONF = "tests.accounts.urls_with_errors"
    caplog.handler.addFilter(RequestIdFilter())
    prescriber_client.raise_request_exception = False

    response = prescriber_client.get("/fail/")

    assert response.status_code == 500
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert record.request_id == request_id_of(response)
    assert record.exc_info is not None
    assert SECRET_IN_ERROR in str(record.exc_info[1])
