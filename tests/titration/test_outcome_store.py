"""The kept outcome figures follow every change of the record, and the days that pass, as the definition does.

Each step changes one patient's record the way the app does (the services, or the dose form), then the
page's measures are compared with ``clinic_outcomes.patient_outcomes``, which reads the whole record.
"""

import datetime
import io
import random
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from patients.services import clinic_settings_save
from titration import clinic_outcomes, outcome_aggregates, outcome_store, services
from titration.models import CheckIn, DoseEntry, OutcomeFigures, StopReason
from titration.rules import PlanState

from .test_outcome_aggregates import COMPARED, varied_patient

pytestmark = pytest.mark.django_db


def _fields(outcome):
    return {name: getattr(outcome, name) for name in COMPARED}


def assert_page_matches_the_record(user, today):
    """The page's figures (kept, rebuilt where out of date) equal the definition's, patient by patient."""
    filters = clinic_outcomes.Filters()
    definition = {o.patient_id: _fields(o) for o in clinic_outcomes.patient_outcomes(user, filters, today=today)}
    patients = clinic_outcomes.selected_patients(user, filters)
    kept = {o.patient_id: _fields(o) for o in outcome_aggregates.clinic_outcomes(patients, filters, today=today)}
    assert kept == definition
    return kept


def _days(start: datetime.date, n: int) -> list[datetime.date]:
    return [start + datetime.timedelta(days=i) for i in range(n)]


def _new_plan(patient, by, start: datetime.date, *, starting: str, target: str) -> None:
    """A custom plan of 0.5 mg steps every 7 days."""
    steps = {"step_mg": Decimal("0.5"), "step_interval_days": 7}
    start_dose, target_dose = Decimal(starting), Decimal(target)
    services.plan_set(
        patient=patient, by=by, preset="custom", start_date=start, starting_dose_mg=start_dose,
        target_dose_mg=target_dose, **steps,
    )  # fmt: skip


