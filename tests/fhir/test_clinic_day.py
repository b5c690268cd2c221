"""The API's "today" is the clinic's (its time zone and day boundary), not the server's: pinned clocks near the
clinic's midnight."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine

from medications.services import medication_end, medication_record
from patients.models import clinic_today
from tests.conftest import client_for

from .conftest import bearer, issue_token

pytestmark = pytest.mark.django_db

AUCKLAND = zoneinfo.ZoneInfo("Pacific/Auckland")  # 13 hours ahead of the server (Europe/London) in December
FIRST = datetime.date(2026, 12, 1)


def at(day: datetime.date, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=AUCKLAND)


@pytest.fixture
def auckland(clinic):
    clinic.time_zone, clinic.day_boundary = "Pacific/Auckland", datetime.time(0, 0)
    clinic.save(update_fields=["time_zone", "day_boundary"])
    return clinic


def _status(api, entry):
    """The MedicationStatement's status, read with a token issued at the pinned time."""
    response = api.get(f"/fhir/MedicationStatement/{entry.pk}")
    assert response.status_code == 200, response.content
    return response.json()["status"]


def test_a_medication_ending_on_the_clinic_s_today_is_completed_though_the_server_is_a_day_behind(
    auckland, patient, staff, prescriber, ehr
):
    with time_machine.travel(at(FIRST, 0, 10), tick=False):
        api = bearer(issue_token(ehr, expires_in=3600))
        assert clinic_today(auckland) == FIRST
        assert datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date() == FIRST - datetime.timedelta(days=1)
        start = FIRST - datetime.timedelta(days=30)
        entry = medication_record(patient=patient, by=staff, name="tramadol 50 mg", start_date=start)
        entry = medication_end(entry=entry, by=prescriber, stop_date=FIRST, reason="tapered off")
        assert _status(api, entry) == "completed"
    with time_machine.travel(at(FIRST, 0, 10) - datetime.timedelta(minutes=20), tick=False):  # 23:50 the day before
        assert _status(api, entry) == "active"


def test_the_downloaded_bundle_is_named_with_the_clinic_s_day(auckland, patient, prescriber):
    with time_machine.travel(at(FIRST, 0, 10), tick=False):
        response = client_for(prescriber).get(f"/patients/{patient.pk}/export.fhir.json")
    assert response.status_code == 200
    assert f"patient-{patient.pk}-2026-12-01.fhir.json" in response["Content-Disposition"]
