"""What the busiest pages cost in queries: a ceiling each, and the same count whatever the history's length, the
number of clinics or the number of patients. Times are measured by the benchmark, never here.

Counts include the request's own queries before the view (session, and the user with its principal).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import Clinic, Condition, Diagnosis, Membership, Patient, clinic_today
from patients.roles import Role
from tests.conftest import PINNED_NOW, built_once, client_for, fast_password_hashing, make_user, pinned_clock
from titration import services
from titration.chart import MAX_SLOTS, chart_for
from titration.chart_drawing import draw
from titration.models import CheckIn, DoseEntry, DoseStatus, Flag

pytestmark = pytest.mark.django_db

PATIENT_PAGE_MAX_QUERIES = 12  # the target: session, user, patient (with its safety profile), 9 reads and writes
LIST_PAGE_MAX_QUERIES = 12
EXPORT_MAX_QUERIES = 12
FIVE_YEARS = 5 * 365 + 1


def fill(patient: Patient, by, days: int, today: datetime.date, *, slip_on: datetime.date | None = None) -> None:
    """``days`` days of doses up to yesterday (every 50th missed), weekly check-ins, then the flags and stored
    course positions the services derive; ``slip_on``: a 15 mg dose that day (a tenfold slip)."""
    start = today - datetime.timedelta(days=days)
    services.plan_set(
        patient=patient,
        by=by,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )

    def entry(i: int) -> DoseEntry:
        day = start + datetime.timedelta(days=i)
        if i % 50 == 49:
            return DoseEntry(patient=patient, taken_on=day, status=DoseStatus.MISSED, recorded_by=by)
        dose = Decimal("15") if day == slip_on else min(Decimal("0.5") * (1 + i // 7), Decimal("4.5"))
        return DoseEntry(patient=patient, taken_on=day, dose_mg=dose, recorded_by=by)

    DoseEntry.objects.bulk_create(entry(i) for i in range(days))
    CheckIn.objects.bulk_create(
        CheckIn(patient=patient, checked_on=start + datetime.timedelta(days=i), pain_score=6 - i % 3, recorded_by=by)
        for i in range(0, days, 7)
    )
    services.flags_reconcile(patient=patient, by=by, cause="the record was loaded")


def queries(client, url: str, params: dict[str, str] | None = None) -> tuple[int, object]:
    client.get(url, params)  # the session's first renewal is written here, not below
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200
    return len(captured), body


@pytest.fixture(scope="module")
def histories(django_db_setup, django_db_blocker) -> Iterator[tuple[Patient, Patient]]:
    """A month and five years of a clinic's two patients, built once for the module (see ``built_once``): a
    prescriber of a clinic of their own (the list tests below sign in as the conftest's, who does not see it)."""
    with built_once(django_db_blocker):
        with pinned_clock(), fast_password_hashing():
            clinic = Clinic.objects.create(name="History Clinic")
            prescriber = make_user("dr.history", Role.PRESCRIBER, clinic)
            fibromyalgia = Condition.objects.get(name="Fibromyalgia")
            month, lustrum = (
                Patient.objects.create(
                    clinic=clinic,
                    mrn=f"MRN-{n:04d}",
                    given_name=given_name,
                    family_name="Byron",
                    date_of_birth=datetime.date(1980, 6, 1),
                    prescriber=prescriber,
                )
                for n, given_name in ((1, "Mo"), (2, "Lu"))
            )
            for patient in (month, lustrum):
                Diagnosis.objects.create(
                    patient=patient, condition=fibromyalgia, diagnosed_on=datetime.date(2020, 1, 1)
                )
            today = clinic_today(clinic)
            fill(month, prescriber, 30, today, slip_on=today - datetime.timedelta(days=5))  # both have open flags
            fill(lustrum, prescriber, FIVE_YEARS, today, slip_on=today - datetime.timedelta(days=1000))
        yield month, lustrum


@pytest.fixture
def month_and_lustrum(db, histories, today):
    assert today == clinic_today(histories[0].clinic) == PINNED_NOW.date()
    return histories


@pytest.fixture
def prescriber_client(histories):
    """Signed in as the prescriber of the histories' patients."""
    return client_for(histories[0].prescriber)


@pytest.mark.parametrize("period", ["90", "all"])
def test_the_patient_page_costs_the_same_few_queries_for_30_days_and_5_years(
    prescriber_client, month_and_lustrum, period
):
    month, lustrum = month_and_lustrum
    short, _ = queries(prescriber_client, reverse("titration:patient", args=[month.pk]), {"period": period})
    long, body = queries(prescriber_client, reverse("titration:patient", args=[lustrum.pk]), {"period": period})
    assert short == long <= PATIENT_PAGE_MAX_QUERIES
    assert b"Dose and check-in history" in body


def test_a_later_history_page_costs_no_more(prescriber_client, month_and_lustrum):
    _, lustrum = month_and_lustrum
    url = reverse("titration:patient", args=[lustrum.pk])
    first, _ = queries(prescriber_client, url)
    later, body = queries(prescriber_client, url, {"page": "40"})
    assert later == first
    assert b"Page 40 of 61" in body


def test_the_chart_of_5_years_is_drawn_in_slots_and_keeps_every_mark(month_and_lustrum, today):
    _, lustrum = month_and_lustrum
    chart = chart_for(lustrum, list(lustrum.plans.all()), "all", today)
    assert len(chart.days) > FIVE_YEARS - 1
    drawing = draw(chart)
    assert len(chart.slots) <= MAX_SLOTS
    slip = today - datetime.timedelta(days=1000)
    # The tenfold slip keeps its arrow above the axis, with its value, in its slot.
    assert [tick.label for tick in drawing.beyond_labels] == ["15 mg"]
    assert any(f"{slip:%-d %b %Y}" in marker.title for marker in drawing.flagged)
    # Every missed dose is on a marked slot: 36 missed days over five years.
    assert sum(day.missed for day in chart.days) == FIVE_YEARS // 50
    assert sum(int(m.title.split(": ")[1].split()[0]) if "doses" in m.title else 1 for m in drawing.missed) == (
        FIVE_YEARS // 50
    )


def test_the_chart_of_90_days_is_drawn_day_by_day(month_and_lustrum, today):
    _, lustrum = month_and_lustrum
    chart = chart_for(lustrum, list(lustrum.plans.all()), "90", today)
    assert chart.slots == chart.days and len(chart.days) == 90


def test_the_csv_export_of_5_years_costs_the_queries_of_30_days(prescriber_client, month_and_lustrum):
    month, lustrum = month_and_lustrum
    for query in ({}, {"deidentified": "1"}):
        short, short_body = queries(prescriber_client, reverse("titration:export", args=[month.pk]), query)
        long, long_body = queries(prescriber_client, reverse("titration:export", args=[lustrum.pk]), query)
        assert short == long <= EXPORT_MAX_QUERIES
        short_rows = list(csv.reader(io.StringIO(short_body.decode())))
        long_rows = list(csv.reader(io.StringIO(long_body.decode())))
        checkins = -(-FIVE_YEARS // 7) - -(-30 // 7)
        assert len(long_rows) - len(short_rows) == (FIVE_YEARS - 30) + checkins


def test_the_csv_export_writes_the_days_expected_dose_and_its_flags(prescriber_client, month_and_lustrum, today):
    _, lustrum = month_and_lustrum
    _, body = queries(prescriber_client, reverse("titration:export", args=[lustrum.pk]))
    rows = list(csv.reader(io.StringIO(body.decode())))
    header = rows[5]
    table = rows[6:]
    slip = next(r for r in table if r[0] == (today - datetime.timedelta(days=1000)).isoformat() and r[1] == "Dose")
    assert slip[header.index("Dose (mg)")] == "15"
    assert "Warning: outside LDN range (open)" in slip[header.index("Flags")]
    first = next(r for r in table if r[1] == "Dose")
    assert first[header.index("Expected dose (mg)")] == "0.5"


def add_clinic(prescriber, n: int, patients: int) -> None:
    """A clinic of the prescriber with ``patients`` patients: a plan, doses up to yesterday, a tenfold slip."""
    clinic = Clinic.objects.create(name=f"Clinic {n:02d}")
    Membership.objects.create(user=prescriber, clinic=clinic)
    today = clinic_today(clinic)
    for k in range(patients):
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"C{n:02d}-{k:03d}",
            given_name="Pat",
            family_name=f"Clinic{n:02d}",
            date_of_birth=datetime.date(1980, 1, 1),
            prescriber=prescriber,
        )
        fill(patient, prescriber, 20, today, slip_on=today - datetime.timedelta(days=2))


LIST_PAGES = ["titration:worklist", "titration:dashboard", "titration:flags"]


@pytest.mark.parametrize("name", LIST_PAGES)
def test_the_lists_cost_the_same_queries_at_2_and_at_10_clinics(prescriber, name):
    client = client_for(prescriber)
    for n in range(2):
        add_clinic(prescriber, n, 2)
    at_two, _ = queries(client, reverse(name))
    for n in range(2, 10):
        add_clinic(prescriber, n, 2)
    client = client_for(prescriber)  # the principal is read per request: a new session for the new clinics
    at_ten, body = queries(client, reverse(name))
    assert at_two == at_ten <= LIST_PAGE_MAX_QUERIES
    # The tenth clinic's patients are listed; the queue has a second page now (read ahead, no query of its own).
    assert b'href="?page=2">Next' in body if name == "titration:flags" else b"Clinic09" in body


@pytest.mark.parametrize("name", LIST_PAGES)
def test_the_lists_cost_the_same_queries_for_few_and_many_patients(prescriber, name):
    client = client_for(prescriber)
    add_clinic(prescriber, 0, 1)
    few, _ = queries(client, reverse(name))
    add_clinic(prescriber, 1, 12)
    client = client_for(prescriber)
    many, _ = queries(client, reverse(name))
    assert few == many <= LIST_PAGE_MAX_QUERIES
    assert Flag.objects.filter(patient__clinic__name="Clinic 01", acknowledged_at__isnull=True).exists()