@pytest.fixture
def course(clock, patient, prescriber, today):
    """A fibromyalgia patient 100 days into 0.5 mg steps every 7 days to 1.5 mg, with weekly check-ins."""
    start = today - datetime.timedelta(days=100)
    _new_plan(patient, prescriber, start, starting="0.5", target="1.5")
    for n, day in enumerate(_days(start, 100)):
        dose = min(Decimal("0.5") * (1 + n // 7), Decimal("1.5"))
        services.dose_record(patient=patient, by=prescriber, taken_on=day, dose_mg=dose)
        if n % 7 == 0:
            services.checkin_record(
                patient=patient,
                by=prescriber,
                checked_on=day,
                pain_score=max(2, 8 - n // 14),
                side_effects=[("vivid_dreams", "mild", "")] if n < 20 else [],
            )
    return patient


def test_the_first_view_keeps_the_figures_and_the_next_reads_them_without_rebuilding(course, prescriber, today):
    assert not OutcomeFigures.objects.filter(figures__isnull=False).exists()  # the plan only marked it
    assert_page_matches_the_record(prescriber, today)
    kept = OutcomeFigures.objects.get(patient=course)
    assert not kept.stale and kept.doses_through == DoseEntry.objects.filter(patient=course).latest("id").id
    assert kept.figures["days_taken"] == 100
    patients = clinic_outcomes.selected_patients(prescriber, clinic_outcomes.Filters())
    assert outcome_store.refresh(patients) == 0


def test_a_dose_entered_on_the_form_shows_by_its_id_without_marking(course, prescriber, prescriber_client, today):
    assert_page_matches_the_record(prescriber, today)
    response = prescriber_client.post(
        reverse("titration:dose-create", args=[course.pk]),
        {"taken_on": today.isoformat(), "dose_mg": "1.5", "formulation": "capsule", "status": "taken"},
    )
    assert response.status_code == 302
    assert not OutcomeFigures.objects.get(patient=course).stale  # the form did not write the cache…
    kept = assert_page_matches_the_record(prescriber, today)  # …and the page still counts the new day
    assert kept[course.pk]["adherence"].days.part == 101


def test_a_check_in_shows_by_its_id(course, prescriber, today):
    assert_page_matches_the_record(prescriber, today)
    services.checkin_record(
        patient=course, by=prescriber, checked_on=today, pain_score=1, side_effects=[("nausea", "moderate", "")]
    )
    kept = assert_page_matches_the_record(prescriber, today)
    assert kept[course.pk]["side_effect_doses"] == {Decimal("0.5"), Decimal("1"), Decimal("1.5")}


def test_a_voided_dose_marks_the_figures_and_they_are_rebuilt(course, prescriber, today):
    before = assert_page_matches_the_record(prescriber, today)
    entry = DoseEntry.objects.get(patient=course, taken_on=today - datetime.timedelta(days=50))
    services.dose_void(entry=entry, by=prescriber, reason="entered for the wrong day")
    assert OutcomeFigures.objects.get(patient=course).stale
    after = assert_page_matches_the_record(prescriber, today)
    assert after[course.pk]["adherence"].days.part == before[course.pk]["adherence"].days.part - 1


def test_a_voided_check_in_marks_the_figures(course, prescriber, today):
    before = assert_page_matches_the_record(prescriber, today)
    first = CheckIn.objects.filter(patient=course).earliest("checked_on")
    services.checkin_void(checkin=first, by=prescriber, reason="wrong patient")
    after = assert_page_matches_the_record(prescriber, today)
    assert 1 in before[course.pk]["checkin_weeks"] and 1 not in after[course.pk]["checkin_weeks"]


def test_a_new_target_marks_the_figures(course, prescriber, today):
    assert_page_matches_the_record(prescriber, today)
    _new_plan(course, prescriber, today, starting="1.5", target="3")
    kept = assert_page_matches_the_record(prescriber, today)
    assert kept[course.pk]["target"] == Decimal("3")


def test_a_stop_marks_the_figures(course, prescriber, today):
    assert_page_matches_the_record(prescriber, today)
    stop = {"state": PlanState.STOPPED, "reason": "vivid dreams", "stop_reason": StopReason.SIDE_EFFECTS}
    services.plan_state_set(patient=course, by=prescriber, **stop)
    kept = assert_page_matches_the_record(prescriber, today)
    assert kept[course.pk]["stopped_on"] == today and kept[course.pk]["stop_reason"] == StopReason.SIDE_EFFECTS


def test_a_new_restart_gap_marks_the_clinic_s_figures(course, prescriber, today, clinic):
    gap = (today - datetime.timedelta(days=40), today - datetime.timedelta(days=35))
    DoseEntry.objects.filter(patient=course, taken_on__range=gap).update(
        voided_at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC), void_reason="set up a 6-day gap"
    )
    outcome_store.mark_stale([course.pk])
    assert assert_page_matches_the_record(prescriber, today)[course.pk]["adherence"].restarts == 0
    clinic.restart_after_gap_days = 5
    clinic_settings_save(clinic=clinic, by=prescriber, reason="our protocol restarts after 5 missed days")
    assert OutcomeFigures.objects.get(patient=course).stale
    assert assert_page_matches_the_record(prescriber, today)[course.pk]["adherence"].restarts == 1


def test_the_figures_kept_yesterday_are_ended_at_today(course, prescriber, today):
    """Nothing kept depends on the day: ten days later, the missed days count against adherence and time at
    target, and the page agrees with the definition on that day."""
    kept = assert_page_matches_the_record(prescriber, today)
    later = today + datetime.timedelta(days=10)
    with time_machine.travel(datetime.datetime(2026, 3, 19, 12, tzinfo=datetime.UTC), tick=False):
        assert outcome_store.refresh(clinic_outcomes.selected_patients(prescriber, clinic_outcomes.Filters())) == 0
        moved = assert_page_matches_the_record(prescriber, later)
    assert moved[course.pk]["adherence"].days.whole == kept[course.pk]["adherence"].days.whole + 10
    assert moved[course.pk]["adherence"].longest_gap >= 10


def test_a_patient_12_weeks_on_gets_a_response_from_the_kept_figures(clock, patient, prescriber, today):
    """The 12-week response is read at each view, so it appears on the day it falls due."""
    start = today - datetime.timedelta(days=80)
    for n, day in enumerate(_days(start, 81)):
        services.dose_record(patient=patient, by=prescriber, taken_on=day, dose_mg=Decimal("1.5"))
        if n in (0, 78, 80):
            services.checkin_record(patient=patient, by=prescriber, checked_on=day, pain_score=8 if n == 0 else 4)
    assert assert_page_matches_the_record(prescriber, today)[patient.pk]["response_12_weeks"] is None
    with time_machine.travel(datetime.datetime(2026, 3, 14, 12, tzinfo=datetime.UTC), tick=False):
        later = assert_page_matches_the_record(prescriber, datetime.date(2026, 3, 14))
    assert later[patient.pk]["responder_12_weeks"]


def test_the_command_rebuilds_what_is_out_of_date_ahead_of_the_first_view(course, prescriber, today):
    out = io.StringIO()
    call_command("outcome_figures_refresh", verbosity=0, stdout=out)
    assert "of 1 patients" in out.getvalue()
    assert OutcomeFigures.objects.get(patient=course).figures["days_taken"] == 100
    call_command("outcome_figures_refresh", verbosity=0, stdout=out)
    assert "of 0 patients" in out.getvalue()


def test_the_research_export_s_response_equals_the_definition_on_a_varied_clinic(
    clock, make_patient, prescriber, today
):
    """The export reads the kept figures too: the response (best, latest, first ≥30% day and its dose,
    responder, PGIC) must be the definition's, patient by patient, stopped patients included."""
    rng = random.Random(16)
    for n in range(24):
        varied_patient(make_patient(given_name=f"R{n}"), prescriber, rng)
    filters = clinic_outcomes.Filters()
    definition = clinic_outcomes.patient_outcomes(prescriber, filters, today=today)
    patients = clinic_outcomes.selected_patients(prescriber, filters)
    kept = outcome_aggregates.clinic_outcomes(patients, filters, today=today, with_response=True)
    assert {o.patient_id: (_fields(o), o.response) for o in kept} == {
        o.patient_id: (_fields(o), o.response) for o in definition
    }
    responses = [o.response for o in definition if o.response is not None]
    assert any(r.dose_at_meaningful for r in responses) and any(r.latest_pgic for r in responses)
    assert any(o.stopped_on and o.response and o.response.first_meaningful_on for o in definition)


def test_figures_kept_in_another_version_are_rebuilt(course, prescriber, today):
    assert_page_matches_the_record(prescriber, today)
    kept = OutcomeFigures.objects.get(patient=course)
    del kept.figures["version"], kept.figures["best"]
    kept.save()
    patients = clinic_outcomes.selected_patients(prescriber, clinic_outcomes.Filters())
    assert outcome_store.refresh(patients) == 1
    assert OutcomeFigures.objects.get(patient=course).figures["version"] == outcome_store.FIGURES_VERSION
