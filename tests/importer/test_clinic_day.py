"""The import's "today" is the clinic's (its time zone and day boundary), as on the dose form: pinned clocks near
the clinic's midnight."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine

from importer.formats import parse
from importer.services import import_run
from patients.models import clinic_today
from titration import rules
from titration.models import DoseEntry

from .conftest import csv_bytes, person

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


def run(clinic, by, rows):
    data = csv_bytes(rows)
    return import_run(clinic=clinic, by=by, parsed=parse(data, "d.csv"), file_name="d.csv", commit=True)


def test_a_dose_of_the_clinic_s_new_day_imports_though_the_server_is_still_on_the_day_before(auckland, prescriber):
    with time_machine.travel(at(FIRST, 0, 10), tick=False):
        assert clinic_today(auckland) == FIRST
        report = run(auckland, prescriber, [{**person(), "date": FIRST, "dose_mg": "0.5", "pain_score": 4}])
    assert (report.entries, report.checkins, report.refused) == (1, 1, [])
    assert DoseEntry.objects.get().taken_on == FIRST


def test_ten_minutes_before_the_clinic_s_midnight_the_same_day_is_in_the_future(auckland, prescriber):
    with time_machine.travel(at(FIRST, 0, 10) - datetime.timedelta(minutes=20), tick=False):
        report = run(auckland, prescriber, [{**person(), "date": FIRST, "dose_mg": "0.5"}])
    assert report.refused[0]["message"] == rules.FUTURE_DAY
    assert not DoseEntry.objects.exists()


def test_a_date_of_birth_on_the_clinic_s_today_is_not_in_the_future(auckland, prescriber):
    with time_machine.travel(at(FIRST, 0, 10), tick=False):
        report = run(
            auckland, prescriber, [{**person(date_of_birth=FIRST.isoformat()), "date": FIRST, "status": "missed"}]
        )
    assert report.refused == [] and report.entries == 1
