"""Authentication backends: the account-wide sign-in limit (after django-axes' and before the next), and
Django's own backend with the per-request principal."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .account_lock import CHECKED_ATTR, REFUSED_ATTR, minutes_left
from .principal import user_with_principal


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


class PrincipalBackend(ModelBackend):
    """Django's username-and-password backend, whose session user comes with its principal (one query).

    ``get_user`` is called once per signed-in request; it reads the user with their roles, permissions,
    clinics and two-factor state (``accounts.principal``). An inactive user is refused as before, so a
    deactivated account is signed out on its next request.
    """

    def get_user(self, user_id: Any) -> User | None:
        user = user_with_principal(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
