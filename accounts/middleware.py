"""Sign-in rules that apply to every page.

Sign-in required (without search terms in the way back), the session time limit, two-factor sign-in,
the account-wide sign-in lock, and refusals logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils.functional import SimpleLazyObject
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware as DjangoOTPMiddleware
from django_otp.models import Device

from . import security_log
from .account_lock import REFUSED_ATTR
from .principal import principal_of
from .session_limits import has_outlived_its_limit, keep_alive
from .sessions import SessionStore
from .two_factor import two_factor_status
from .views import lockout_page

GetResponse = Callable[[HttpRequest], HttpResponse]

SESSION_TIME_LIMIT_REACHED = "You were signed out because you signed in more than {hours} hours ago. Sign in again."


def return_path(request: HttpRequest) -> str:
    """Where to come back to after signing in: the full path, without the query string of a search page.

    A search page's query (``/patients/?q=Smith``) holds a patient's name or MRN; in a ``next`` parameter
    it would reach proxy logs and browser history. Pages opt in by URL name in the setting
    ``LOGIN_NEXT_WITHOUT_QUERY`` (for example "patients:list").
    """
    if not request.META.get("QUERY_STRING"):
        return request.get_full_path()
    try:
        url_name = resolve(request.path_info).view_name
    except Resolver404:
        return request.get_full_path()
    if url_name in getattr(settings, "LOGIN_NEXT_WITHOUT_QUERY", ()):
        return request.path
    return request.get_full_path()


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware; database sessions are updated in one statement (``accounts.sessions``)."""

    def __init__(self, get_response: GetResponse) -> None:
        super().__init__(get_response)
        if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
            self.SessionStore = SessionStore


class OTPMiddleware(DjangoOTPMiddleware):
    """django-otp's middleware, which checks the session's device against the principal's devices.

    The user is verified when the device the session names is one of the user's confirmed devices, as
    django-otp checks; the principal already lists those (``accounts.principal``), so the check costs no
    query. The device itself is read only if something uses it. A session naming any other device loses
    that name, as with django-otp.
    """

    def _verify_user_sync(self, request: HttpRequest, user: Any) -> Any:
        principal = principal_of(user) if user.is_authenticated else None
        if principal is None:
            return super()._verify_user_sync(request, user)
        self._init_user_fields(user)
        persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
        if persistent_id:
            persistent_id = self._normalize_persistent_id(persistent_id)
            if persistent_id in principal.devices:
                user.otp_device = SimpleLazyObject(lambda: Device.from_persistent_id(persistent_id))
            else:
                del request.session[DEVICE_ID_SESSION_KEY]
        return user


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's sign-in for every page, with ``return_path`` as the ``next`` of the sign-in page."""

    def handle_no_permission(self, request: HttpRequest, view_func: Callable[..., Any]) -> HttpResponseRedirect:
        path = return_path(request)
        if path == request.get_full_path():
            return super().handle_no_permission(request, view_func)
        login_url = resolve_url(self.get_login_url(view_func))
        return redirect_to_login(path, login_url, self.get_redirect_field_name(view_func))


class AccountLockMiddleware:
    """Turn a sign-in refused by the account-wide lock (``accounts.backends``) into the lockout page.

    Goes just before django-axes' middleware, which does the same for its own lock.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        minutes = getattr(request, REFUSED_ATTR, None)
        if minutes:
            return lockout_page(request, minutes)
        return response


class RefusedRequestLogMiddleware:
    """Log every 403 and 404 answer on the security log (path only, never the query string)."""

    EVENTS = {403: security_log.FORBIDDEN, 404: security_log.NOT_FOUND}

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        event = self.EVENTS.get(response.status_code)
        if event is not None:
            security_log.log_event(event, request)
        return response


class SessionLimitsMiddleware:
    """End a signed-in session at its limits; keep it alive while the user is active.

    ``SESSION_ABSOLUTE_MAX_AGE`` seconds after sign-in the user is signed out, however active.
    Otherwise the server-side expiry (``SESSION_COOKIE_AGE``, the idle limit) moves on with the
    user's requests, written at most once a minute rather than on every request.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if has_outlived_its_limit(request.session):
                security_log.log_event(security_log.SESSION_TIME_LIMIT, request, level=logging.INFO)
                logout(request)
                hours = settings.SESSION_ABSOLUTE_MAX_AGE // 3600
                messages.info(request, SESSION_TIME_LIMIT_REACHED.format(hours=hours))
                return redirect_to_login(return_path(request))
            keep_alive(request.session)
        return self.get_response(request)


class TwoFactorMiddleware:
    """Two-factor sign-in before any page.

    A user with an authenticator must enter a code after the password; a prescriber of a clinic that
    requires two-factor sign-in and has no authenticator yet must set one up first. Sign-in, sign-out,
    the two-factor pages themselves and static files stay reachable. Goes after OTPMiddleware.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        redirect_to = self._redirect_for(request)
        if redirect_to is not None:
            return HttpResponseRedirect(redirect_to)
        return self.get_response(request)

    def _redirect_for(self, request: HttpRequest) -> str | None:
        user = request.user
        if not user.is_authenticated or user.is_verified():  # type: ignore[attr-defined]  # added by OTPMiddleware
            return None
        path = request.path
        if path.startswith(settings.STATIC_URL) or path in {reverse("login"), reverse("logout")}:
            return None
        status = two_factor_status(user)
        if status.enabled:
            verify = reverse("accounts:two-factor-verify")
            if path == verify:
                return None
            return f"{verify}?{urlencode({'next': return_path(request)})}"
        if status.required:
            setup = reverse("accounts:two-factor-setup")
            return None if path == setup else setup
        return None
