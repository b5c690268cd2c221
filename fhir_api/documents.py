"""The API's own documents: search Bundles, OperationOutcomes, the CapabilityStatement and the SMART
configuration. Plain functions returning JSON-ready dicts."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

from .mapping import Resource, instant
from .params import EVERYTHING_PARAMS, MAX_COUNT, SEARCH_PARAMS
from .scopes import RESOURCE_TYPES, SCOPES

FHIR_VERSION = "4.0.1"
SOFTWARE = "LDN Titration Tracker"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
EVERYTHING_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def searchset(
    resources: Sequence[Resource],
    *,
    total: int,
    base_url: str,
    links: dict[str, str],
    now: datetime.datetime,
) -> Resource:
    """A searchset Bundle; ``links`` by relation (self, next, previous), ``base_url`` ends with "/"."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(now)},
        "type": "searchset",
        "timestamp": instant(now),
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        **(
            {
                "entry": [
                    {
                        "fullUrl": f"{base_url}{resource['resourceType']}/{resource['id']}",
                        "resource": resource,
                        "search": {"mode": "match"},
                    }
                    for resource in resources
                ]
            }
            if resources
            else {}
        ),
    }


def operation_outcome(code: str, message: str, severity: str = "error") -> Resource:
    """One issue: ``code`` from FHIR's issue-type value set (not-found, invalid, login, forbidden…)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def capability_statement(*, base_url: str, token_url: str, today: datetime.date) -> Resource:
    """What the server supports: read and search of each type, Patient $everything, SMART backend services."""
    resources = []
    for resource_type in RESOURCE_TYPES:
        entry: Resource = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": kind, "documentation": documentation}
                for name, (kind, documentation) in SEARCH_PARAMS[resource_type].items()
            ],
        }
        if resource_type == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": EVERYTHING_DEFINITION,
                    "documentation": "Every record of the patient, paged by _count; "
                    + "; ".join(f"{name}: {doc}" for name, (_, doc) in EVERYTHING_PARAMS.items()),
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": today.isoformat(),
        "publisher": SOFTWARE,
        "kind": "instance",
        "software": {"name": SOFTWARE},
        "implementation": {
            "description": f"Read-only FHIR R4 API of the {SOFTWARE}: one clinic's records per OAuth client",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": f"Pages hold _count entries (50 unless given, at most {MAX_COUNT}); follow the "
                "Bundle's next link for the following page.",
                "security": {
                    "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}],
                    "service": [{"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}],
                    "description": "OAuth 2.0 client credentials (SMART backend services) with scopes such as "
                    "system/Patient.read or system/*.read; each client reads the records of one clinic.",
                },
                "resource": resources,
            }
        ],
    }


def smart_configuration(*, token_url: str) -> Resource:
    """/.well-known/smart-configuration, as the SMART App Launch specification requires of a server."""
    return {
        "token_endpoint": token_url,
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(SCOPES),
        "capabilities": ["client-confidential-symmetric", "permission-v1"],
    }
