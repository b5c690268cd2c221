"""Medication and safety-profile changes appear on the patient's audit trail, with who, when and why."""

import datetime

import pytest
from django.urls import reverse

from .conftest import days_ago, medication_data

pytestmark = pytest.mark.django_db


def trail(client, patient) -> list[str]:
    response = client.get(reverse("titration:history", args=[patient.pk]))
    return [event.sentence for event in response.context["page"].events]


def test_recording_ending_and_voiding_medications_and_the_safety_profile_are_on_the_audit_trail(
    staff_client, prescriber_client, patient, today
):
    create = reverse("medications:create", args=[patient.pk])
    staff_client.post(create, medication_data(name="tramadol 50 mg", dose="50 mg", start_date=days_ago(today, 10)))
    staff_client.post(create, medication_data(name="paracetamol", start_date=days_ago(today, 3)))
    tramadol, paracetamol = (patient.medications.get(name=name) for name in ("tramadol 50 mg", "paracetamol"))
    staff_client.post(
        reverse("medications:end", args=[patient.pk, tramadol.pk]),
        {"stop_date": today.isoformat(), "reason": "Washout before LDN"},
    )
    staff_client.post(reverse("medications:void", args=[patient.pk, paracetamol.pk]), {"reason": "Wrong patient"})
    prescriber_client.post(
        reverse("medications:safety", args=[patient.pk]),
        {"hepatic_impairment": "mild", "breastfeeding": "on", "notes": ""},
    )

    sentences = trail(prescriber_client, patient)
    start = today - datetime.timedelta(days=10)
    expected = [
        f"Medication tramadol 50 mg created: 50 mg, from {start:%-d %b %Y} by nurse.kim",
        f"Medication tramadol 50 mg ended: none taken from {today:%-d %b %Y} by nurse.kim",
        "Medication paracetamol voided by nurse.kim",
        "Safety profile created: breastfeeding, mild hepatic impairment by dr.lee",
    ]
    for beginning in expected:
        assert any(s.startswith(beginning) for s in sentences), (beginning, sentences)
    assert any(
        s.startswith("Medication tramadol 50 mg ended") and s.endswith("reason: Washout before LDN") for s in sentences
    )
    assert any(s.startswith("Medication paracetamol voided") and s.endswith("reason: Wrong patient") for s in sentences)
