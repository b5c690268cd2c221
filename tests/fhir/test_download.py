"""The patient page's "Download FHIR bundle": the $everything Bundle as a file, for both roles, logged."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any

import pytest

from patients.models import AccessLog
from tests.conftest import client_for
from titration import services
from titration.models import Formulation

from .conftest import validate


@pytest.mark.django_db
def test_the_patient_page_links_to_the_fhir_bundle(staff_client, record):
    patient = record["patient"]
    page = staff_client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/export.fhir.json">Download FHIR bundle</a>' in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["staff", "prescriber"])
def test_both_roles_download_the_whole_record_as_one_valid_bundle(request, record, role):
    patient = record["patient"]
    response = client_for(request.getfixturevalue(role)).get(f"/patients/{patient.pk}/export.fhir.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="patient-{patient.pk}-')
    assert response["Content-Disposition"].endswith('.fhir.json"')
    assert response["Cache-Control"] == "no-store"
    bundle = json.loads(response.content)
    validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle["entry"]) > 40
    assert not [link for link in bundle["link"] if link["relation"] == "next"]  # one file, no pages
    types = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert types == {
        "Patient",
        "Condition",
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationStatement",
        "Observation",
        "DetectedIssue",
        "Provenance",
    }
    for entry in bundle["entry"]:
        validate(entry["resource"])


@pytest.mark.django_db
def test_each_download_is_in_the_access_log_like_the_csv_export(staff, staff_client, record):
    patient = record["patient"]
    AccessLog.objects.all().delete()
    staff_client.get(f"/patients/{patient.pk}/export.fhir.json", REMOTE_ADDR="10.0.0.9")
    log = AccessLog.objects.get()
    assert (log.user, log.patient, log.action, log.ip_address) == (staff, patient, "fhir_export", "10.0.0.9")
    assert log.get_action_display() == "Downloaded the FHIR bundle"


@pytest.mark.django_db
def test_another_clinics_clinician_gets_a_404_and_nothing_is_logged(outsider_client, record):
    AccessLog.objects.all().delete()
    response = outsider_client.get(f"/patients/{record['patient'].pk}/export.fhir.json")
    assert response.status_code == 404
    assert not AccessLog.objects.exists()


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_sign_in(client, record):
    response = client.get(f"/patients/{record['patient'].pk}/export.fhir.json")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def empty_elements(value: Any, path: str = "") -> list[str]:
    """The paths of every empty element (None, "", [] or {}) in ``value``, at any depth: FHIR forbids them."""
    if value is None or value in ("", [], {}):
        return [path or "(the document)"]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in empty_elements(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in empty_elements(item, f"{path}[{i}]")]
    return []


def test_empty_elements_are_found_at_any_depth():
    assert empty_elements({"a": [{"b": {"c": ""}}, {"d": []}], "e": {"f": None}, "g": {}, "h": 0}) == [
        ".a[0].b.c",
        ".a[1].d",
        ".e.f",
        ".g",
    ]


@pytest.mark.django_db
def test_the_bundle_has_no_empty_element_anywhere(staff_client, record, prescriber, staff, today):
    """Every kind of record, with and without its optional parts (notes, a route, a plan, a dose…)."""
    patient = record["patient"]
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=2),
        dose_mg=Decimal("1.5"),
        formulation=Formulation.SUBLINGUAL,
        notes="taken late",
    )
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=1), dose_mg=None, status="missed"
    )
    services.checkin_record(
        patient=patient, by=staff, checked_on=today - datetime.timedelta(days=1), pain_score=0, notes="better"
    )
    bundle = json.loads(staff_client.get(f"/patients/{patient.pk}/export.fhir.json").content)
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert {"note", "dosage", "statusReason"} <= {key for r in resources for key in r}  # optional parts occur
    assert len({r["resourceType"] for r in resources}) == 8
    assert empty_elements(bundle) == []


@pytest.mark.django_db
def test_the_bundle_is_compact_utf_8_with_doses_as_clinicians_write_them(staff_client, record):
    body = staff_client.get(f"/patients/{record['patient'].pk}/export.fhir.json").content
    assert '"text":"Pain (0–10)"'.encode() in body  # not escaped as \u2013
    assert b'"doseQuantity":{"value":0.5,"unit":"mg"' in body  # the first plan's starting dose, not .5
    assert b'"dose":{"value":1,"unit":"mg"' in body  # not 1.0
    assert b'"dose":{"value":4.75,"unit":"mg"' in body
    assert b'": ' not in body and b'", "' not in body
