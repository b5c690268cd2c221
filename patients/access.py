"""Which clinics and patients a user may see.

Every object lookup in a view goes through these helpers, so no view can forget the
clinic boundary: a patient of another clinic is a 404, never a 403 that confirms it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404

from accounts.principal import principal_of

from .models import Clinic, Patient

Params = ParamSpec("Params")
Response = TypeVar("Response", bound=HttpResponseBase)  # a page, a redirect, or a streamed CSV
View = Callable[Concatenate[HttpRequest, Params], Response]

ROLE_REFUSED = "Your role does not allow this action."
# Set on a patient read with its row locked: the transaction it was locked in.
_LOCKED_IN = "_locked_in_transaction"


def clinics_for(user: Any) -> QuerySet[Clinic]:
    if not user.is_authenticated:
        return Clinic.objects.none()
    if user.is_superuser:
        return Clinic.objects.all()
    principal = principal_of(user)
    if principal is not None:
        return Clinic.objects.filter(pk__in=principal.clinic_ids)
    return Clinic.objects.filter(memberships__user=user)


def patients_for(user: Any) -> QuerySet[Patient]:
    """The patients of the user's clinics: the request's principal names them, else a join on the memberships."""
    return Patient.objects.visible_to(user)


def get_patient_for(user: Any, patient_id: int, *, for_update: bool = False, related: tuple[str, ...] = ()) -> Patient:
    """The patient if the user belongs to its clinic; Http404 otherwise.

    ``for_update``: also lock the patient's row until the end of the current transaction (see ``lock_patient``).
    ``related``: more one-to-one relations to read with the patient (on a read, not a locking one).
    """
    patients = patients_for(user).select_related("clinic", "prescriber")
    if not for_update:
        return get_object_or_404(patients.select_related(*related), pk=patient_id)
    patient = get_object_or_404(patients.select_for_update(of=("self",)), pk=patient_id)
    setattr(patient, _LOCKED_IN, _current_transaction())
    return patient


def _current_transaction() -> object | None:
    """The outermost atomic block, which stands for the open transaction (None outside one)."""
    connection = transaction.get_connection()
    return connection.atomic_blocks[0] if connection.in_atomic_block else None


def is_locked(patient: Patient) -> bool:
    """Whether ``patient`` was read with its row locked (``for_update``) in the transaction still open.

    A service that must serialise writes to one patient's record can then skip locking it again.
    """
    locked_in = getattr(patient, _LOCKED_IN, None)
    return locked_in is not None and locked_in is _current_transaction()


def get_clinic_for(user: Any, clinic_id: int) -> Clinic:
    """The clinic if the user belongs to it (superusers: any clinic); Http404 otherwise."""
    return get_object_or_404(clinics_for(user), pk=clinic_id)


def permission_required(
    perm: str,
) -> Callable[[View[Params, Response]], View[Params, Response]]:
    """403 (PermissionDenied) unless the user has ``perm``."""

    def decorator(view: View[Params, Response]) -> View[Params, Response]:
        @wraps(view)
        def wrapped(request: HttpRequest, /, *args: Params.args, **kwargs: Params.kwargs) -> Response:
            if not request.user.has_perm(perm):
                raise PermissionDenied(ROLE_REFUSED)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def superuser_required(view: View[Params, Response]) -> View[Params, Response]:
    """403 for everyone but superusers (after any 404 from an object lookup inside the view)."""

    @wraps(view)
    def wrapped(request: HttpRequest, /, *args: Params.args, **kwargs: Params.kwargs) -> Response:
        if not request.user.is_superuser:
            raise PermissionDenied("Only administrators can see the access log.")
        return view(request, *args, **kwargs)

    return wrapped


def with_patient(
    perm: str | None = None, *, log_as: str | None = None, related: tuple[str, ...] = ()
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Turn the URL's ``patient_id`` into ``patient``: 404 outside the user's clinics, then 403 without ``perm``.

    The clinic check comes first so a refusal never confirms that another clinic's patient exists. With
    ``log_as`` (an ``AccessLog.Action``), every GET that passes both checks is recorded in the access log, so
    a view that shows patient data cannot forget to log it; a POST is not logged again.

    A POST writes to the patient's record, so its read also locks the patient's row for the request's
    transaction: writes to one patient are serialised, and the services need not read the patient again.
    ``related``: one-to-one relations a GET reads with the patient (one query less each).
    """

    # The view takes ``patient``; the URL gives ``patient_id``: a signature that ParamSpec cannot spell.
    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, patient_id: int, **kwargs: Any) -> Response:
            writes = request.method == "POST" and transaction.get_connection().in_atomic_block
            patient = get_patient_for(request.user, patient_id, for_update=writes, related=related)
            if perm is not None and not request.user.has_perm(perm):
                raise PermissionDenied(ROLE_REFUSED)
            if log_as is not None and request.method == "GET":
                log_access(request, log_as, patient=patient)
            return view(request, *args, patient=patient, **kwargs)

        return wrapped

    return decorator


def log_access(
    request: HttpRequest, action: str, *, patient: Patient | None = None, result_count: int | None = None
) -> None:
    """Record in the access log that the requesting user saw ``patient`` (or a list of ``result_count``)."""
    from .services import access_record

    access_record(
        user=request.user, patient=patient, action=action, ip_address=client_ip(request), result_count=result_count
    )


def client_ip(request: HttpRequest) -> str | None:
    """The peer address. Behind a reverse proxy, configure it to set REMOTE_ADDR (never trust a raw header)."""
    return request.META.get("REMOTE_ADDR") or None
