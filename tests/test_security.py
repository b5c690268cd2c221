"""Access control for every URL, CSRF, and stored XSS."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from importer.models import ImportBatch
from medications.services import medication_record
from patients.models import Patient
from tests.conftest import client_for
from tests.urlconf import named_patterns
from titration import services
from titration.models import DoseEntry

ANON, STAFF, PRESCRIBER, OUTSIDER = "anonymous", "staff", "prescriber", "outsider"
ROLES = [ANON, STAFF, PRESCRIBER, OUTSIDER]
LOGIN = 302  # anonymous: redirected to the login page

# Expected status per URL name: {method: (staff, prescriber, outsider)}. Anonymous is always LOGIN.
# The outsider is a prescriber of another clinic: every patient-scoped URL is a 404 to them.
EXPECTED: dict[str, dict[str, tuple[int, int, int]]] = {
    "titration:dashboard": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "titration:worklist": {"get": (200, 200, 200), "post": (405, 405, 405)},
    # Logging today's expected dose in one action: prescribers only; a dose not named goes to the form.
    "titration:dose-log-expected": {"get": (405, 405, 405), "post": (403, 302, 404)},
    "patients:list": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "patients:create": {"get": (403, 200, 200), "post": (403, 200, 200)},
    "titration:patient": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "patients:edit": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:dose-create": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:dose-diary": {"get": (403, 200, 404), "post": (403, 200, 404)},  # an empty POST: a stale grid
    "titration:dose-void": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:plan": {"get": (403, 200, 404), "post": (403, 200, 404)},
    "titration:checkin-create": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "titration:checkin-void": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "titration:export": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:history": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:schedule": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "titration:flags": {"get": (200, 200, 200), "post": (405, 405, 405)},
    # The clinic outcomes: each user sees only their own clinics' patients; the research export is prescribers'.
    "titration:outcomes": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "titration:outcomes-export": {"get": (403, 200, 200), "post": (405, 405, 405)},
    "titration:flag-acknowledge": {"get": (405, 405, 405), "post": (302, 302, 404)},
    "titration:flag-comment": {"get": (405, 405, 405), "post": (302, 302, 404)},  # an empty comment: a message
    "titration:flags-acknowledge-info": {"get": (405, 405, 405), "post": (302, 302, 404)},  # no note: a message
    "titration:plan-state": {"get": (405, 405, 405), "post": (403, 302, 404)},
    "medications:list": {"get": (200, 200, 404), "post": (405, 405, 405)},
    "medications:create": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:end": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:void": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "medications:safety": {"get": (200, 200, 404), "post": (200, 200, 404)},
    "patients:access-csv": {"get": (403, 403, 404), "post": (405, 405, 405)},
    "patients:access-log": {"get": (403, 403, 403), "post": (405, 405, 405)},
    "patients:clinic-settings": {"get": (403, 403, 404), "post": (403, 403, 404)},  # needs patients.change_clinic
    "logout": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "password_change": {"get": (200, 200, 200), "post": (200, 200, 200)},
    "password_change_done": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "accounts:two-factor": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "accounts:two-factor-setup": {"get": (200, 200, 200), "post": (200, 200, 200)},
    "accounts:two-factor-verify": {"get": (302, 302, 302), "post": (302, 302, 302)},  # nothing to verify
    "accounts:two-factor-disable": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "accounts:two-factor-recovery-codes": {"get": (405, 405, 405), "post": (302, 302, 302)},
    "fhir:download": {"get": (200, 200, 404), "post": (405, 405, 405)},
    # The FHIR API takes OAuth tokens, never a session: signed in or not, no token is a 401 (tests/fhir).
    "fhir:metadata": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "fhir:smart-configuration": {"get": (200, 200, 200), "post": (405, 405, 405)},
    "fhir:token": {"get": (405, 405, 405), "post": (400, 400, 400)},  # no grant_type
    "fhir:search": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "fhir:read": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "fhir:everything": {"get": (401, 401, 401), "post": (405, 405, 405)},
    "importer:upload": {"get": (403, 200, 200), "post": (403, 200, 200)},  # no file: the form's message
    "importer:template-csv": {"get": (403, 200, 200), "post": (405, 405, 405)},
    "importer:template-xlsx": {"get": (403, 200, 200), "post": (405, 405, 405)},
    "importer:batch": {"get": (403, 200, 404), "post": (403, 200, 404)},  # the prescriber's own upload
}
# Anonymous requests that are not sent to the sign-in page: the FHIR API's, answered as for everyone else.
ANONYMOUS_EXPECTED = {name: statuses for name, statuses in EXPECTED.items() if name.startswith("fhir:")}
del ANONYMOUS_EXPECTED["fhir:download"]

CASES = [(name, method, role) for name, _ in named_patterns() for method in ("get", "post") for role in ROLES]


def test_every_url_has_an_expectation():
    missing = sorted({name for name, _ in named_patterns()} - set(EXPECTED))
    assert not missing, f"add the expected statuses of {missing} to EXPECTED"


@pytest.fixture
def world(patient, prescriber, staff, outsider, today):
    entry, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )
    checkin, _ = services.checkin_record(patient=patient, by=staff, checked_on=today, pain_score=5)
    medication = medication_record(patient=patient, by=staff, name="tramadol 50 mg", start_date=today)
    batch = ImportBatch.objects.create(
        clinic=patient.clinic, uploaded_by=prescriber, file_name="doses.csv", checksum="0" * 64, size=0, data=b""
    )
    return {
        "ids": {
            "patient_id": patient.pk,
            "clinic_id": patient.clinic_id,
            "entry_id": entry.pk,
            "checkin_id": checkin.pk,
            "medication_id": medication.pk,
            "batch_id": batch.pk,
            "flag_id": entry.flags.first().pk,
            "resource_type": "Patient",
            "resource_id": patient.pk,
        },
        "clients": {
            ANON: Client(),
            STAFF: client_for(staff),
            PRESCRIBER: client_for(prescriber),
            OUTSIDER: client_for(outsider),
        },
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_access_matrix(world, name, method, role):
    kwargs = {key: world["ids"][key] for key in dict(named_patterns())[name]}
    path = reverse(name, kwargs=kwargs)
    response = getattr(world["clients"][role], method)(path)
    if role == ANON and name in ANONYMOUS_EXPECTED:
        assert response.status_code == ANONYMOUS_EXPECTED[name][method][0], (name, method)
        return
    if role == ANON:
        assert response.status_code == LOGIN, (name, method)
        assert response["Location"].startswith("/accounts/login/")
        return
    expected = EXPECTED[name][method][[STAFF, PRESCRIBER, OUTSIDER].index(role)]
    assert response.status_code == expected, (name, method, role)


def test_the_matrix_covers_many_cases():
    assert len(CASES) >= 24 * 2 * 4


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(patient, prescriber, today):
    client = Client(enforce_csrf_checks=True)
    client.force_login(prescriber)
    data = {"taken_on": today.isoformat(), "dose_mg": "1", "formulation": "capsule", "status": "taken"}
    response = client.post(f"/patients/{patient.pk}/doses/new/", data)
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
    pages = [
        f"/patients/{patient.pk}/",
        f"/patients/{patient.pk}/?period=all",
        f"/patients/{patient.pk}/history/",
        "/patients/",
        "/flags/",
        "/",
        f"/patients/{patient.pk}/checkins/new/",
    ]
    for path in pages:
        html = staff_client.get(path).content.decode()
        assert payload not in html, path
    page = staff_client.get(f"/patients/{patient.pk}/").content.decode()
    assert escape(payload) in page  # shown, as text
    assert f"Severe {escape(payload.lower())}" in page  # in the chart's text alternative too


@pytest.mark.django_db
def test_patient_urls_carry_no_identifiers(make_patient):
    patient: Patient = make_patient(mrn="SECRET-MRN", given_name="Hidden", family_name="Name")
    url = patient.get_absolute_url()
    assert "SECRET" not in url and "Hidden" not in url and "1980" not in url
