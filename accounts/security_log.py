"""Security events on one logger, ``ldn_tracker.security``.

Each line names the event, the user (or "anonymous"), the UTC time, the client address and the
request path. Only ``request.path``: query strings carry patient names and MRNs (``?q=``), so they
never reach the log. Values typed by a visitor (a username, a path) are cut short and stripped of
control characters so that nobody can forge a log line.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

logger = logging.getLogger("ldn_tracker.security")

ANONYMOUS = "anonymous"
MAX_FIELD_LENGTH = 200

LOGIN_FAILED = "login_failed"
LOCKED_OUT = "locked_out"
LOGIN = "login"
LOGOUT = "logout"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
SESSION_TIME_LIMIT = "session_time_limit"
TWO_FACTOR_FAILED = "two_factor_failed"
TWO_FACTOR_VERIFIED = "two_factor_verified"
TWO_FACTOR_ENABLED = "two_factor_enabled"
TWO_FACTOR_DISABLED = "two_factor_disabled"
RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
ACCOUNT_LOCKED = "account_locked"
ACCOUNT_LOCKED_OUT = "account_locked_out"
ACCOUNT_LOCK_LIFTED = "account_lock_lifted"
SESSIONS_ENDED = "sessions_ended"


def clean(value: object) -> str:
    """One printable line of at most ``MAX_FIELD_LENGTH`` characters."""
    text = "".join(char if char.isprintable() else "?" for char in str(value))
    return text[:MAX_FIELD_LENGTH] or "-"


def client_ip(request: HttpRequest | None) -> str:
    """The peer address (``REMOTE_ADDR``), as django-axes and the access log see it.

    Behind a reverse proxy, the proxy must set the peer address: a raw forwarding header is
    never trusted, since any client can send one.
    """
    if request is None:
        return "-"
    return request.META.get("REMOTE_ADDR") or "-"


def username_of(request: HttpRequest | None) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return user.get_username()


def log_event(
    event: str,
    request: HttpRequest | None,
    *,
    username: str | None = None,
    level: int = logging.WARNING,
    **details: object,
) -> None:
    """Write one security event. ``username`` overrides the signed-in user (for failed sign-ins).

    ``details`` (e.g. ``target=`` the account an administrator acted on) follow the standard fields.
    """
    fields = {
        "event": event,
        "user": clean(username if username else username_of(request)),
        "at": timezone.now().astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "remote_addr": clean(client_ip(request)),
        "path": clean(request.path) if request is not None else "-",
    }
    fields.update({name: clean(value) for name, value in details.items()})
    message = "security " + " ".join(f"{name}=%({name})s" for name in fields)
    logger.log(level, message, fields, extra={"security": fields})


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    log_event(LOGIN_FAILED, request, username=credentials.get("username") or ANONYMOUS)


@receiver(user_locked_out)
def _locked_out(sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any) -> None:
    log_event(LOCKED_OUT, request, username=username or ANONYMOUS)


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    log_event(LOGIN, request, username=user.get_username(), level=logging.INFO)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    log_event(LOGOUT, request, username=user.get_username() if user else ANONYMOUS, level=logging.INFO)
