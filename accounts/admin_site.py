"""The admin is for superusers only.

Django opens its admin to every ``is_staff`` user and then limits them by model permissions, across
all clinics: a prescriber given ``is_staff`` and a "view patient" permission would see every clinic's
patients. Rather than scope every admin queryset by clinic, the admin is closed to everyone but
superusers; clinicians work in the app, where every query is scoped to their clinics.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in refuses anyone but a superuser, with the message of a wrong password."""

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not getattr(user, "is_superuser", False):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class SuperuserAdminSite(admin.AdminSite):
    site_header = "LDN Titration Tracker administration"
    site_title = "LDN Titration Tracker admin"
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)

    def password_change(  # type: ignore[override]  # Django's renders a page; this one redirects to ours
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # One password change page, where a wrong old password is throttled like a sign-in.
        return redirect("password_change")
