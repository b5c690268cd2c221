"""Sign-in rules that apply to every page: the session time limit, two-factor sign-in, refusals logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from . import security_log
from .session_limits import has_outlived_its_limit, keep_alive
from .two_factor import two_factor_status

GetResponse = Callable[[HttpRequest], HttpResponse]

SESSION_TIME_LIMIT_REACHED = "You were signed out because you signed in more than {hours} hours ago. Sign in again."


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
                return redirect_to_login(request.get_full_path())
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
        if not user.is_authenticated or user.is_verified():  # type: ignore[union-attr]
            return None
        path = request.path
        if path.startswith(settings.STATIC_URL) or path in {reverse("login"), reverse("logout")}:
            return None
        status = two_factor_status(user)
        if status.enabled:
            verify = reverse("accounts:two-factor-verify")
            if path == verify:
                return None
            return f"{verify}?{urlencode({'next': request.get_full_path()})}"
        if status.required:
            setup = reverse("accounts:two-factor-setup")
            return None if path == setup else setup
        return None
