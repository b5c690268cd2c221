"""The account-wide sign-in limit, on top of django-axes' lock per username and address.

django-axes locks a username *from one address* after 5 failures. An attacker with many addresses
(4 guesses from each of 20) never meets that lock, so every username also has a limit of its own:
``FAILURE_LIMIT`` wrong passwords from any addresses within ``WINDOW`` start a cool-off during which
every attempt for that username is refused unchecked, the right password too.

It is built so that a stranger cannot lock a clinician out for long:
- the cool-off is short and grows only while the failures go on: 1, 2, 4, 8, then at most 15 minutes
  (``cool_off_for``), and falls back to 1 minute after a day without a lock (``LEVEL_MEMORY``);
- attempts refused during a cool-off are not counted and do not extend it, so the lock always ends on
  time; the next one needs ``FAILURE_LIMIT`` new password checks after it ended;
- only attempts whose password was really checked count (not those django-axes already refused);
- an administrator lifts it at once (admin → Account-wide sign-in locks → "Lift the lock"), logged.
"""

from __future__ import annotations

import datetime
import logging
import math
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from . import security_log
from .models import AccountLock, SignInFailure

FAILURE_LIMIT = 10
WINDOW = datetime.timedelta(minutes=15)
FIRST_COOL_OFF = datetime.timedelta(minutes=1)
MAX_COOL_OFF = datetime.timedelta(minutes=15)
LEVEL_MEMORY = datetime.timedelta(hours=24)
MAX_LEVEL = 8
USERNAME_LENGTH = 150

# Set on the request by the authentication backend: the minutes left of the cool-off that refused the
# attempt, or that the password was really checked (so that a failure counts).
REFUSED_ATTR = "account_lock_minutes_left"
CHECKED_ATTR = "account_lock_password_checked"


def _key(username: str) -> str:
    return username[:USERNAME_LENGTH]


def cool_off_for(level: int) -> datetime.timedelta:
    """1, 2, 4, 8 minutes for the first locks in a row, then ``MAX_COOL_OFF``."""
    return min(FIRST_COOL_OFF * 2 ** min(level, MAX_LEVEL), MAX_COOL_OFF)


def locked_until(username: str) -> datetime.datetime | None:
    """When the cool-off of ``username`` ends, or None if it is not locked now."""
    until = AccountLock.objects.filter(username=_key(username), locked_until__gt=timezone.now()).values_list(
        "locked_until", flat=True
    )
    return next(iter(until), None)


def minutes_left(username: str) -> int | None:
    until = locked_until(username)
    if until is None:
        return None
    return max(1, math.ceil((until - timezone.now()).total_seconds() / 60))


@transaction.atomic
def sign_in_failure_record(*, username: str, request: HttpRequest | None) -> AccountLock | None:
    """Count one wrong password for ``username``; start a cool-off at the limit and return it."""
    now = timezone.now()
    key = _key(username)
    # Old failures and long-finished locks are of no further use; keep the tables small.
    SignInFailure.objects.filter(at__lt=now - WINDOW).delete()
    AccountLock.objects.filter(locked_until__lt=now - LEVEL_MEMORY).delete()

    lock = AccountLock.objects.select_for_update().filter(username=key).first()
    if lock is not None and lock.locked_until > now:
        return None  # refused attempts during a cool-off neither count nor extend it
    SignInFailure.objects.create(username=key, at=now)
    since = now - WINDOW if lock is None else max(now - WINDOW, lock.locked_until)
    if SignInFailure.objects.filter(username=key, at__gte=since).count() < FAILURE_LIMIT:
        return None

    level = 0 if lock is None or lock.lifted_at is not None else min(lock.level + 1, MAX_LEVEL)
    lock = lock or AccountLock(username=key)
    lock.level = level
    lock.locked_at = now
    lock.locked_until = now + cool_off_for(level)
    lock.lifted_at = None
    lock.lifted_by = None
    lock.save()
    minutes = int(cool_off_for(level).total_seconds() // 60)
    security_log.log_event(security_log.ACCOUNT_LOCKED, request, username=key, minutes=minutes)
    return lock


@transaction.atomic
def account_lock_lift(*, lock: AccountLock, by: User | AnonymousUser, request: HttpRequest | None) -> None:
    """An administrator ends the cool-off now; the failures so far are forgotten and the next lock is 1 minute."""
    now = timezone.now()
    lock.locked_until = max(now, lock.locked_at)
    lock.lifted_at = now
    lock.lifted_by = by if by.is_authenticated else None
    lock.save(update_fields=["locked_until", "lifted_at", "lifted_by"])
    SignInFailure.objects.filter(username=lock.username).delete()
    security_log.log_event(security_log.ACCOUNT_LOCK_LIFTED, request, target=lock.username, level=logging.WARNING)


def password_check_failed(*, username: str, request: HttpRequest) -> None:
    """A wrong password typed outside the sign-in form (the old password of a password change).

    Sent as the failed sign-in it is, so that it counts towards django-axes' lock of the username and
    address, the account-wide limit and the security log alike.
    """
    setattr(request, CHECKED_ATTR, True)
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


@receiver(user_login_failed)
def _count_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = credentials.get("username")
    if request is None or not isinstance(username, str) or not username:
        return
    if getattr(request, REFUSED_ATTR, None):
        security_log.log_event(security_log.ACCOUNT_LOCKED_OUT, request, username=username)
    elif getattr(request, CHECKED_ATTR, False):
        sign_in_failure_record(username=username, request=request)
