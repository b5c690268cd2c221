"""Every URL pattern of the project, walked as a signed-in member of another clinic.

The walk iterates the URL resolver itself, so a new view is walked the day it is routed, and a pattern the walk
does not know how to fill (a new converter, a new unnamed pattern) fails the test rather than being skipped.
Each pattern's ids are those of another clinic's records; each is requested with GET and with a POST that carries
valid-looking form data. The outsider must get a 404 (or a 405 from a method check made before any lookup),
exactly as for an id that does not exist, never see the record, and the database must not change.

Left out of the comparison, because the outsider's own requests write them by design: their session (the
sessions table), their own rows of the access log (``patients_accesslog``, what they viewed of their own
clinic) and of the sign-in log (``axes_accesslog``), and the unconfirmed authenticator that the two-factor
set-up page makes for them. Every other table, the audit history tables included, must be unchanged, row for
row and value for value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.dbstate import changed_tables, database_state, own_rows_of
from tests.factories import ClinicRecords, clinic_with_records

# URL keyword arguments that name a clinic's record: a pattern with one of them is a record URL.
RECORD_KWARGS = {"patient_id", "clinic_id", "entry_id", "checkin_id", "medication_id", "batch_id", "flag_id"}
MISSING_ID = 10**8

# Patterns that name no record of a clinic, with the outsider's status for (GET, POST), and why.
NON_RECORD: dict[str, tuple[int, int]] = {
    # The outsider's own clinic's pages.
    "titration:dashboard": (200, 405),
    "titration:worklist": (200, 405),
    "titration:flags": (200, 405),
    "titration:outcomes": (200, 405),
    "titration:outcomes-export": (200, 405),
    "patients:list": (200, 405),
    "patients:create": (200, 200),  # an empty form: its messages
    "importer:upload": (200, 200),  # no file: the form's message
    "importer:template-csv": (200, 405),
    "importer:template-xlsx": (200, 405),
    "patients:access-log": (403, 405),  # administrators only
    # Their own account.
    "login": (200, 200),  # the sign-in form, shown again
    "password_change": (200, 200),
    "password_change_done": (200, 405),
    "accounts:two-factor": (200, 405),
    "accounts:two-factor-setup": (200, 200),
    "accounts:two-factor-verify": (302, 302),  # nothing to verify
    "accounts:two-factor-disable": (405, 302),
    "accounts:two-factor-recovery-codes": (405, 302),
    "logout": (405, 302),  # walked last: it ends the session
    # The FHIR API answers OAuth tokens only, never a session: without a token, 401 (tests/fhir). Its download
    # for a signed-in user (fhir:download) is a record URL like the others.
    "fhir:metadata": (200, 405),
    "fhir:smart-configuration": (200, 405),
    "fhir:token": (405, 400),  # no grant type
    "fhir:search": (401, 405),
    "fhir:read": (401, 405),
    "fhir:everything": (401, 405),
    "fhir:<unnamed>": (404, 405),  # any other FHIR path
}
# The admin site's own check: a signed-in user who is not staff is sent to its sign-in page (or shown it).
ADMIN = (302, 302)
ADMIN_LOGIN = (200, 200)

# Values for the patterns that are regular expressions, by the name of their group.
REGEX_SAMPLES = {"app_label": "patients", "url": "no-such-page/"}

# A POST that would pass most of the app's forms, so that a view which parsed before it looked up would write.
POST_DATA = {
    "taken_on": "{today}",
    "checked_on": "{today}",
    "start_date": "{today}",
    "stop_date": "{today}",
    "dose_mg": "1",
    "status": "taken",
    "formulation": "capsule",
    "pain_score": "5",
    "reason": "walked",
    "note": "walked",
    "text": "walked",
    "state": "paused",
    "name": "tramadol",
    "starting_dose_mg": "1",
    "step_mg": "0.5",
    "step_interval_days": "7",
    "target_dose_mg": "4.5",
    "hepatic_impairment": "none",
    "given_name": "Walked",
    "family_name": "Walked",
    "mrn": "WALK-1",
    "date_of_birth": "1980-01-01",
}


@dataclass(frozen=True)
class Walked:
    name: str
    route: str
    kwargs: list[str]


def _route_of(pattern: URLPattern | URLResolver) -> str:
    return str(pattern.pattern)


def walk(patterns: list[Any] | None = None, namespace: str = "", prefix: str = "") -> Iterator[Walked]:
    """Every URL pattern of the project, named or not, with its whole route."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + _route_of(entry)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, inner, route)
        else:
            name = f"{namespace}{entry.name or '<unnamed>'}"
            yield Walked(name=name, route=route, kwargs=list(entry.pattern.regex.groupindex))


