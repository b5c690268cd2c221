"""Cross-cutting HTTP behaviour that is not domain logic."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
NO_REQUEST = "-"

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    return _request_id.get()


def _incoming_request_id(request: HttpRequest) -> str | None:
    """The caller's X-Request-ID if it is a UUID (canonical form); anything else is ignored."""
    raw = request.headers.get(REQUEST_ID_HEADER, "")
    if not raw or len(raw) > 64:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


class RequestIdMiddleware:
    """Give every request an id, for its log lines and its ``X-Request-ID`` response header.

    A proxy's or client's id is kept when it is a valid UUID, so one request can be followed across
    services; any other value is replaced, so that nothing a client sends reaches the logs this way.
    Goes first, so that every later middleware and the error log see the id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _incoming_request_id(request) or str(uuid.uuid4())
        request.request_id = request_id  # type: ignore[attr-defined]  # an attribute of ours on Django's request
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` to every record ("-" outside a request), for the log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class NoStoreForSignedInMiddleware:
    """Send ``Cache-Control: no-store`` on every page shown to a signed-in user.

    Those pages carry patient data; no browser or proxy cache may keep them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
