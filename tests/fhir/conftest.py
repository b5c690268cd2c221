"""FHIR API fixtures: registered clients, their tokens, a patient with a record of every kind, and validation."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from oauth2_provider.models import get_access_token_model, set_token_value

from fhir_api.models import FhirClient
from fhir_api.scopes import ALL_READ
from fhir_api.services import fhir_client_register
from medications.services import medication_end, medication_record, medication_void
from patients.models import Clinic, Patient
from titration import services
from titration.models import DoseStatus, Flag, Formulation


def validate(resource: dict[str, Any]) -> Any:
    """Parse ``resource`` with the fhir.resources R4B model of its type: raises on anything invalid."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.fixture
def register() -> Callable[..., tuple[FhirClient, str]]:
    counter = iter(range(1, 1000))

    def build(clinic: Clinic, scopes: tuple[str, ...] = (ALL_READ,), name: str = "") -> tuple[FhirClient, str]:
        return fhir_client_register(name=name or f"EHR {next(counter)}", clinic=clinic, scopes=scopes, by=None)

    return build


def issue_token(client: FhirClient, scopes: str = ALL_READ, expires_in: int = 300) -> str:
    """An access token as the token endpoint issues it (stored as its checksum only)."""
    raw = secrets.token_urlsafe(30)
    token = get_access_token_model()(
        application=client.application,
        scope=scopes,
        expires=timezone.now() + datetime.timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return raw


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def ehr(clinic: Clinic, register: Callable[..., tuple[FhirClient, str]]) -> FhirClient:
    client, _ = register(clinic, name="North EHR")
    return client


@pytest.fixture
def api(ehr: FhirClient) -> Client:
    """A test client with a token of the first clinic's EHR, allowed every type."""
    return bearer(issue_token(ehr))


@pytest.fixture
def record(patient: Patient, prescriber: User, staff: User, today: datetime.date) -> dict[str, Any]:
    """A patient with one of everything: two plans (a liquid one paused), taken, missed and voided doses, a flag
    acknowledged and one open, check-ins with side effects (one voided), an active, an ended and a voided
    medication."""
    start = today - datetime.timedelta(days=20)
    first = services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("1.5"),
    )
    plan = services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=start + datetime.timedelta(days=3),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("3"),
        formulation=Formulation.LIQUID,
        liquid_concentration_mg_per_ml=Decimal("0.5"),
    )
    taken, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=start + datetime.timedelta(days=3), dose_mg=Decimal("1")
    )
    missed, _ = services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=start + datetime.timedelta(days=4),
        dose_mg=None,
        status=DoseStatus.MISSED,
    )
    slip, _ = services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=start + datetime.timedelta(days=5),
        dose_mg=Decimal("10"),
        confirmed=True,
        override_reason="patient read the wrong line",
    )
    services.dose_void(entry=slip, by=prescriber, reason="transcription error")
    outside, _ = services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=start + datetime.timedelta(days=6),
        dose_mg=Decimal("4.75"),
        confirmed=True,
        override_reason="trial of a higher dose",
    )
    open_flag = Flag.objects.filter(dose_entry=outside).first()
    checkin, _ = services.checkin_record(
        patient=patient,
        by=staff,
        checked_on=start + datetime.timedelta(days=6),
        pain_score=6,
        sleep_quality=5,
        side_effects=[("vivid_dreams", "mild", ""), ("nausea", "severe", "")],
    )
    wrong, _ = services.checkin_record(
        patient=patient, by=staff, checked_on=start + datetime.timedelta(days=7), pain_score=9
    )
    services.checkin_void(checkin=wrong, by=staff, reason="another patient's score")
    severe = Flag.objects.filter(checkin=checkin).first()
    services.flag_acknowledge(flag=severe, by=prescriber, note="Called the patient: nausea settling.")
    state = services.plan_state_set(patient=patient, by=prescriber, state="paused", reason="nausea")
    current = medication_record(patient=patient, by=staff, name="paracetamol 1 g", start_date=start, dose="1 g")
    ended = medication_record(
        patient=patient, by=staff, name="tramadol 50 mg", start_date=start - datetime.timedelta(days=30)
    )
    ended = medication_end(
        entry=ended, by=prescriber, stop_date=start - datetime.timedelta(days=10), reason="before LDN"
    )
    voided = medication_record(patient=patient, by=staff, name="ibuprofen", start_date=start)
    medication_void(entry=voided, by=staff, reason="wrong patient")
    return {
        "patient": patient,
        "first_plan": first,
        "plan": plan,
        "state": state,
        "taken": taken,
        "missed": missed,
        "voided": slip,
        "outside": outside,
        "open_flag": open_flag,
        "acknowledged_flag": severe,
        "checkin": checkin,
        "voided_checkin": wrong,
        "medications": {"current": current, "ended": ended, "voided": voided},
    }
