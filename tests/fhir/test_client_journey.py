"""An EHR's journey with an ordinary FHIR client library (fhirpy) against the real server over HTTP:
get a token, search, page through next links, read a resource and the patient's $everything."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import requests
from django.utils import timezone
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, ResourceNotFound

from fhir_api.services import fhir_client_register
from patients.models import AccessLog
from titration import services

from .conftest import validate


@pytest.fixture
def journey(live_server, make_patient, prescriber, staff, clinic, other_clinic, outsider):
    patient = make_patient(mrn="J-1", given_name="Grace", family_name="Hopper")
    start = timezone.localdate() - datetime.timedelta(days=12)
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for day in range(12):
        services.dose_record(
            patient=patient,
            by=prescriber,
            taken_on=start + datetime.timedelta(days=day),
            dose_mg=Decimal("0.5") if day < 7 else Decimal("1"),
        )
    services.checkin_record(patient=patient, by=staff, checked_on=start, pain_score=7)
    stranger = make_patient(clinic=other_clinic, prescriber=outsider, mrn="S-9")
    client, secret = fhir_client_register(name="North EHR", clinic=clinic, scopes=["system/*.read"], by=None)
    return {"patient": patient, "stranger": stranger, "client_id": client.application.client_id, "secret": secret}


def token_over_http(base: str, client_id: str, secret: str) -> str:
    """As an EHR does it: the SMART configuration names the token endpoint; client credentials, HTTP Basic."""
    config = requests.get(f"{base}/fhir/.well-known/smart-configuration", timeout=10).json()
    response = requests.post(
        config["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "system/*.read"},
        auth=(client_id, secret),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.mark.django_db(transaction=True)
def test_an_ehr_reads_a_patients_record_with_fhirpy(live_server, journey):
    patient = journey["patient"]
    token = token_over_http(live_server.url, journey["client_id"], journey["secret"])
    fhir = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {token}")

    # Find the patient by MRN, then read it by id.
    found = fhir.resources("Patient").search(identifier="J-1").fetch()
    assert [p.id for p in found] == [str(patient.pk)]
    read = fhir.reference("Patient", str(patient.pk)).to_resource()
    assert read["name"][0]["family"] == "Hopper"

    # Search the doses, 5 a page: fhirpy follows the next links to the end.
    search = fhir.resources("MedicationAdministration").search(patient=patient.pk).limit(5)
    assert len(search.fetch()) == 5  # the first page only
    doses = list(search)
    assert len(doses) == 12
    assert [dose["dosage"]["dose"]["value"] for dose in doses[:8]] == [0.5] * 7 + [1]
    after = fhir.resources("MedicationAdministration").search(
        patient=patient.pk, date__ge=doses[7]["effectiveDateTime"]
    )
    assert len(after.fetch_all()) == 5

    # $everything, paged, as one would walk it.
    bundle = fhir.execute(f"Patient/{patient.pk}/$everything", method="get", params={"_count": 10})
    entries = list(bundle["entry"])
    while next_link := next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None):
        bundle = fhir.execute(next_link, method="get")
        entries += bundle["entry"]
    assert len(entries) == bundle["total"]
    types = [entry["resource"]["resourceType"] for entry in entries]
    assert types.count("MedicationAdministration") == 12 and types.count("Observation") == 1
    for entry in entries:
        validate(dict(entry["resource"]))

    # Another clinic's patient does not exist for this client.
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", str(journey["stranger"].pk)).to_resource()
    assert AccessLog.objects.filter(user__username="fhir.north-ehr", patient=patient).exists()


@pytest.mark.django_db(transaction=True)
def test_without_a_token_fhirpy_gets_an_authorization_error(live_server, journey):
    fhir = SyncFHIRClient(f"{live_server.url}/fhir")
    with pytest.raises(AuthorizationError):
        fhir.resources("Patient").fetch()