def fill(walked: Walked, ids: dict[str, Any]) -> str:
    """The route with its converters and groups filled: ids from ``ids``, regular expressions from samples."""

    def value(name: str) -> str:
        if name in ids:
            return str(ids[name])
        if name in REGEX_SAMPLES:
            return REGEX_SAMPLES[name]
        raise KeyError(f"the walk does not know how to fill {name!r} of {walked.name} ({walked.route})")

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), walked.route)
    path = re.sub(r"\(\[\^/\]\+\)", lambda m: value("object_id"), path)  # the history pages' positional ids
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m.group(1)), path)
    return "/" + re.sub(r"\$$", "", unanchored(path))


def unanchored(route: str) -> str:
    """The route without the start anchors of its regular expressions (Django's resolver drops them too)."""
    return re.sub(r"(?<!\[)\^", "", route)


def expected_statuses(walked: Walked) -> tuple[int, int] | None:
    """The documented (GET, POST) statuses of a non-record pattern; None for a record URL (404 as if missing)."""
    if walked.name.startswith("admin:"):
        return ADMIN_LOGIN if walked.name == "admin:login" else ADMIN
    if walked.name in NON_RECORD:
        return NON_RECORD[walked.name]
    if RECORD_KWARGS & set(walked.kwargs):
        return None
    raise KeyError(f"add the outsider's statuses of {walked.name} ({walked.route}) to NON_RECORD")


def _in_walk_order(patterns: list[Walked]) -> list[Walked]:
    # Signing out ends the outsider's session: it goes last.
    return sorted(patterns, key=lambda walked: walked.name == "logout")


@pytest.fixture
def home(db: None, today: Any) -> ClinicRecords:
    return clinic_with_records(today, name="North Pain Clinic", mrn="NORTH-1", family_name="Northcote")


@pytest.fixture
def outsider_records(db: None, today: Any) -> ClinicRecords:
    """The outsider's own clinic, with records of its own, so that its pages have something to show."""
    return clinic_with_records(today, name="South Pain Clinic")


def test_the_walk_reaches_every_pattern_of_the_resolver():
    walked = list(walk())
    names = {w.name for w in walked}
    assert {"titration:patient", "medications:void", "importer:batch", "fhir:everything", "logout"} <= names
    assert any(w.name.startswith("admin:") for w in walked)
    # Every pattern is either documented (non-record) or a record URL, and can be filled.
    ids = dict.fromkeys(RECORD_KWARGS, 1) | {"resource_type": "Patient", "resource_id": "1", "object_id": "1"}
    ids |= {"content_type_id": 1, "id": 1, "pk": 1}
    for pattern in walked:
        expected_statuses(pattern)
        path = fill(pattern, ids)
        # The filled path reaches the pattern it was filled from (an unnamed catch-all may come after another).
        assert resolve(path).route == unanchored(pattern.route) or pattern.name.endswith("<unnamed>"), path


def test_a_pattern_the_walk_cannot_fill_fails_it():
    new = Walked(name="titration:new-view", route="patients/<int:patient_id>/<slug:new_thing>/", kwargs=[])
    with pytest.raises(KeyError, match="new_thing"):
        fill(new, {"patient_id": 1})
    with pytest.raises(KeyError, match="NON_RECORD"):
        expected_statuses(Walked(name="titration:new-list", route="new/", kwargs=[]))


@pytest.mark.django_db
def test_an_outsider_reaches_no_record_of_another_clinic_and_changes_nothing(
    home: ClinicRecords, outsider_records: ClinicRecords, today: Any
) -> None:
    outsider: User = outsider_records.prescriber
    client = Client()
    client.force_login(outsider)
    # The admin's own ids: a patient's, a user's, an authenticator's.
    ids = home.url_ids | {"object_id": home.patient.pk, "id": home.prescriber.pk, "pk": 1, "content_type_id": 1}
    missing = dict.fromkeys(RECORD_KWARGS, MISSING_ID) | {"object_id": MISSING_ID, "content_type_id": 1}
    missing = ids | missing
    data = {key: value.format(today=today.isoformat()) for key, value in POST_DATA.items()}
    exclusions = own_rows_of(outsider)
    before = database_state(exclusions)

    failures = []
    walked = _in_walk_order(list(walk()))
    for pattern in walked:
        expected = expected_statuses(pattern)
        for method in ("get", "post"):
            send = getattr(client, method)
            path = fill(pattern, ids)
            response = send(path, data) if method == "post" and expected is None else send(path)
            if expected is None:
                as_missing = send(fill(pattern, missing), data) if method == "post" else send(fill(pattern, missing))
                if response.status_code not in (404, 405) or response.status_code != as_missing.status_code:
                    failures.append(
                        f"{method.upper()} {path}: {response.status_code}, missing: {as_missing.status_code}"
                    )
                if (
                    home.patient.mrn.encode() in response.content
                    or home.patient.family_name.encode() in response.content
                ):
                    failures.append(f"{method.upper()} {path}: shows the other clinic's patient")
            elif response.status_code != expected[method == "post"]:
                failures.append(
                    f"{method.upper()} {path}: {response.status_code}, documented {expected[method == 'post']}"
                )

    assert len(walked) > 200  # the admin's patterns too
    changed = changed_tables(before, database_state(exclusions))
    assert not failures and not changed, "\n".join(failures + changed)
