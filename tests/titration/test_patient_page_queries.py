"""The patient page's cost must not grow with the history: paginated table, no query per chart point."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from titration import course, selectors, services
from titration.models import CheckIn, DoseEntry, Flag, FlagComment

pytestmark = pytest.mark.django_db

MAX_QUERIES = 40  # sessions, 2FA devices and permissions included; what matters is that it is flat


def fill_history(patient, user, days: int, today: datetime.date) -> None:
    """``days`` daily doses (every 10th flagged) and weekly check-ins, bulk-inserted."""
    start = today - datetime.timedelta(days=days)
    services.plan_set(
        patient=patient,
        by=user,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    entries = DoseEntry.objects.bulk_create(
        DoseEntry(
            patient=patient, taken_on=start + datetime.timedelta(days=i), dose_mg=Decimal("1.5"), recorded_by=user
        )
        for i in range(days)
    )
    # What recording each dose stores of its re-assessment (expected dose, position after it).
    facts = selectors.course_facts(patient)
    assessed, _ = course.walk(facts.entries, facts.terms, facts.gap_days)
    DoseEntry.objects.bulk_update(
        [
            DoseEntry(pk=a.entry.id, scheduled_dose_mg=a.context.expected, course_after=a.after.as_json())
            for a in assessed
        ],
        ["scheduled_dose_mg", "course_after"],
    )
    Flag.objects.bulk_create(
        Flag(patient=patient, dose_entry=e, kind="off_schedule", severity=10, message="m") for e in entries[::10]
    )
    CheckIn.objects.bulk_create(
        CheckIn(patient=patient, checked_on=start + datetime.timedelta(days=i), pain_score=5, recorded_by=user)
        for i in range(0, days, 7)
    )


def page_queries(client, patient, period: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("titration:patient", args=[patient.pk]), {"period": period})
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("period", ["90", "all"])
def test_query_count_is_the_same_for_30_and_1800_entries(
    staff_client, make_patient, prescriber, today, period, django_assert_max_num_queries
):
    short, long = make_patient(), make_patient()
    fill_history(short, prescriber, 30, today)
    fill_history(long, prescriber, 1800, today)
    with django_assert_max_num_queries(MAX_QUERIES):
        staff_client.get(reverse("titration:patient", args=[long.pk]), {"period": period})
    assert page_queries(staff_client, short, period) == page_queries(staff_client, long, period)


def test_the_history_table_shows_one_page_of_days(staff_client, make_patient, prescriber, today):
    patient = make_patient()
    fill_history(patient, prescriber, 1800, today)
    history = staff_client.get(reverse("titration:patient", args=[patient.pk])).context["history"]
    assert len(history.days) == 30
    assert history.num_pages == 61


def test_the_page_lists_the_most_severe_open_flags_and_counts_the_rest(staff_client, make_patient, prescriber, today):
    patient = make_patient()
    fill_history(patient, prescriber, 300, today)  # 30 open info flags
    Flag.objects.create(patient=patient, kind="tenfold_change", severity=30, message="critical one")
    response = staff_client.get(reverse("titration:patient", args=[patient.pk]))
    shown = list(response.context["open_flags"])
    assert len(shown) == 10 and shown[0].message == "critical one"
    assert "31 open flags in all: the 10 most severe are shown." in response.content.decode()


def test_the_comments_of_open_flags_are_shown_and_read_only_when_a_flag_has_some(
    staff_client, make_patient, prescriber, today
):
    patient = make_patient()
    quiet = Flag.objects.create(patient=patient, kind="tenfold_change", severity=30, message="no comment yet")
    url = reverse("titration:patient", args=[patient.pk])
    staff_client.get(url)
    with CaptureQueriesContext(connection) as without:
        staff_client.get(url)
    assert not [q for q in without.captured_queries if q["sql"].startswith('SELECT "titration_flagcomment"')]
    FlagComment.objects.create(flag=quiet, written_by=prescriber, text="Called the patient: a typo.")
    with CaptureQueriesContext(connection) as with_one:
        page = staff_client.get(url).content.decode()
    assert len(with_one) == len(without) + 1
    assert f"{prescriber.username}, " in page and ": Called the patient: a typo.</small>" in page
