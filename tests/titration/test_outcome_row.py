"""The patient page's compact outcome row: the /outcomes/ measures of one patient, in one query."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from titration.models import CheckIn, DoseEntry, DoseStatus, TitrationPlan

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 9)  # the ``clock`` fixture's day


def ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def course(patient, by, doses: dict[int, str | None], *, target: str = "1.5"):
    """A plan started 60 days ago and entries ``{days ago: dose}`` (None: a missed dose)."""
    plan = TitrationPlan.objects.create(
        patient=patient,
        preset="low_slow",
        start_date=ago(60),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal(target),
        created_by=by,
    )
    DoseEntry.objects.bulk_create(
        DoseEntry(
            patient=patient,
            plan=plan,
            taken_on=ago(n),
            dose_mg=None if dose is None else Decimal(dose),
            status=DoseStatus.TAKEN if dose else DoseStatus.MISSED,
            recorded_by=by,
        )
        for n, dose in doses.items()
    )


def row(client, patient) -> str:
    page = client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
    found = re.search(r'<section[^>]*id="outcome-row".*?</section>', page, re.S)
    assert found, "the outcome row is on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0)))


def test_a_patient_without_a_dose_has_no_data(clock, patient, prescriber_client):
    assert "No data: no dose taken yet." in row(prescriber_client, patient)


def test_a_patient_who_never_reached_target_shows_not_reached_with_the_highest_dose(
    clock, patient, prescriber, prescriber_client
):
    course(patient, prescriber, {n: "0.5" if n > 10 else "1" for n in range(30, 0, -1)}, target="4.5")
    text = row(prescriber_client, patient)
    assert "Time to target (4.5 mg) Not reached (highest 1 mg)" in text
    assert "Time at target Not reached" in text
    assert "Adherence 100% (30 of 30 days)" in text  # today is not counted before its dose is recorded


def test_time_to_target_time_at_target_and_adherence_with_a_gap_a_miss_and_a_restart(
    clock, patient, prescriber, prescriber_client
):
    # First dose 40 days ago, 1.5 mg (the target) from 30 days ago; a missed day 20 days ago; nothing 15–6 days ago
    # (10 days: a restart after it), 0.5 mg since; today recorded.
    doses: dict[int, str | None] = {n: "0.5" if n > 30 else "1.5" for n in range(40, 15, -1)}
    doses[20] = None
    doses.update(dict.fromkeys(range(5, -1, -1), "0.5"))
    course(patient, prescriber, doses)
    text = row(prescriber_client, patient)
    assert "Time to target (1.5 mg) 10 days" in text
    assert "Time at target 45% (14 of 31 days)" in text  # 30–16 days ago at 1.5 mg, but not the missed day
    assert "Adherence 73% (30 of 41 days); 2 gaps, longest 10 days; 1 restart" in text


def test_the_best_response_over_the_course_is_shown(clock, patient, prescriber, prescriber_client):
    course(patient, prescriber, dict.fromkeys(range(59, -1, -1), "1.5"))
    for n, pain in ((60, 8), (40, 4), (35, 4), (2, 7), (1, 7)):
        CheckIn.objects.create(patient=patient, checked_on=ago(n), pain_score=pain, recorded_by=prescriber)
    text = row(prescriber_client, patient)
    assert "Best response Substantial response (≥50% less pain)" in text


def test_too_few_check_ins_are_said_plainly(clock, patient, prescriber, prescriber_client):
    course(patient, prescriber, dict.fromkeys(range(20, -1, -1), "1.5"))
    assert "Best response No data (not enough check-ins)" in row(prescriber_client, patient)


def test_the_row_costs_one_query_whatever_the_history(clock, patient, prescriber, prescriber_client):
    prescriber_client.get(reverse("titration:patient", args=[patient.pk]))
    with CaptureQueriesContext(connection) as empty:
        prescriber_client.get(reverse("titration:patient", args=[patient.pk]))
    outcome_queries = [q for q in empty.captured_queries if "first_plan" in q["sql"]]
    assert len(outcome_queries) == 1
    course(patient, prescriber, dict.fromkeys(range(59, -1, -1), "1.5"))
    with CaptureQueriesContext(connection) as full:
        prescriber_client.get(reverse("titration:patient", args=[patient.pk]))
    assert len([q for q in full.captured_queries if "first_plan" in q["sql"]]) == 1
