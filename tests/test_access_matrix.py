"""Access control for every named URL: each role's status for GET and POST, against one clinic's records.

The clinic and its records are built once for the module and each case runs in a transaction rolled back to
them (pytest-django's ``db`` inside the module's own transaction, as Django's ``TestCase.setUpTestData``). A
case of the outsider (a prescriber of another clinic) that is refused also changes nothing in the database.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse

from patients.models import Clinic, clinic_today
from patients.roles import Role
from tests.conftest import fast_password_hashing, pinned_clock
from tests.dbstate import changed_tables, database_state, own_rows_of
from tests.factories import ClinicFactory, UserFactory, clinic_with_records
from tests.urlconf import named_patterns

ANON, STAFF, PRESCRIBER, OUTSIDER = "anonymous", "staff", "prescriber", "outsider"
ROLES = [ANON, STAFF, PRESCRIBER, OUTSIDER]
LOGIN = 302  # anonymous: redirected to the login page

# Expected status per URL name: {method: (staff, prescriber, outsider)}. Anonymous is always LOGIN.
# The outsider is a prescriber of another clinic: every patient-scoped URL is a 404 to them.
EXPECTED: dict[str, dict[str, tuple[int, int, int]]] = {
    "titration:dashboard": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "titration:worklist": {"get": (200, 200, 200), "post": (405, 405, 405)},
    # Logging today's expected dose in one action: prescribers only; a dose not named goes to the form.
    "titration:dose-log-expected": {"get": (405, 405, 405), "post": (403, 302, 404)},
    "patients:list": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "patients:create": {"get": (403, 200, 200), "post": (403, 200, 200)},
    "titration:patient": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "patients:edit": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:dose-create": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:dose-diary": {"get": (403, 200, 404), "post": (403, 200, 404)},  # an empty POST: a stale grid
    "titration:dose-void": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:plan": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:checkin-create": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "titration:checkin-void": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "titration:export": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:history": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:schedule": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:flags": {"get": (200, 200, 200), "post": (405, 405, 405)},
    # The clinic outcomes: each user sees only their own clinics' patients; the research export is prescribers'.
    "titration:outcomes": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "titration:outcomes-export": {"get": (403, 200, 200), "post": (405, 405, 405)},
    # The world's flag is critical: only a prescriber acknowledges it.
    "titration:flag-acknowledge": {"get": (405, 405, 405), "post": (403, 302, 404)},
    "titration:flag-comment": {"get": (405, 405, 405), "post": (302, 302, 404)},  # an empty comment: a message
    "titration:flags-acknowledge-info": {"get": (405, 405, 405), "post": (302, 302, 404)},  # no note: a message
    "titration:plan-state": {"get": (405, 405, 405), "post": (403, 302, 404)},
    "medications:list": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "medications:create": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:end": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:void": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:safety": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "patients:access-csv": {"get": (403, 403, 404), "post": (405, 405, 405)},
    "patients:access-log": {"get": (403, 403, 403), "post": (405, 405, 405)},
    "patients:clinic-settings": {"get": (403, 403, 404), "post": (403, 403, 404)},  # needs patients.change_clinic
    "logout": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "password_change": {"get": (200, 200, 200), "post": (200, 200, 200)},
    "password_change_done": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "accounts:two-factor": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "accounts:two-factor-setup": {"get": (200, 200, 200), "post": (200, 200, 200)},
    "accounts:two-factor-verify": {"get": (302, 302, 302), "post": (302, 302, 302)},  # nothing to verify
    "accounts:two-factor-disable": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "accounts:two-factor-recovery-codes": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "fhir:download": {"get": (200, 200, 404), "post": (405, 405, 405)},
    # The FHIR API takes OAuth tokens, never a session: signed in or not, no token is a 401 (tests/fhir).
    "fhir:metadata": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "fhir:smart-configuration": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "fhir:token": {"get": (405, 405, 405), "post": (400, 400, 400)},  # no grant_type
    "fhir:search": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "fhir:read": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "fhir:everything": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "importer:upload": {"get": (403, 200, 200), "post": (403, 200, 200)},  # no file: the form's message
    "importer:template-csv": {"get": (403, 200, 200), "post": (405, 405, 405)},
    "importer:template-xlsx": {"get": (403, 200, 200), "post": (405, 405, 405)},
    "importer:batch": {"get": (403, 200, 404), "post": (403, 200, 404)},  # the prescriber's own upload
}
# Anonymous requests that are not sent to the sign-in page: the FHIR API's, answered as for everyone else.
ANONYMOUS_EXPECTED = {name: statuses for name, statuses in EXPECTED.items() if name.startswith("fhir:")}
del ANONYMOUS_EXPECTED["fhir:download"]

CASES = [(name, method, role) for name, _ in named_patterns() for method in ("get", "post") for role in ROLES]


def test_every_url_has_an_expectation():
    missing = sorted({name for name, _ in named_patterns()} - set(EXPECTED))
    assert not missing, f"add the expected statuses of {missing} to EXPECTED"


@dataclass(frozen=True)
class World:
    """One clinic with one of every record, and the session key of each role, built once for the module."""

    ids: dict[str, Any]
    sessions: dict[str, str]
    outsider: User
    state: dict[str, tuple[int, str]]  # the database as built, but what the outsider's requests may write

    def client(self, role: str) -> Client:
        client = Client()
        if role in self.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return client


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Built once in a transaction of its own, rolled back after the module; each case rolls back to it."""
    with django_db_blocker.unblock(), pinned_clock(), fast_password_hashing(), transaction.atomic():
        # Named apart from the conftest's clinics, in case a test of this module ever uses those too.
        records = clinic_with_records(clinic_today(Clinic()), name="Matrix Clinic")
        outsider = UserFactory(role=Role.PRESCRIBER, clinic=ClinicFactory(name="Matrix Outsider Clinic"))
        sessions = {}
        for role, user in ((STAFF, records.staff), (PRESCRIBER, records.prescriber), (OUTSIDER, outsider)):
            client = Client()
            client.force_login(user)
            sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
        state = database_state(own_rows_of(outsider))
        yield World(ids=records.url_ids, sessions=sessions, outsider=outsider, state=state)
        transaction.set_rollback(True)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_access_matrix(world, name, method, role):
    kwargs = {key: world.ids[key] for key in dict(named_patterns())[name]}
    path = reverse(name, kwargs=kwargs)
    response = getattr(world.client(role), method)(path)
    if role == ANON and name in ANONYMOUS_EXPECTED:
        assert response.status_code == ANONYMOUS_EXPECTED[name][method][0], (name, method)
        return
    if role == ANON:
        assert response.status_code == LOGIN, (name, method)
        assert response["Location"].startswith(reverse("login"))
        return
    expected = EXPECTED[name][method][[STAFF, PRESCRIBER, OUTSIDER].index(role)]
    assert response.status_code == expected, (name, method, role)
    if role == OUTSIDER and expected in (403, 404, 405):
        assert changed_tables(world.state, database_state(own_rows_of(world.outsider))) == [], (name, method)


def test_the_matrix_covers_many_cases():
    assert len(CASES) >= 24 * 2 * 4
