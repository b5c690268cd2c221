"""A patient's $everything costs a bounded number of queries: the same for 30 doses as for five years of them."""

from __future__ import annotations

import datetime
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from medications.services import medication_record
from patients.audit import bulk_create_audited, create_audited, save_audited
from patients.models import Patient
from tests.conftest import client_for
from titration.models import CheckIn, DoseEntry, DoseStatus, Flag, PlanStateChange, SideEffect, TitrationPlan
from titration.rules import FlagKind, Severity

# Token, patient, one count for every table, one read per table (17) and the plan states, the access log,
# and the request's savepoint.
MAX_QUERIES_PER_PAGE = 26
FIVE_YEARS = 5 * 365


def course(patient: Patient, by: Any, days: int, today: datetime.date) -> None:
    """``days`` daily doses (every tenth missed, one voided), weekly check-ins with side effects, flags."""
    start = today - datetime.timedelta(days=days)
    plan = create_audited(
        TitrationPlan,
        by=by,
        patient=patient,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        created_by=by,
    )
    holding = PlanStateChange(
        patient=patient, plan=plan, state="holding", effective_on=today, reason="best tolerated", changed_by=by
    )
    save_audited(holding, by=by, reason="best tolerated")
    doses = []
    for i in range(days):
        missed = i % 10 == 9
        dose = None if missed else min(Decimal("0.5") * (1 + i // 7), Decimal("4.5"))
        doses.append(
            DoseEntry(
                patient=patient,
                taken_on=start + datetime.timedelta(days=i),
                dose_mg=dose,
                status=DoseStatus.MISSED if missed else DoseStatus.TAKEN,
                plan=plan,
                recorded_by=by,
            )
        )
    entries = bulk_create_audited(doses, by=by)
    checkins = bulk_create_audited(
        [
            CheckIn(patient=patient, checked_on=start + datetime.timedelta(days=i), pain_score=i % 11, recorded_by=by)
            for i in range(0, days, 7)
        ],
        by=by,
    )
    bulk_create_audited(
        [SideEffect(checkin=checkin, kind="vivid_dreams", severity="mild") for checkin in checkins[::4]], by=by
    )
    for entry in entries[:: max(days // 5, 1)]:
        create_audited(
            Flag,
            by=by,
            patient=patient,
            dose_entry=entry,
            kind=FlagKind.OFF_SCHEDULE,
            severity=Severity.INFO,
            message="Differs from the plan.",
        )
    medication_record(patient=patient, by=by, name="paracetamol", start_date=start)


def all_pages(api: Client, patient: Patient) -> tuple[list[int], int]:
    """The query count of each page of $everything (1,000 entries a page), and how many entries in all."""
    counts, entries = [], 0
    url = f"/fhir/Patient/{patient.pk}/$everything?_count=1000"
    while url:
        with CaptureQueriesContext(connection) as queries:
            bundle = json.loads(api.get(url).content)
        counts.append(len(queries))
        entries += len(bundle.get("entry", []))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
    return counts, entries


@pytest.fixture
def small_and_large(make_patient, prescriber, today) -> tuple[Patient, Patient]:
    small, large = make_patient(mrn="SMALL"), make_patient(mrn="LARGE")
    course(small, prescriber, 30, today)
    course(large, prescriber, FIVE_YEARS, today)
    return small, large


@pytest.mark.django_db
def test_every_page_of_everything_stays_under_one_bound_for_30_doses_and_for_five_years(
    api: Client, small_and_large, capsys
):
    small, large = small_and_large
    small_counts, _ = all_pages(api, small)
    began = time.perf_counter()
    large_counts, large_entries = all_pages(api, large)
    seconds = time.perf_counter() - began
    assert large.dose_entries.count() == FIVE_YEARS
    assert large_entries > 2 * FIVE_YEARS  # doses, their provenance, check-ins, flags…
    assert len(small_counts) == 1 and len(large_counts) > 3
    # A page costs at most one query per table it reaches, whatever the number of rows.
    assert max(small_counts + large_counts) <= MAX_QUERIES_PER_PAGE
    with capsys.disabled():
        print(
            f"\n$everything, 1,000 a page: {small_counts} queries (30 doses); {large_counts} queries, "
            f"{large_entries} entries in {seconds:.2f} s (five years)"
        )


@pytest.mark.django_db
def test_one_page_of_everything_stays_under_the_bound_at_30_and_at_1800_entries(
    api: Client, small_and_large, django_assert_max_num_queries
):
    large = small_and_large[1]
    for patient in small_and_large:
        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            response = api.get(f"/fhir/Patient/{patient.pk}/$everything", {"_count": 1000})
        assert response.status_code == 200
    page = json.loads(api.get(f"/fhir/Patient/{large.pk}/$everything", {"_count": 1000, "_offset": 1800}).content)
    assert len(page["entry"]) == 1000


@pytest.mark.django_db
def test_the_fhir_bundle_download_costs_the_same_queries_for_30_doses_as_for_five_years(
    small_and_large, prescriber, capsys
):
    browser = client_for(prescriber)
    counts, seconds, sizes = [], [], []
    for patient in small_and_large:
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = browser.get(f"/patients/{patient.pk}/export.fhir.json")
            seconds.append(time.perf_counter() - began)
        assert response.status_code == 200
        counts.append(len(queries))
        sizes.append(len(json.loads(response.content)["entry"]))
    assert counts[0] == counts[1], counts
    with capsys.disabled():
        print(f"\nFHIR bundle download: {sizes} entries, {counts} queries, {[round(s, 2) for s in seconds]} s")
