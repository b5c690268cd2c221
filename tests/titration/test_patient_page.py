import datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse

from titration import selectors, services
from titration.models import DoseStatus

pytestmark = pytest.mark.django_db


def days_ago(today, n):
    return today - datetime.timedelta(days=n)


def test_the_page_shows_plan_current_dose_and_next_step(staff_client, patient, low_slow_plan, prescriber, today):
    services.dose_record(patient=patient, by=prescriber, taken_on=days_ago(today, 1), dose_mg=Decimal("1.5"))
    page = staff_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
    assert "0.5 mg, + 0.5 mg every 7 days, to 4.5 mg" in page
    # Patient-paced: the patient reached 1.5 mg yesterday, so the next step is 7 days after that, not the
    # calendar's step of tomorrow.
    assert "Expected today: <strong>1.5 mg</strong>" in page
    assert f"Next step: 2 mg on {today + datetime.timedelta(days=6):%-d %b %Y}" in page
    assert "<strong>1.5 mg</strong>, last taken" in page


def test_history_shows_gaps_voids_missed_and_flags(staff_client, patient, low_slow_plan, prescriber, today):
    entry, _ = services.dose_record(patient=patient, by=prescriber, taken_on=days_ago(today, 3), dose_mg=Decimal("1"))
    services.dose_void(entry=entry, by=prescriber, reason="entered for the wrong day")
    services.dose_record(
        patient=patient, by=prescriber, taken_on=days_ago(today, 2), dose_mg=None, status=DoseStatus.MISSED
    )
    services.dose_record(patient=patient, by=prescriber, taken_on=days_ago(today, 1), dose_mg=Decimal("1"))
    history = selectors.dose_history(patient, today)
    by_day = {day.day: day for day in history.days}
    assert by_day[today].is_gap  # nothing recorded today
    assert by_day[days_ago(today, 3)].is_gap  # only a voided entry
    assert not by_day[days_ago(today, 2)].is_gap
    assert [d.day for d in history.days] == sorted((d.day for d in history.days), reverse=True)
    assert history.start == low_slow_plan.start_date  # the plan's span, no earlier
    page = staff_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
    assert "entered for the wrong day" in page
    assert "Missed" in page
    assert "Nothing recorded for this day" in page
    assert "Info: Differs from plan" in page


def test_history_is_paginated_by_30_days(staff_client, patient, prescriber, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=days_ago(today, 89),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    first = selectors.dose_history(patient, today, 1)
    assert (first.num_pages, len(first.days)) == (3, 30)
    third = selectors.dose_history(patient, today, "3")
    assert third.days[-1].day == days_ago(today, 89)
    assert selectors.dose_history(patient, today, "junk").number == 1
    assert selectors.dose_history(patient, today, 99).number == 3
    assert staff_client.get(reverse("titration:patient", args=[patient.pk]), {"page": "x"}).status_code == 200


def test_dashboard_counts_open_flags_by_severity(staff_client, patient, prescriber, today):
    services.dose_record(patient=patient, by=prescriber, taken_on=days_ago(today, 1), dose_mg=Decimal("1.5"))
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )
    counts = dict(staff_client.get("/").context["dashboard"].open_flags_by_severity)
    assert counts == {"critical": 1, "warning": 1, "info": 0}


def test_dashboard_of_another_clinic_is_empty(outsider_client, patient, prescriber, today):
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("6"), confirmed=True, override_reason="x"
    )
    counts = dict(outsider_client.get("/").context["dashboard"].open_flags_by_severity)
    assert counts == {"critical": 0, "warning": 0, "info": 0}


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("0.5"), "0.5 mg"), (Decimal("3.00"), "3 mg"), (Decimal("1.50"), "1.5 mg"), ("4.0", "4 mg"), (None, "—")],
)
def test_the_dose_filter(value, text):
    assert Template("{{ value|dose }}").render(Context({"value": value})) == text
