"""The patient page's "Download FHIR bundle": the $everything Bundle as a file, for both roles, logged."""

from __future__ import annotations

import json

import pytest

from patients.models import AccessLog
from tests.conftest import client_for

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
