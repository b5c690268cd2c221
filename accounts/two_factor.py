"""Two-factor sign-in: an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

Built on django-otp: one ``TOTPDevice`` per user for the app, one ``StaticDevice`` holding the
recovery codes. A code is checked against the device its shape points to (six digits: the app;
anything else: a recovery code), so a typo on one never slows down the other.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django_otp import user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import Clinic
from patients.roles import Role

from .principal import Principal, forget, principal_of

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"

INVALID_CODE = "That code is not valid. Check that the clock of your phone is right, then enter a new code."
THROTTLED = "Too many wrong codes in a row. Wait {seconds} seconds, then try again."
NO_SETUP_IN_PROGRESS = "Start the set-up again: the secret shown earlier has expired."

_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_TOTP_CODE = re.compile(r"\d{6}")


class CodeError(Exception):
    """A code that was refused; the message is shown to the user."""


def normalise_code(code: str) -> str:
    """Codes are typed with spaces or dashes for readability, and recovery codes in either case."""
    return re.sub(r"[\s-]", "", code).lower()


def two_factor_enabled(user: AbstractBaseUser) -> bool:
    principal = principal_of(user)
    if principal is not None:
        return principal.two_factor_enabled
    return user_has_device(user, confirmed=True)


def _required_clinics(user: Any) -> QuerySet[Clinic]:
    return Clinic.objects.filter(require_two_factor_for_prescribers=True, memberships__user=user)


def _prescribers(user: Any) -> QuerySet[Group]:
    return Group.objects.filter(name=Role.PRESCRIBER.group_name, user=user)


def always_required(user: Any) -> bool:
    """Superusers and admin users (``is_staff``) need two-factor sign-in whatever their clinics say."""
    return bool(user.is_superuser or user.is_staff)


def two_factor_required(user: AbstractBaseUser) -> bool:
    """An admin user or superuser, or a prescriber of any clinic that requires it for its prescribers."""
    principal = principal_of(user)
    if principal is not None:
        return _required(user, principal)
    return always_required(user) or (_prescribers(user).exists() and _required_clinics(user).exists())


def _required(user: AbstractBaseUser, principal: Principal) -> bool:
    prescriber = Role.PRESCRIBER.group_name in principal.group_names
    return always_required(user) or (prescriber and principal.in_clinic_requiring_two_factor)


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    required: bool


def two_factor_status(user: AbstractBaseUser) -> TwoFactorStatus:
    """Whether the user has two-factor sign-in, and whether they must: from the request's principal, else one query."""
    principal = principal_of(user)
    if principal is not None:
        return TwoFactorStatus(enabled=principal.two_factor_enabled, required=_required(user, principal))
    app, recovery, prescriber, in_required_clinic = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            app=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            recovery=Exists(StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            prescriber=Exists(_prescribers(OuterRef("pk"))),
            in_required_clinic=Exists(_required_clinics(OuterRef("pk"))),
        )
        .values_list("app", "recovery", "prescriber", "in_required_clinic")
        .get()
    )
    required = always_required(user) or bool(prescriber and in_required_clinic)
    return TwoFactorStatus(enabled=bool(app or recovery), required=required)


def totp_device_of(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def totp_device_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed device whose secret the set-up page shows; the same one until confirmed."""
    pending = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("-pk")
    device = pending.first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    else:
        pending.exclude(pk=device.pk).delete()
    return device


def secret_base32(device: TOTPDevice) -> str:
    """The secret as typed into an authenticator app by hand, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(uri: str) -> SafeString:
    """The QR code of ``uri`` as inline SVG, drawn on the server: no script, no external image."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    ET.register_namespace("", _SVG_NAMESPACE)
    root = ET.fromstring(image.to_string(encoding="unicode"))  # noqa: S314 - our own output
    root.set("width", "220")
    root.set("height", "220")
    root.set("role", "img")
    root.set("aria-label", "QR code for your authenticator app")
    root.set("class", "qr-code")
    # A white background so the code scans on any theme.
    background = ET.Element(f"{{{_SVG_NAMESPACE}}}rect", {"width": "100%", "height": "100%", "fill": "#ffffff"})
    root.insert(0, background)
    return mark_safe(ET.tostring(root, encoding="unicode"))  # noqa: S308 - markup built above, no user text


def _refusal(device: Device, code: str) -> str | None:
    """Why ``device`` refuses ``code``, or None if it accepts it.

    Returns rather than raises, so that the caller's transaction keeps the failure count
    that throttles the next attempts.
    """
    allowed, details = device.verify_is_allowed()
    if not allowed:
        locked_until = (details or {}).get("locked_until")
        seconds = max(1, int((locked_until - timezone.now()).total_seconds()) + 1) if locked_until else 1
        return THROTTLED.format(seconds=seconds)
    if not device.verify_token(code):
        return INVALID_CODE
    return None


def _replace_recovery_codes(user: AbstractBaseUser) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME)
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def totp_device_confirm(*, user: AbstractBaseUser, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending device with a code from the app; returns it and new recovery codes.

    Raises ``CodeError`` if there is no pending device or the code is refused.
    """
    with transaction.atomic():
        pending = TOTPDevice.objects.devices_for_user(user, confirmed=False).select_for_update()
        device = pending.order_by("-pk").first()
        if device is None:
            raise CodeError(NO_SETUP_IN_PROGRESS)
        refusal = _refusal(device, normalise_code(code))
        if refusal is None:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # One authenticator at a time: a new set-up replaces any earlier one.
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            forget(user)
            return device, _replace_recovery_codes(user)
    # Raised outside the transaction, which keeps the failure count that throttles the next tries.
    raise CodeError(refusal)


def code_verify(*, user: AbstractBaseUser, code: str) -> Device:
    """The device that accepts ``code``: the app for six digits, the recovery codes otherwise.

    A recovery code is deleted as it is used. Raises ``CodeError`` when refused.
    """
    code = normalise_code(code)
    model: Any = TOTPDevice if _TOTP_CODE.fullmatch(code) else StaticDevice
    with transaction.atomic():
        device = model.objects.devices_for_user(user, confirmed=True).select_for_update().first()
        refusal = INVALID_CODE if device is None else _refusal(device, code)
        if refusal is None:
            return device
    raise CodeError(refusal)


@transaction.atomic
def recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    return _replace_recovery_codes(user)


@transaction.atomic
def two_factor_disable(*, user: AbstractBaseUser) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    forget(user)
