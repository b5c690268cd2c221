"""Two-factor pages, the password change, and the pages shown when sign-in or a form is refused."""

from __future__ import annotations

import logging
import math
from typing import Any

from axes.conf import settings as axes_settings  # Django's settings, with django-axes' defaults filled in
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from . import security_log
from .account_lock import minutes_left
from .forms import CodeForm, SetupCodeForm, ThrottledPasswordChangeForm
from .two_factor import (
    RECOVERY_CODE_COUNT,
    CodeError,
    code_verify,
    qr_code_svg,
    recovery_codes_left,
    recovery_codes_replace,
    secret_base32,
    totp_device_confirm,
    totp_device_of,
    totp_device_start,
    two_factor_disable,
    two_factor_enabled,
    two_factor_required,
)

ALREADY_ENABLED = "Two-factor sign-in is already on. To use another phone, turn it off here, then set it up again."
NOT_ENABLED = "Two-factor sign-in is not on for your account."
DISABLED = "Two-factor sign-in is off."
VERIFIED_WITH_RECOVERY_CODE = (
    "You signed in with a recovery code, which cannot be used again. Recovery codes left: {left}. "
    "Make new ones on the two-factor page if you are running out."
)
CSRF_REFUSED = (
    "The form was sent without a valid security token, or the token has expired "
    "(for example after signing out in another tab). Go back, reload the page and try again."
)


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _user(request: HttpRequest) -> User:
    """The signed-in user: the sign-in middleware lets no anonymous request reach these pages."""
    if isinstance(request.user, AnonymousUser):
        raise PermissionDenied
    return request.user


def _overview_context(request: HttpRequest, **forms: CodeForm) -> dict[str, Any]:
    user = _user(request)
    return {
        "enabled": two_factor_enabled(user),
        "device": totp_device_of(user),
        "recovery_codes_left": recovery_codes_left(user),
        "required": two_factor_required(user),
        "disable_form": forms.get("disable_form") or CodeForm(prefix="disable"),
        "codes_form": forms.get("codes_form") or CodeForm(prefix="codes"),
    }


def _recovery_codes_page(request: HttpRequest, codes: list[str], *, first_time: bool) -> HttpResponse:
    # Shown once, in the response to the POST that made them: they are stored nowhere else readable.
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "first_time": first_time, "next": resolve_url(settings.LOGIN_REDIRECT_URL)},
    )


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/two_factor.html", _overview_context(request))


@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    if totp_device_of(_user(request)) is not None:
        messages.info(request, ALREADY_ENABLED)
        return redirect("accounts:two-factor")
    form = SetupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = totp_device_confirm(user=_user(request), code=form.cleaned_data["code"])
        except CodeError as exc:
            form.add_error("code", str(exc))
            security_log.log_event(security_log.TWO_FACTOR_FAILED, request)
        else:
            otp_login(request, device)
            request.session.cycle_key()
            security_log.log_event(security_log.TWO_FACTOR_ENABLED, request, level=logging.INFO)
            return _recovery_codes_page(request, codes, first_time=True)
    device = totp_device_start(user=_user(request))
    context = {
        "form": form,
        "uri": device.config_url,
        "secret": secret_base32(device),
        "qr_code": qr_code_svg(device.config_url),
        "required": two_factor_required(_user(request)),
        "recovery_code_count": RECOVERY_CODE_COUNT,
    }
    return render(request, "accounts/two_factor_setup.html", context)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_verified():  # type: ignore[union-attr]  # OTPMiddleware adds it to every request's user
        return redirect(next_url)
    if not two_factor_enabled(_user(request)):
        return redirect("accounts:two-factor")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = code_verify(user=_user(request), code=form.cleaned_data["code"])
        except CodeError as exc:
            form.add_error("code", str(exc))
            security_log.log_event(security_log.TWO_FACTOR_FAILED, request)
        else:
            otp_login(request, device)
            # A new session key for the stronger sign-in, as Django does for the password.
            request.session.cycle_key()
            security_log.log_event(security_log.TWO_FACTOR_VERIFIED, request, level=logging.INFO)
            if isinstance(device, StaticDevice):
                messages.warning(request, VERIFIED_WITH_RECOVERY_CODE.format(left=recovery_codes_left(_user(request))))
            return redirect(next_url)
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


@require_POST
def disable(request: HttpRequest) -> HttpResponse:
    if not two_factor_enabled(_user(request)):
        messages.info(request, NOT_ENABLED)
        return redirect("accounts:two-factor")
    form = CodeForm(request.POST, prefix="disable")
    if form.is_valid():
        try:
            code_verify(user=_user(request), code=form.cleaned_data["code"])
        except CodeError as exc:
            form.add_error("code", str(exc))
            security_log.log_event(security_log.TWO_FACTOR_FAILED, request)
        else:
            two_factor_disable(user=_user(request))
            request.session.pop(DEVICE_ID_SESSION_KEY, None)
            security_log.log_event(security_log.TWO_FACTOR_DISABLED, request, level=logging.INFO)
            messages.success(request, DISABLED)
            return redirect("accounts:two-factor")
    return render(request, "accounts/two_factor.html", _overview_context(request, disable_form=form))


@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    if not two_factor_enabled(_user(request)):
        messages.info(request, NOT_ENABLED)
        return redirect("accounts:two-factor")
    form = CodeForm(request.POST, prefix="codes")
    if form.is_valid():
        try:
            code_verify(user=_user(request), code=form.cleaned_data["code"])
        except CodeError as exc:
            form.add_error("code", str(exc))
            security_log.log_event(security_log.TWO_FACTOR_FAILED, request)
        else:
            codes = recovery_codes_replace(user=_user(request))
            security_log.log_event(security_log.RECOVERY_CODES_REPLACED, request, level=logging.INFO)
            return _recovery_codes_page(request, codes, first_time=False)
    return render(request, "accounts/two_factor.html", _overview_context(request, codes_form=form))


def lockout_page(request: HttpRequest, minutes: int | None) -> HttpResponse:
    """The answer to a refused sign-in, from either lock: the same whether or not the username exists."""
    return render(request, "accounts/lockout.html", {"minutes": minutes}, status=axes_settings.AXES_HTTP_RESPONSE_CODE)


def _axes_minutes(request: HttpRequest) -> int | None:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds() / 60) if cool_off else None


def lockout(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``); does not repeat the username."""
    return lockout_page(request, _axes_minutes(request))


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, with the old-password check throttled like sign-in.

    A wrong old password counts as a failed sign-in (``ThrottledPasswordChangeForm``); while the username
    is locked, by django-axes from this address or account-wide, no old password is checked at all.
    """

    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["request"] = self.request
        return kwargs

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.user.get_username()
        if AxesProxyHandler.is_locked(request, {"username": username}):
            return lockout_page(request, _axes_minutes(request))
        minutes = minutes_left(username)
        if minutes is not None:
            return lockout_page(request, minutes)
        return super().post(request, *args, **kwargs)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The 403 page for a refused form (``CSRF_FAILURE_VIEW``): why, and the way back, without internals."""
    return render(request, "403.html", {"csrf_refused": CSRF_REFUSED}, status=403)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 page (``handler400``), also for requests refused before sign-in was looked at.

    A bad Host header is refused before AuthenticationMiddleware runs; the page's context
    processors expect a user, so such a request is shown the page as an anonymous visitor.
    """
    if not hasattr(request, "user"):
        request.user = AnonymousUser()
    return defaults.bad_request(request, exception)
