"""The patient list's current dose, last entry and open-flags columns, and sorting on them."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from titration import services
from titration.models import DoseStatus

pytestmark = pytest.mark.django_db


def ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


def rows(client, **params) -> list[str]:
    html = client.get(reverse("patients:list"), params).content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", tr).split()) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def names(client, **params) -> list[str]:
    return [row.split(" MRN", 1)[0].split(" A-", 1)[0] for row in rows(client, **params)]


@pytest.fixture
def three(make_patient, prescriber):
    """Cal: 4 mg, then a missed day, and a critical slip voided; Ada: 0.5 mg with a critical slip; Bo: nothing."""
    ada = make_patient(mrn="A-1", given_name="Ada", family_name="Ash")
    bo = make_patient(mrn="A-2", given_name="Bo", family_name="Birch")
    cal = make_patient(mrn="A-3", given_name="Cal", family_name="Cedar")
    services.dose_record(patient=ada, by=prescriber, taken_on=ago(5), dose_mg=Decimal("0.5"))
    services.dose_record(
        patient=ada, by=prescriber, taken_on=ago(4), dose_mg=Decimal("5"), confirmed=True, override_reason="x"
    )  # 5 mg after 0.5 mg: a slip (critical) and out of range (warning): two open flags
    services.dose_record(patient=cal, by=prescriber, taken_on=ago(3), dose_mg=Decimal("4"))
    services.dose_record(patient=cal, by=prescriber, taken_on=ago(2), dose_mg=None, status=DoseStatus.MISSED)
    slip, _ = services.dose_record(
        patient=cal, by=prescriber, taken_on=ago(1), dose_mg=Decimal("40"), confirmed=True, override_reason="x"
    )
    services.dose_void(entry=slip, by=prescriber, reason="decimal slip")
    return ada, bo, cal


def test_the_list_shows_current_dose_last_entry_and_open_flags(prescriber_client, three):
    ada, bo, cal = rows(prescriber_client)
    assert f"5 mg {ago(4):%-d %b %Y} 2" in ada  # the slip is the last taken dose, and two flags are open
    assert "None taken None 0" in bo
    # The voided slip is neither the current dose nor the last entry; the missed day is the last entry.
    assert f"4 mg {ago(2):%-d %b %Y} 0" in cal


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("name", ["Ash, Ada", "Birch, Bo", "Cedar, Cal"]),
        ("-name", ["Cedar, Cal", "Birch, Bo", "Ash, Ada"]),
        ("current_dose", ["Cedar, Cal", "Ash, Ada", "Birch, Bo"]),  # 4 mg, 5 mg, none last
        ("-current_dose", ["Ash, Ada", "Cedar, Cal", "Birch, Bo"]),  # none last either way
        ("last_entry", ["Ash, Ada", "Cedar, Cal", "Birch, Bo"]),
        ("-last_entry", ["Cedar, Cal", "Ash, Ada", "Birch, Bo"]),
        ("open_flags", ["Birch, Bo", "Cedar, Cal", "Ash, Ada"]),  # ties by name
        ("-open_flags", ["Ash, Ada", "Birch, Bo", "Cedar, Cal"]),
        ("mrn", ["Ash, Ada", "Birch, Bo", "Cedar, Cal"]),
        ("date_of_birth; drop table", ["Ash, Ada", "Birch, Bo", "Cedar, Cal"]),  # not allowlisted: by name
        ("-patients_patient.id", ["Ash, Ada", "Birch, Bo", "Cedar, Cal"]),
    ],
)
def test_the_list_sorts_on_its_columns(prescriber_client, three, sort, order):
    assert names(prescriber_client, sort=sort) == order


def test_the_sorted_column_says_so_and_its_link_reverses_it(prescriber_client, three):
    html = prescriber_client.get(reverse("patients:list"), {"sort": "current_dose", "q": "a"}).content.decode()
    header = re.search(r'<th scope="col" aria-sort="ascending"><a href="([^"]+)">Current dose', html)
    assert header, "the sorted column has aria-sort"
    assert header.group(1) == "?sort=-current_dose&amp;q=a"  # the search is kept
    assert html.count('aria-sort="none"') == 4
    assert '<input type="hidden" name="sort" value="current_dose">' in html  # a new search keeps the sort


def test_the_list_costs_the_same_queries_for_more_patients(prescriber_client, make_patient, prescriber):
    def add(n: int) -> None:
        for _ in range(n):
            patient = make_patient()
            services.dose_record(patient=patient, by=prescriber, taken_on=ago(2), dose_mg=Decimal("1.5"))
            services.dose_record(
                patient=patient,
                by=prescriber,
                taken_on=ago(1),
                dose_mg=Decimal("15"),
                confirmed=True,
                override_reason="x",
            )

    def count(sort: str) -> int:
        prescriber_client.get(reverse("patients:list"), {"sort": sort})
        with CaptureQueriesContext(connection) as captured:
            prescriber_client.get(reverse("patients:list"), {"sort": sort})
        return len(captured)

    add(2)
    few = {sort: count(sort) for sort in ("name", "-current_dose", "last_entry", "-open_flags")}
    add(10)
    assert {sort: count(sort) for sort in few} == few
