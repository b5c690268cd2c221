"""Shared fixtures: two clinics, a prescriber and a staff member of the first, and an outsider of the second."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from importlib import import_module
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.test import Client, override_settings
from hypothesis import settings as hypothesis_settings

from patients.models import Clinic, Condition, Diagnosis, Membership, Patient, clinic_today
from patients.roles import Role

PASSWORD = "correct-horse-battery-staple"

# Property tests check behaviour, never speed: no per-example deadline (a busy machine is not a failure).
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")


# pytest-xdist (``make test`` runs the suite in one worker per core): the axe-core counts of the browser tests are
# kept by the worker that ran them (tests/browser/conftest.py AXE_COUNTS) and handed to the controller at the
# end, which prints them as a run without workers does.
_AXE_COUNTS_OF_WORKERS: dict[str, dict[str, int]] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    browser = sys.modules.get("tests.browser.conftest")
    if workeroutput is not None and browser is not None:
        workeroutput["axe_counts"] = dict(browser.AXE_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _AXE_COUNTS_OF_WORKERS.update(getattr(node, "workeroutput", {}).get("axe_counts", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _AXE_COUNTS_OF_WORKERS:
        return  # no workers (tests/browser/conftest.py prints its own), or no browser test ran
    write = terminalreporter.write_line
    write("axe-core WCAG 2.1 AA violations (elements) by page and impact:")
    impacts = ("critical", "serious", "moderate", "minor")
    for name, counts in sorted(_AXE_COUNTS_OF_WORKERS.items()):
        write(f"  {name:28} " + "  ".join(f"{impact} {counts.get(impact, 0)}" for impact in impacts))


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# "Now" for every test: a Monday at noon, so that "today" is the same date in every run and every time zone
# the tests use, and a test's dates never straddle a real midnight. The clock ticks on from there. It is the
# instant the tests' own standing clocks start at (tests/titration/conftest.py MONDAY), never after it: a
# session signed in at PINNED_NOW must not have been idle when such a clock reads it.
PINNED_NOW = datetime.datetime(2026, 3, 9, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


def fast_password_hashing() -> override_settings:
    """Fast password hashing for fixtures broader than one test, which the settings fixture cannot reach."""
    return override_settings(PASSWORD_HASHERS=FAST_HASHERS)


def pinned_clock() -> time_machine.travel:
    return time_machine.travel(PINNED_NOW, tick=True)


def _on_the_real_clock(request: pytest.FixtureRequest) -> bool:
    """A browser, and a server in a process of its own, read the machine's clock, which time-machine cannot
    move: those tests, and the live server's thread that answers them, stay on the real clock."""
    return (
        request.node.get_closest_marker("browser") is not None
        or request.node.get_closest_marker("real_clock") is not None
        or "live_server" in request.fixturenames
    )


@pytest.fixture(autouse=True)
def clock_pinned(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller | None]:
    """Every test runs at PINNED_NOW (and a test's own ``time_machine.travel`` moves it further)."""
    if _on_the_real_clock(request):
        yield None
        return
    with pinned_clock() as traveller:
        yield traveller


@contextmanager
def built_once(django_db_blocker: Any) -> Iterator[None]:
    """For a module-scoped fixture: what it builds inside stays for the module's tests and is rolled back after them.

    As Django's ``TestCase.setUpTestData``: the records are built once in a transaction of their own, each test's
    ``db`` runs in a savepoint inside it and rolls back to them. Only for records that the tests read and do not
    change as Python objects (every test gets the same instances); never in a module with committing tests.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


def seed_reference_data() -> None:
    """Put back what the data migrations create (role groups, permissions, conditions).

    A test that really commits (transaction=True, the live server) empties every table when it ends, so the
    next one must restore the reference data the app cannot run without.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    seeds = [
        ("patients", import_module("patients.migrations.0002_seed_conditions_and_roles")),
        ("titration", import_module("titration.migrations.0002_role_permissions")),
        ("titration", import_module("titration.migrations.0004_checkin_permissions")),
        ("titration", import_module("titration.migrations.0007_engine_v2")),
        ("medications", import_module("medications.migrations.0003_role_permissions")),
    ]
    for app_label, migration in seeds:
        for group_name, codenames in migration.ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=group_name)
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    for name, icd10, snomed in seeds[0][1].CONDITIONS:
        Condition.objects.get_or_create(name=name, defaults={"icd10_code": icd10, "snomed_code": snomed})
    import_module("medications.migrations.0002_opioid_reference_list").ship(apps, None)


