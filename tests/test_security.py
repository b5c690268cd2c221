"""CSRF, stored XSS, and identifiers kept out of URLs. Access control per URL: test_access_matrix.py."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from patients.models import Patient
from titration import services
from titration.models import DoseEntry


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(patient, prescriber, today):
    client = Client(enforce_csrf_checks=True)
    client.force_login(prescriber)
    data = {"taken_on": today.isoformat(), "dose_mg": "1", "formulation": "capsule", "status": "taken"}
    response = client.post(reverse("titration:dose-create", args=[patient.pk]), data)
    assert response.status_code == 403
    assert not DoseEntry.objects.exists()


XSS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "<svg onload=alert(1)>"]


@pytest.mark.django_db
@pytest.mark.parametrize("payload", XSS)
def test_stored_xss_is_escaped_everywhere(payload, make_patient, prescriber, staff, staff_client, today):
    patient = make_patient(given_name=payload, family_name=payload, notes=payload)
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=3),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("3"),
        notes=payload,
    )
    entry, _ = services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=Decimal("6"),
        confirmed=True,
        override_reason=payload,
        notes=payload,
    )
    services.dose_void(entry=entry, by=prescriber, reason=payload)
    services.checkin_record(
        patient=patient,
        by=staff,
        checked_on=today,
        pain_score=5,
        notes=payload,
        side_effects=[("other", "severe", payload)],
    )
    page_url = reverse("titration:patient", args=[patient.pk])
    pages = [
        page_url,
        f"{page_url}?period=all",
        reverse("titration:history", args=[patient.pk]),
        reverse("patients:list"),
        reverse("titration:flags"),
        reverse("titration:dashboard"),
        reverse("titration:checkin-create", args=[patient.pk]),
    ]
    for path in pages:
        html = staff_client.get(path).content.decode()
        assert payload not in html, path
    page = staff_client.get(page_url).content.decode()
    assert escape(payload) in page  # shown, as text
    assert f"Severe {escape(payload.lower())}" in page  # in the chart's text alternative too


@pytest.mark.django_db
def test_patient_urls_carry_no_identifiers(make_patient):
    patient: Patient = make_patient(mrn="SECRET-MRN", given_name="Hidden", family_name="Name")
    url = patient.get_absolute_url()
    assert "SECRET" not in url and "Hidden" not in url and "1980" not in url
