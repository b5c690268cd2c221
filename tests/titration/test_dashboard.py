"""The dashboard's worklist comes from the same patient-paced engine as the patient page."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from titration import selectors, services
from titration.models import DoseStatus

from .conftest import plan_for, take

pytestmark = pytest.mark.django_db


def ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


def board(user):
    return selectors.dashboard(user, timezone.localdate())


def names(patients):
    return [p.given_name for p in patients]


def test_an_overdue_step_up_stays_listed_until_the_step_dose_is_logged(clock, make_patient, prescriber):
    patient = make_patient(given_name="Ovid")
    plan_for(patient, prescriber, ago(20))
    take(patient, prescriber, ago(20), ago(1), "0.5")  # the step to 1 mg fell due 13 days ago
    assert board(prescriber).due_step_up == [(patient, Decimal("1"))]
    clock.shift(datetime.timedelta(days=1))
    take(patient, prescriber, ago(1), ago(1), "0.5")
    assert board(prescriber).due_step_up == [(patient, Decimal("1"))]  # still overdue the next day
    take(patient, prescriber, ago(0), ago(0), "1")
    assert board(prescriber).due_step_up == []
    clock.shift(datetime.timedelta(days=1))
    assert board(prescriber).due_step_up == []  # taken: the next step falls due 7 days after it


def test_a_step_due_on_a_weekend_is_listed_on_monday(clock, make_patient, prescriber):
    patient = make_patient(given_name="Wendy")
    plan_for(patient, prescriber, ago(9))
    take(patient, prescriber, ago(9), ago(3), "0.5")  # reached 0.5 mg on a Saturday: 1 mg due the next Saturday
    assert timezone.localdate().weekday() == 0 and ago(2).weekday() == 5
    assert board(prescriber).due_step_up == [(patient, Decimal("1"))]


def test_an_entry_logged_today_takes_the_patient_off_the_step_up_list(clock, make_patient, prescriber):
    stepped, other = make_patient(given_name="Stella"), make_patient(given_name="Tom")
    for patient in (stepped, other):
        plan_for(patient, prescriber, ago(10))
        take(patient, prescriber, ago(10), ago(1), "0.5")
    take(stepped, prescriber, ago(0), ago(0), "1")
    take(other, prescriber, ago(0), ago(0), "0.5")
    assert board(prescriber).due_step_up == []
    clock.shift(datetime.timedelta(days=1))
    assert board(prescriber).due_step_up == [(other, Decimal("1"))]  # still not taken the next day


def test_a_held_paused_or_stopped_plan_lists_no_step_up(clock, make_patient, prescriber):
    for name, state in (("Hal", "holding"), ("Pam", "paused"), ("Stan", "stopped")):
        patient = make_patient(given_name=name)
        plan_for(patient, prescriber, ago(20))
        take(patient, prescriber, ago(20), ago(1), "0.5")
        stop_reason = "side_effects" if state == "stopped" else ""
        services.plan_state_set(
            patient=patient, by=prescriber, state=state, reason="best-tolerated dose", stop_reason=stop_reason
        )
    data = board(prescriber)
    assert data.due_step_up == []
    assert data.stale == []


def test_patients_with_a_missed_dose_warning_are_listed(clock, make_patient, prescriber):
    missing, two = make_patient(given_name="Mia"), make_patient(given_name="Two")
    for patient, missed in ((missing, 3), (two, 2)):
        plan_for(patient, prescriber, ago(10))
        take(patient, prescriber, ago(10), ago(missed + 1), "0.5")
        take(patient, prescriber, ago(missed), ago(1), None, status=DoseStatus.MISSED)
    assert names(board(prescriber).adherence) == ["Mia"]


def test_patients_whose_last_taken_dose_is_7_or_more_days_old_are_listed(clock, make_patient, prescriber):
    sam, rita, new = make_patient(given_name="Sam"), make_patient(given_name="Rita"), make_patient(given_name="New")
    for patient, last in ((sam, 7), (rita, 6)):
        plan_for(patient, prescriber, ago(20))
        take(patient, prescriber, ago(20), ago(last), "0.5")
        take(patient, prescriber, ago(last - 1), ago(0), None, status=DoseStatus.MISSED)  # missed is not taken
    plan_for(new, prescriber, ago(7))
    stale = board(prescriber).stale
    assert [(p.given_name, day) for p, day in stale] == [("New", None), ("Sam", ago(7))]


def test_patients_with_open_critical_flags_are_listed_until_they_are_closed(clock, make_patient, prescriber):
    patient = make_patient(given_name="Cal")
    take(patient, prescriber, ago(1), ago(1), "1.5")
    entry, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=ago(0), dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )
    assert board(prescriber).critical == [(patient, 1)]
    services.dose_void(entry=entry, by=prescriber, reason="decimal slip")
    data = board(prescriber)
    assert data.critical == []
    assert dict(data.open_flags_by_severity)["critical"] == 0


def test_the_page_shows_each_worklist(clock, staff_client, make_patient, prescriber):
    overdue = make_patient(given_name="Ovid", family_name="Late")
    plan_for(overdue, prescriber, ago(20))
    take(overdue, prescriber, ago(20), ago(1), "0.5")
    page = staff_client.get("/").content.decode()
    assert "(MRN MRN-0001): step up to 1 mg" in page
    assert "No open critical flags." in page
    assert "No open missed-dose warnings." in page


def test_the_dashboard_does_not_query_per_patient(clock, make_patient, prescriber):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            board(prescriber)
        return len(captured)

    def add(n: int) -> None:
        for _ in range(n):
            patient = make_patient()
            plan_for(patient, prescriber, ago(20))
            take(patient, prescriber, ago(20), ago(4), "0.5")  # overdue a step
            take(patient, prescriber, ago(3), ago(1), None, status=DoseStatus.MISSED)  # a missed-dose warning
            plan_for(make_patient(), prescriber, ago(8))  # no dose taken yet

    add(2)
    few = count()
    add(6)
    data = board(prescriber)
    assert len(data.due_step_up) == len(data.stale) == len(data.adherence) == 8
    assert count() == few <= 5
