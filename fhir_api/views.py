"""The FHIR R4 API (OAuth 2.0 bearer tokens) and the patient page's "Download FHIR bundle" (signed in)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from oauth2_provider.views import TokenView

from accounts import security_log
from patients.access import client_ip, with_patient
from patients.models import AccessLog, Clinic, Patient, clinic_today
from patients.services import access_record

from . import documents, params, services, sources
from .mapping import Resource
from .oauth import Grant, TokenRefused, grant_for
from .scopes import RESOURCE_TYPES, may_read, read_scope
from .sources import Context, Page, Source, mrn_system, scoped

FHIR_JSON = "application/fhir+json; charset=utf-8"
REALM = 'Bearer realm="fhir"'
TOKEN_REFUSED = "fhir_token_refused"  # noqa: S105 (an event name)
READ_ONLY = "The FHIR API is read-only: use GET."
UNKNOWN_TYPE = "This server has no resource type {resource_type}."
NOT_FOUND = "{resource_type}/{resource_id} is not known."
WRONG_SCOPE = "The access token's scopes do not include {scope} (or system/*.read)."


class FhirError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fhir_response(resource: Resource, status: int = 200) -> HttpResponse:
    """FHIR JSON, never cached: API answers carry patient data.

    orjson writes compact UTF-8, as ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` did, several
    times faster (a five-year record is megabytes); like it, it refuses a Decimal (doses are mapped to numbers).
    """
    body = orjson.dumps(resource)
    response = HttpResponse(body, content_type=FHIR_JSON, status=status)
    response["Cache-Control"] = "no-store"
    return response


def outcome(status: int, code: str, message: str) -> HttpResponse:
    return fhir_response(documents.operation_outcome(code, message), status=status)


def endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An API URL: no session sign-in (tokens instead), read-only so no CSRF, every error an OperationOutcome."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET":
            response = outcome(405, "not-supported", READ_ONLY)
            response["Allow"] = "GET"
            return response
        try:
            return view(request, *args, **kwargs)
        except TokenRefused as exc:
            security_log.log_event(TOKEN_REFUSED, request, reason=exc.error or "no_token")
            response = outcome(401, "login", exc.message)
            response["WWW-Authenticate"] = f'{REALM}, error="{exc.error}"' if exc.error else REALM
            return response
        except params.BadRequest as exc:
            return outcome(400, "invalid", exc.message)
        except FhirError as exc:
            return outcome(exc.status, exc.code, exc.message)

    return login_not_required(csrf_exempt(wrapped))


def _authorise(request: HttpRequest, resource_type: str) -> Grant:
    """The token's grant, if it may read ``resource_type``: 401 without a valid token, 404 for an unknown
    type, 403 without the scope. From here on the request acts as the client's account (the refusal log)."""
    grant = grant_for(request.headers.get("Authorization", ""))
    request.user = grant.client.account
    if resource_type not in RESOURCE_TYPES:
        raise FhirError(404, "not-found", UNKNOWN_TYPE.format(resource_type=resource_type[:64]))
    if not may_read(grant.scopes, resource_type):
        raise FhirError(403, "forbidden", WRONG_SCOPE.format(scope=read_scope(resource_type)))
    return grant


def base_url(request: HttpRequest) -> str:
    """The API's base address, ending with "/" ("https://ldn.example.org/fhir/")."""
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("metadata")


def _links(request: HttpRequest, search: params.Search, result: Page) -> dict[str, str]:
    def at(offset: int) -> str:
        query = request.GET.copy()
        query["_offset"] = str(offset)
        query["_count"] = str(search.count)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    links = {"self": request.build_absolute_uri()}
    if search.offset + search.count < result.total and search.count:
        links["next"] = at(search.offset + search.count)
    if search.offset > 0 and search.count:
        links["previous"] = at(max(search.offset - search.count, 0))
    return links


def _bundle(request: HttpRequest, search: params.Search, result: Page, base: str) -> Resource:
    return documents.searchset(
        [resource for _, resource in result.entries],
        total=result.total,
        base_url=base,
        links=_links(request, search, result),
        now=timezone.now(),
    )


def _context(clinic: Clinic) -> Context:
    """The mappings' "today" is the clinic's (its time zone and day boundary), as on the clinic's pages."""
    return Context(today=clinic_today(clinic))


@endpoint
def metadata(request: HttpRequest) -> HttpResponse:
    base = base_url(request)
    token_url = request.build_absolute_uri(reverse("fhir:token"))
    statement = documents.capability_statement(base_url=base, token_url=token_url, today=timezone.localdate())
    return fhir_response(statement)


@endpoint
def smart_configuration(request: HttpRequest) -> HttpResponse:
    token_url = request.build_absolute_uri(reverse("fhir:token"))
    response = JsonResponse(documents.smart_configuration(token_url=token_url))
    response["Cache-Control"] = "no-store"
    return response


_token_view = TokenView.as_view()


@login_not_required
@csrf_exempt
def token(request: HttpRequest) -> HttpResponse:
    """django-oauth-toolkit's token endpoint (client credentials); a refused request goes to the security log."""
    response = _token_view(request)
    if response.status_code >= 400:
        security_log.log_event(TOKEN_REFUSED, request, reason=f"token_endpoint_{response.status_code}")
    return response


@endpoint
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    grant = _authorise(request, resource_type)
    found = sources.read(
        resource_type, resource_id, clinic_id=grant.client.clinic_id, context=_context(grant.client.clinic)
    )
    if found is None:
        raise FhirError(404, "not-found", NOT_FOUND.format(resource_type=resource_type, resource_id=resource_id[:64]))
    patient_id, resource = found
    services.fhir_access_record(client=grant.client, ip_address=client_ip(request), counts={patient_id: None})
    return fhir_response(resource)


def _patient_selection(clinic_id: int, search: params.Search) -> list[tuple[Source, Any]]:
    (source,) = sources.SOURCES["Patient"]
    rows = scoped(source, clinic_id=clinic_id, patient_id=search.patient_id)
    if search.identifier is not None:
        system, value = search.identifier
        if system not in (None, "", mrn_system(clinic_id)):
            return []  # another system's identifiers: none of this clinic's patients has one
        rows = rows.filter(mrn__iexact=value)
    return [(source, rows)]


@endpoint
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    grant = _authorise(request, resource_type)
    query = params.parse_search(resource_type, request.GET)
    clinic_id = grant.client.clinic_id
    if resource_type == "Patient":
        selections = _patient_selection(clinic_id, query)
    else:
        selections = [
            (source, scoped(source, clinic_id=clinic_id, patient_id=query.patient_id, dates=query.dates))
            for source in sources.SOURCES[resource_type]
        ]
    result = sources.page(
        selections, clinic_id=clinic_id, offset=query.offset, count=query.count, context=_context(grant.client.clinic)
    )
    counts = services.search_counts(pid for pid, _ in result.entries)
    services.fhir_access_record(client=grant.client, ip_address=client_ip(request), counts=counts)
    return fhir_response(_bundle(request, query, result, base_url(request)))


def everything_page(
    patient_id: int, clinic: Clinic, query: params.Search, *, count: int | None, types: tuple[str, ...]
) -> Page:
    """A page of every record of the patient, of the given types: Patient, then each type in turn."""
    selections = [
        (source, scoped(source, clinic_id=clinic.pk, patient_id=patient_id, dates=query.dates))
        for resource_type in types
        for source in sources.SOURCES[resource_type]
    ]
    return sources.page(selections, clinic_id=clinic.pk, offset=query.offset, count=count, context=_context(clinic))


@endpoint
def everything(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Patient/$everything: the types the token may read, in pages of ``_count``."""
    grant = _authorise(request, "Patient")
    query = params.parse_everything(request.GET)
    clinic_id = grant.client.clinic_id
    if not Patient.objects.filter(pk=patient_id, clinic_id=clinic_id).exists():
        raise FhirError(404, "not-found", NOT_FOUND.format(resource_type="Patient", resource_id=patient_id))
    types = tuple(t for t in query.types if may_read(grant.scopes, t))
    result = everything_page(patient_id, grant.client.clinic, query, count=query.count, types=types)
    counts: dict[int | None, int | None] = {patient_id: len(result.entries)}
    services.fhir_access_record(client=grant.client, ip_address=client_ip(request), counts=counts)
    return fhir_response(_bundle(request, query, result, base_url(request)))


@endpoint
def not_found(request: HttpRequest) -> HttpResponse:
    raise FhirError(404, "not-found", "There is nothing at this address of the FHIR API.")


@require_GET
@with_patient("patients.view_patient")
def download(request: HttpRequest, patient: Patient) -> HttpResponse:
    """The patient page's "Download FHIR bundle": $everything as one file, logged like the CSV export."""
    access_record(
        user=request.user, patient=patient, action=AccessLog.Action.FHIR_EXPORT, ip_address=client_ip(request)
    )
    query = params.Search(count=0)
    result = everything_page(patient.pk, patient.clinic, query, count=None, types=RESOURCE_TYPES)
    bundle = documents.searchset(
        [resource for _, resource in result.entries],
        total=result.total,
        base_url=base_url(request),
        links={"self": request.build_absolute_uri(reverse("fhir:everything", args=[patient.pk]))},
        now=timezone.now(),
    )
    response = fhir_response(bundle)
    filename = f"patient-{patient.pk}-{clinic_today(patient.clinic).isoformat()}.fhir.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
