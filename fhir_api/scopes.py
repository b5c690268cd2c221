"""SMART backend-services scopes (``system/Patient.read``) and which a client may be granted.

SMART App Launch 1.0 scope syntax: ``system/<resource type>.read`` or ``system/*.read`` for every type. This
API only reads, so there are no write scopes. An administrator chooses each client's scopes; a token request
for any other scope is refused by django-oauth-toolkit with ``invalid_scope``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from oauth2_provider.scopes import BaseScopes

RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationStatement",
    "Observation",
    "DetectedIssue",
    "Provenance",
)
ALL_READ = "system/*.read"


def read_scope(resource_type: str) -> str:
    return f"system/{resource_type}.read"


SCOPES: dict[str, str] = {
    ALL_READ: "Read every resource of the clinic's patients",
    **{read_scope(t): f"Read the clinic's {t} resources" for t in RESOURCE_TYPES},
}


def may_read(granted: Collection[str], resource_type: str) -> bool:
    """Whether a token with the ``granted`` scopes may read (and search) ``resource_type``."""
    return ALL_READ in granted or read_scope(resource_type) in granted


class FhirClientScopes(BaseScopes):
    """The scopes of django-oauth-toolkit: those in ``SCOPES``, and for each client those it was given."""

    def get_all_scopes(self) -> dict[str, str]:
        return SCOPES

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        client = getattr(application, "fhir_client", None) if application is not None else None
        if client is None or not client.is_active:
            return []
        return [scope for scope in client.scope_list if scope in SCOPES]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        # A token request without a scope gets every scope the client was given.
        return self.get_available_scopes(application, request)
