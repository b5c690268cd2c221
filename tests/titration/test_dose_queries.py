"""A dose's cost does not grow with the record: at most 12 queries for the whole POST, at 30 and at 1,800 entries.

The POST tests really commit, as in production, so the counts hold the request's BEGIN and COMMIT and nothing a
test's own transaction would add. The record is filled and then re-assessed once, as the services would have
left it, so that the POST writes only what its dose changes.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from titration import selectors, services
from titration.models import DoseEntry, Flag

from .test_patient_page_queries import fill_history

pytestmark = pytest.mark.django_db

DOSE_POST_MAX_QUERIES = 12
# The service alone, inside the caller's transaction: the lock, the plans with their states, the entries with
# their flags, the entry and its history row, and a flag and its history row.
DOSE_SERVICE_MAX_QUERIES = 7


def consistent_history(patient, by, entries: int, today: datetime.date) -> None:
    """``entries`` daily doses up to the day before yesterday, and the flags they support."""
    fill_history(patient, by, entries, today - datetime.timedelta(days=1))
    DoseEntry.objects.filter(taken_on__gte=today).delete()
    services.flags_reconcile(patient=patient, by=by, cause="the record was loaded")


def post_dose(client, patient, today: datetime.date):
    return client.post(
        reverse("titration:dose-create", args=[patient.pk]),
        {"taken_on": today.isoformat(), "dose_mg": "1.5", "formulation": "capsule", "status": "taken"},
    )


def post_queries(client, patient, today) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = post_dose(client, patient, today)
    assert response.status_code == 302
    return len(captured)


@pytest.mark.parametrize("entries", [30, 1800])
def test_the_dose_service_makes_at_most_7_queries(patient, prescriber, today, entries, django_assert_max_num_queries):
    consistent_history(patient, prescriber, entries, today)
    with django_assert_max_num_queries(DOSE_SERVICE_MAX_QUERIES):
        _, findings = services.dose_record(patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("1.5"))
    assert findings  # the dose raised a flag: its writes are counted


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entries", [30, 1800])
def test_a_dose_post_makes_at_most_12_queries(
    prescriber_client, patient, prescriber, today, entries, django_assert_max_num_queries
):
    consistent_history(patient, prescriber, entries, today)
    flags_before = Flag.objects.filter(patient=patient).count()
    with django_assert_max_num_queries(DOSE_POST_MAX_QUERIES):
        response = post_dose(prescriber_client, patient, today)
    assert response.status_code == 302
    assert DoseEntry.objects.filter(patient=patient, taken_on=today).count() == 1
    assert Flag.objects.filter(patient=patient).count() == flags_before + 1  # the flag write is in the count


@pytest.mark.django_db(transaction=True)
def test_a_dose_post_costs_the_same_at_30_and_at_1800_entries(prescriber_client, make_patient, prescriber, today):
    small, large = make_patient(), make_patient()
    consistent_history(small, prescriber, 30, today)
    consistent_history(large, prescriber, 1800, today)
    assert post_queries(prescriber_client, small, today) == post_queries(prescriber_client, large, today)


def test_a_second_entry_for_the_day_that_slips_past_the_lock_is_refused_with_the_form(
    prescriber_client, patient, prescriber, today, monkeypatch
):
    """A writer that bypassed the patient's lock stored the day first: the constraint refuses, never a 500."""
    consistent_history(patient, prescriber, 30, today)
    DoseEntry.objects.create(patient=patient, taken_on=today, dose_mg=Decimal("1"), recorded_by=prescriber)
    real_facts = selectors.course_facts

    def facts_read_before_the_other_write(patient, *args, **kwargs):
        facts = real_facts(patient, *args, **kwargs)
        facts.entries = [entry for entry in facts.entries if entry.day != today]
        return facts

    monkeypatch.setattr(selectors, "course_facts", facts_read_before_the_other_write)
    response = post_dose(prescriber_client, patient, today)
    assert response.status_code == 200
    assert services.DUPLICATE_DAY in response.content.decode()
    assert list(DoseEntry.objects.filter(patient=patient, taken_on=today).values_list("dose_mg", flat=True)) == [
        Decimal("1")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_dose_that_continues_a_run_of_days_makes_at_most_12_queries_too(
    prescriber_client, patient, prescriber, today, django_assert_max_num_queries
):
    """The third missed day in a row re-assesses the two before it and raises the run's warning on the first."""
    consistent_history(patient, prescriber, 60, today - datetime.timedelta(days=2))
    for back in (2, 1):
        services.dose_record(
            patient=patient,
            by=prescriber,
            taken_on=today - datetime.timedelta(days=back),
            dose_mg=None,
            status="missed",
        )
    with django_assert_max_num_queries(DOSE_POST_MAX_QUERIES):
        response = prescriber_client.post(
            reverse("titration:dose-create", args=[patient.pk]),
            {"taken_on": today.isoformat(), "dose_mg": "", "formulation": "capsule", "status": "missed"},
        )
    assert response.status_code == 302
    [warning] = Flag.objects.filter(patient=patient, kind="adherence")
    assert warning.dose_entry.taken_on == today - datetime.timedelta(days=2)
