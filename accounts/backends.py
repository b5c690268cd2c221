"""The account-wide sign-in limit as an authentication backend, after django-axes' and before Django's."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .account_lock import CHECKED_ATTR, REFUSED_ATTR, minutes_left


class AccountLockBackend:
    """Refuse every attempt for a username in its account-wide cool-off, before its password is checked.

    Signs nobody in (and has no ``get_user``, so no session is ever tied to it). Reached only when
    django-axes let the attempt through, so it also marks the attempts whose password Django's backend
    then checks: only those count towards the limit.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None or not username:
            return None
        minutes = minutes_left(username)
        if minutes is not None:
            setattr(request, REFUSED_ATTR, minutes)
            # Stops django.contrib.auth.authenticate, which then sends user_login_failed.
            raise PermissionDenied
        setattr(request, CHECKED_ATTR, True)
        return None
