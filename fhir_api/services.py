"""Writes of the FHIR API: registering a client, and recording its reads in the access log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from patients.audit import audited, create_audited
from patients.models import AccessLog, Clinic

from .models import FhirClient
from .scopes import SCOPES

CLIENT_NAME_TAKEN = "A FHIR client with this name is already registered."
UNKNOWN_SCOPE = "Unknown scope: {scope}."
NO_SCOPE = "Give the client at least one scope."
ACCOUNT_PREFIX = "fhir."


class ClientRegistrationError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def account_username(name: str) -> str:
    """The username a client's reads are logged under: "fhir." and its name ("fhir.north-ehr")."""
    return f"{ACCOUNT_PREFIX}{slugify(name)}"[:150]


def client_name_taken(name: str) -> bool:
    return User.objects.filter(username=account_username(name)).exists()


def fhir_client_register(*, name: str, clinic: Clinic, scopes: Iterable[str], by: Any) -> tuple[FhirClient, str]:
    """Register an EHR as a confidential client-credentials client of ``clinic``: the client and its secret.

    The secret is returned once and stored only hashed (django-oauth-toolkit); whoever registers the client
    hands it to the EHR's administrator. The client's account cannot sign in: it only names the client in
    the access log.
    """
    scopes = list(dict.fromkeys(scopes))
    if not scopes:
        raise ClientRegistrationError(NO_SCOPE)
    for scope in scopes:
        if scope not in SCOPES:
            raise ClientRegistrationError(UNKNOWN_SCOPE.format(scope=scope))
    if not slugify(name) or client_name_taken(name):
        raise ClientRegistrationError(CLIENT_NAME_TAKEN)
    application_model = get_application_model()
    secret = generate_client_secret()
    with transaction.atomic():
        account = User(
            username=account_username(name), first_name=name[:150], last_name="(FHIR client)", is_active=False
        )
        account.set_unusable_password()
        audited(account, by=by, reason=f"FHIR client {name} registered").save()
        application = application_model.objects.create(
            name=name,
            client_type=application_model.CLIENT_CONFIDENTIAL,
            authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        client = create_audited(
            FhirClient,
            by=by,
            reason="registered",
            application=application,
            clinic=clinic,
            account=account,
            scopes=" ".join(scopes),
        )
    return client, secret


def fhir_access_record(*, client: FhirClient, ip_address: str | None, counts: Mapping[int | None, int | None]) -> None:
    """Record in the access log that ``client`` read records: one row per patient (``None``: a search that found
    nobody), with how many of their resources it was given (``None`` for a read by id)."""
    AccessLog.objects.bulk_create(
        AccessLog(
            user=client.account,
            patient_id=patient_id,
            action=AccessLog.Action.FHIR_READ,
            result_count=count,
            ip_address=ip_address or None,
        )
        for patient_id, count in counts.items()
    )


def search_counts(patient_ids: Iterable[int]) -> dict[int | None, int | None]:
    """How many resources of each patient a search page gave: {None: 0} when it gave none."""
    return dict(Counter(patient_ids)) or {None: 0}