_COMMITTED = pytest.StashKey[Any]()


@pytest.fixture(autouse=True)
def _reference_data_for_committing_tests(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    committing = (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction", False))
    )
    if committing:
        request.getfixturevalue("transactional_db")
        seed_reference_data()
        request.node.stash[_COMMITTED] = request.getfixturevalue("django_db_blocker")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a committing test has emptied every table, put the reference data back for the tests that follow.

    Run alone, pytest-django puts the committing tests last; under pytest-xdist (``make test``) a worker runs the
    tests of a file together, and the tests of the next file in its share must find the data the migrations made.
    """
    try:
        return (yield)
    finally:
        blocker = item.stash.get(_COMMITTED, None)
        # No next test: the test databases are gone too, and the connection points at the real one again.
        if blocker is not None and nextitem is not None:
            with blocker.unblock():
                seed_reference_data()


def make_user(username: str, role: Role | None, clinic: Clinic | None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.group_name))
    if clinic is not None:
        Membership.objects.create(user=user, clinic=clinic)
    return user


@pytest.fixture
def today() -> datetime.date:
    """The day of a clinic with the default settings (its day begins at 04:00), as the app counts it."""
    return clinic_today(Clinic())


@pytest.fixture
def clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="North Pain Clinic")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="South Pain Clinic")


@pytest.fixture
def prescriber(clinic: Clinic) -> User:
    return make_user("dr.lee", Role.PRESCRIBER, clinic)


@pytest.fixture
def staff(clinic: Clinic) -> User:
    return make_user("nurse.kim", Role.STAFF, clinic)


@pytest.fixture
def outsider(other_clinic: Clinic) -> User:
    """A prescriber of another clinic: sees none of the first clinic's patients."""
    return make_user("dr.other", Role.PRESCRIBER, other_clinic)


@pytest.fixture
def fibromyalgia(db: None) -> Condition:
    return Condition.objects.get(name="Fibromyalgia")


@pytest.fixture
def crohns(db: None) -> Condition:
    return Condition.objects.get(name="Crohn's disease")


@pytest.fixture
def make_patient(clinic: Clinic, prescriber: User, fibromyalgia: Condition) -> Callable[..., Patient]:
    counter = iter(range(1, 10_000))

    def build(**overrides: Any) -> Patient:
        fields: dict[str, Any] = {
            "clinic": clinic,
            "mrn": f"MRN-{next(counter):04d}",
            "given_name": "Ada",
            "family_name": "Byron",
            "date_of_birth": datetime.date(1980, 6, 1),
            "prescriber": prescriber,
        }
        fields.update(overrides)
        patient = Patient.objects.create(**fields)
        Diagnosis.objects.create(patient=patient, condition=fibromyalgia, diagnosed_on=datetime.date(2020, 1, 1))
        return patient

    return build


@pytest.fixture
def patient(make_patient: Callable[..., Patient]) -> Patient:
    return make_patient(mrn="A-100", given_name="Ada", family_name="Byron")


def client_for(user: User) -> Client:
    """A client signed in as ``user``; an admin user or superuser also past two-factor sign-in, which they must use."""
    client = Client()
    client.force_login(user)
    if user.is_staff or user.is_superuser:
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def prescriber_client(prescriber: User) -> Client:
    return client_for(prescriber)


@pytest.fixture
def staff_client(staff: User) -> Client:
    return client_for(staff)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return client_for(outsider)


def mg(value: str) -> Decimal:
    return Decimal(value)
