"""An administrator registers an EHR as a FHIR client: its clinic and scopes, its secret shown once, no delete."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from fhir_api.models import FhirClient
from tests.conftest import client_for


@pytest.fixture
def admin_client(db) -> Client:
    return client_for(User.objects.create_superuser("root", "root@example.org", "a-long-admin-passphrase"))


@pytest.mark.django_db
def test_the_admin_registers_a_client_and_shows_its_secret_once(admin_client, clinic, record):
    response = admin_client.post(
        "/admin/fhir_api/fhirclient/add/",
        {"name": "North EHR", "clinic": clinic.pk, "scope_choices": ["system/Patient.read", "system/Observation.read"]},
    )
    assert response.status_code == 200
    page = response.content.decode()
    client = FhirClient.objects.get()
    assert (client.name, client.clinic, client.scopes) == (
        "North EHR",
        clinic,
        "system/Patient.read system/Observation.read",
    )
    assert client.application.client_id in page
    secret = re.search(r"Client secret</th><td><code>([^<]+)</code>", page).group(1)
    assert secret not in client.application.client_secret  # only its hash is kept
    assert "no-store" in response["Cache-Control"]
    token = Client().post(
        "/fhir/auth/token",
        {"grant_type": "client_credentials", "client_id": client.application.client_id, "client_secret": secret},
    )
    assert token.status_code == 200
    assert json.loads(token.content)["scope"] == "system/Patient.read system/Observation.read"
    assert secret not in admin_client.get(f"/admin/fhir_api/fhirclient/{client.pk}/change/").content.decode()


@pytest.mark.django_db
def test_a_client_name_is_registered_once(admin_client, clinic, register):
    register(clinic, name="North EHR")
    response = admin_client.post(
        "/admin/fhir_api/fhirclient/add/",
        {"name": "north ehr", "clinic": clinic.pk, "scope_choices": ["system/*.read"]},
    )
    assert "already registered" in response.content.decode()
    assert FhirClient.objects.count() == 1


@pytest.mark.django_db
def test_the_admin_changes_scopes_and_deactivates_but_never_deletes_a_client(admin_client, clinic, register):
    client, _ = register(clinic)
    response = admin_client.post(
        f"/admin/fhir_api/fhirclient/{client.pk}/change/", {"scope_choices": ["system/Patient.read"]}
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert (client.scopes, client.is_active) == ("system/Patient.read", False)
    assert admin_client.post(f"/admin/fhir_api/fhirclient/{client.pk}/delete/", {"post": "yes"}).status_code == 403
    assert FhirClient.objects.filter(pk=client.pk).exists()
    assert client.history.count() == 2  # registered, then changed


@pytest.mark.django_db
def test_the_command_registers_a_client_and_prints_its_credentials_once(clinic):
    out = io.StringIO()
    call_command(
        "fhir_client_register",
        "North EHR",
        "--clinic",
        clinic.name,
        "--scope",
        "system/Patient.read",
        stdout=out,
        stderr=io.StringIO(),
    )
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    client = FhirClient.objects.get()
    assert lines["client_id"] == client.application.client_id
    assert (client.clinic, client.scopes) == (clinic, "system/Patient.read")
    response = Client().post(
        "/fhir/auth/token",
        {"grant_type": "client_credentials", "client_id": lines["client_id"], "client_secret": lines["client_secret"]},
    )
    assert response.status_code == 200
    with pytest.raises(CommandError, match="No clinic"):
        call_command("fhir_client_register", "Other", "--clinic", "Nowhere", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already registered"):
        call_command("fhir_client_register", "North EHR", "--clinic", clinic.name, stdout=io.StringIO())
