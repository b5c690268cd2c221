"""OAuth 2.0 as SMART backend services use it: the token endpoint, bearer tokens, scopes, one clinic per client."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import get_access_token_model

from fhir_api.oauth import EXPIRED_TOKEN, NO_TOKEN
from fhir_api.services import ClientRegistrationError, fhir_client_register
from patients.models import AccessLog
from tests.conftest import client_for

from .conftest import bearer, issue_token, validate


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def ask_token(client_id: str, secret: str, **data: str) -> Any:
    return Client(enforce_csrf_checks=True).post(
        "/fhir/auth/token",
        {"grant_type": "client_credentials", **data},
        HTTP_AUTHORIZATION=basic(client_id, secret),
    )


@pytest.mark.django_db
def test_a_registered_client_gets_a_five_minute_token_without_csrf_and_reads_with_it(clinic, register, record):
    client, secret = register(clinic, scopes=("system/Patient.read", "system/Observation.read"))
    response = ask_token(client.application.client_id, secret, scope="system/Patient.read")
    assert response.status_code == 200
    token = json.loads(response.content)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 300
    assert token["scope"] == "system/Patient.read"
    assert "refresh_token" not in token
    assert response["Cache-Control"] == "no-store"
    assert bearer(token["access_token"]).get(f"/fhir/Patient/{record['patient'].pk}").status_code == 200


@pytest.mark.django_db
def test_a_token_request_without_a_scope_gets_every_scope_of_the_client(clinic, register):
    client, secret = register(clinic, scopes=("system/Patient.read", "system/Observation.read"))
    token = json.loads(ask_token(client.application.client_id, secret).content)
    assert set(token["scope"].split()) == {"system/Patient.read", "system/Observation.read"}


@pytest.mark.django_db
def test_the_secret_may_also_come_in_the_body(clinic, register):
    client, secret = register(clinic)
    response = Client().post(
        "/fhir/auth/token",
        {"grant_type": "client_credentials", "client_id": client.application.client_id, "client_secret": secret},
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_tokens_are_stored_only_as_their_checksum(clinic, register):
    client, secret = register(clinic)
    raw = json.loads(ask_token(client.application.client_id, secret).content)["access_token"]
    stored = get_access_token_model().objects.get()
    assert stored.token == ""
    assert raw not in str(get_access_token_model().objects.values().get())


@pytest.mark.django_db
def test_a_wrong_secret_gets_no_token_and_is_logged(clinic, register, caplog):
    client, _ = register(clinic)
    with caplog.at_level(logging.WARNING, logger="ldn_tracker.security"):
        response = ask_token(client.application.client_id, "not-the-secret")
    assert response.status_code == 401
    assert json.loads(response.content)["error"] == "invalid_client"
    assert "event=fhir_token_refused" in caplog.text
    assert not get_access_token_model().objects.exists()


@pytest.mark.django_db
def test_a_scope_the_client_was_not_given_is_refused(clinic, register):
    client, secret = register(clinic, scopes=("system/Observation.read",))
    response = ask_token(client.application.client_id, secret, scope="system/Patient.read")
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_scope"


@pytest.mark.django_db
def test_a_deactivated_client_gets_no_token_and_its_tokens_stop_working(clinic, register, record):
    client, secret = register(clinic)
    token = issue_token(client)
    client.is_active = False
    client.save()
    assert ask_token(client.application.client_id, secret).status_code == 401
    response = bearer(token).get(f"/fhir/Patient/{record['patient'].pk}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_no_token_is_a_401_with_www_authenticate_bearer_and_an_operation_outcome(record, caplog):
    with caplog.at_level(logging.WARNING, logger="ldn_tracker.security"):
        response = Client().get(f"/fhir/Patient/{record['patient'].pk}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="fhir"'
    outcome = json.loads(response.content)
    validate(outcome)
    assert outcome["issue"][0]["code"] == "login"
    assert outcome["issue"][0]["diagnostics"] == NO_TOKEN
    assert "event=fhir_token_refused" in caplog.text and "reason=no_token" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer not-a-token", "token"])
def test_a_malformed_or_unknown_token_is_a_401(record, header):
    response = Client(HTTP_AUTHORIZATION=header).get("/fhir/Patient")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="fhir"')


@pytest.mark.django_db
def test_an_expired_token_is_a_401_invalid_token(ehr, record):
    token = issue_token(ehr, expires_in=-1)
    response = bearer(token).get(f"/fhir/Patient/{record['patient'].pk}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="fhir", error="invalid_token"'
    assert json.loads(response.content)["issue"][0]["diagnostics"] == EXPIRED_TOKEN


@pytest.mark.django_db
def test_a_token_with_the_wrong_scope_is_a_403_operation_outcome_logged_under_the_client(
    clinic, register, record, caplog
):
    client, _ = register(clinic, scopes=("system/Observation.read",), name="Pain Registry")
    api = bearer(issue_token(client, scopes="system/Observation.read"))
    assert api.get("/fhir/Observation").status_code == 200
    with caplog.at_level(logging.WARNING, logger="ldn_tracker.security"):
        response = api.get(f"/fhir/Patient/{record['patient'].pk}")
    assert response.status_code == 403
    outcome = json.loads(response.content)
    assert outcome["issue"][0]["code"] == "forbidden"
    assert "system/Patient.read" in outcome["issue"][0]["diagnostics"]
    assert "event=forbidden user=fhir.pain-registry" in caplog.text
    assert api.get(f"/fhir/Patient/{record['patient'].pk}/$everything").status_code == 403


@pytest.mark.django_db
def test_everything_holds_only_the_types_the_token_may_read(clinic, register, record):
    client, _ = register(clinic, scopes=("system/Patient.read", "system/Observation.read"))
    api = bearer(issue_token(client, scopes="system/Patient.read system/Observation.read"))
    bundle = json.loads(api.get(f"/fhir/Patient/{record['patient'].pk}/$everything").content)
    assert {entry["resource"]["resourceType"] for entry in bundle["entry"]} == {"Patient", "Observation"}


@pytest.mark.django_db
def test_another_clinics_client_gets_404_for_this_clinics_records(other_clinic, register, record):
    client, _ = register(other_clinic, name="South EHR")
    api = bearer(issue_token(client))
    patient = record["patient"]
    assert api.get(f"/fhir/Patient/{patient.pk}").status_code == 404
    assert api.get(f"/fhir/MedicationAdministration/{record['taken'].pk}").status_code == 404
    assert api.get(f"/fhir/Patient/{patient.pk}/$everything").status_code == 404
    assert json.loads(api.get("/fhir/MedicationAdministration", {"patient": patient.pk}).content)["total"] == 0
    assert json.loads(api.get("/fhir/Patient").content)["total"] == 0


@pytest.mark.django_db
def test_a_signed_in_clinician_without_a_token_gets_a_401(prescriber, record):
    response = client_for(prescriber).get(f"/fhir/Patient/{record['patient'].pk}")
    assert response.status_code == 401
    assert not AccessLog.objects.filter(action=AccessLog.Action.FHIR_READ).exists()


@pytest.mark.django_db
def test_the_capability_statement_needs_no_token_and_is_valid_r4(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    statement = json.loads(response.content)
    validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    types = {resource["type"]: resource for resource in rest["resource"]}
    assert set(types) == {
        "Patient",
        "Condition",
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationStatement",
        "Observation",
        "DetectedIssue",
        "Provenance",
    }
    assert types["Patient"]["operation"][0]["name"] == "everything"
    assert {p["name"] for p in types["Observation"]["searchParam"]} == {"patient", "date"}
    token_uri = rest["security"]["extension"][0]["extension"][0]["valueUri"]
    assert token_uri == "http://testserver/fhir/auth/token"


@pytest.mark.django_db
def test_the_smart_configuration_names_the_token_endpoint_grant_and_scopes(client):
    response = client.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    config = json.loads(response.content)
    assert config["token_endpoint"] == "http://testserver/fhir/auth/token"
    assert config["grant_types_supported"] == ["client_credentials"]
    assert config["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert "system/*.read" in config["scopes_supported"]
    assert "system/Patient.read" in config["scopes_supported"]
    assert "client-confidential-symmetric" in config["capabilities"]


@pytest.mark.django_db
def test_a_clients_account_cannot_sign_in(clinic, register):
    client, _ = register(clinic, name="North EHR")
    account = client.account
    assert account.username == "fhir.north-ehr"
    assert not account.is_active and not account.has_usable_password()
    browser = Client()
    response = browser.post("/accounts/login/", {"username": "fhir.north-ehr", "password": "anything at all"})
    assert response.status_code == 200  # the sign-in form again, with its error
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db
def test_a_client_needs_a_new_name_and_known_scopes(clinic, register):
    register(clinic, name="North EHR")
    with pytest.raises(ClientRegistrationError):
        fhir_client_register(name="north ehr", clinic=clinic, scopes=["system/*.read"], by=None)
    with pytest.raises(ClientRegistrationError):
        fhir_client_register(name="Other", clinic=clinic, scopes=["system/*.write"], by=None)
    with pytest.raises(ClientRegistrationError):
        fhir_client_register(name="Other", clinic=clinic, scopes=[], by=None)
