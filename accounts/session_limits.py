"""How long a signed-in session lasts: an idle limit, and an absolute limit whatever the activity.

The idle limit is Django's server-side session expiry, ``SESSION_COOKIE_AGE`` after the session was
last saved; ``keep_alive`` saves it again at most every ``RENEW_EVERY`` seconds of activity, so the
session ends between ``SESSION_COOKIE_AGE - RENEW_EVERY`` and ``SESSION_COOKIE_AGE`` seconds after
the last request, and active users cost one session write a minute instead of one per request.
The absolute limit signs the user out a fixed time after sign-in, so that a workstation left
signed in all day is signed out.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

SIGNED_IN_AT = "accounts_signed_in_at"
RENEWED_AT = "accounts_renewed_at"
RENEW_EVERY = 60


def now_timestamp() -> float:
    return timezone.now().timestamp()


def stamp(session: SessionBase) -> None:
    session[SIGNED_IN_AT] = session[RENEWED_AT] = now_timestamp()


def has_outlived_its_limit(session: SessionBase) -> bool:
    """True once the session is older than ``SESSION_ABSOLUTE_MAX_AGE`` seconds (stamps it if new)."""
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(signed_in_at, int | float):
        stamp(session)
        return False
    return now_timestamp() - signed_in_at > settings.SESSION_ABSOLUTE_MAX_AGE


def keep_alive(session: SessionBase) -> None:
    """Mark the session changed, so that it is saved with a new expiry, if not renewed this last minute."""
    renewed_at = session.get(RENEWED_AT)
    if not isinstance(renewed_at, int | float) or now_timestamp() - renewed_at >= RENEW_EVERY:
        session[RENEWED_AT] = now_timestamp()


@receiver(user_logged_in)
def _stamp_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Django keeps session data across sign-in (it only changes the key), so restamp here.
    if request is not None and hasattr(request, "session"):
        stamp(request.session)
