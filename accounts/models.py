"""The account-wide sign-in limit: failed password checks per username, and the cool-off they start.

Both are kept per username as typed, whether or not an account of that name exists, so that a refusal
says nothing about which usernames are real.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class SignInFailure(models.Model):
    """One wrong password for ``username`` (at sign-in or at the password change), from any address."""

    username = models.CharField(max_length=150)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["username", "at"], name="signinfailure_username_at")]

    def __str__(self) -> str:
        return f"{self.username} at {self.at:%Y-%m-%d %H:%M:%S}"


class AccountLock(models.Model):
    """The latest account-wide cool-off of ``username``; ``level`` counts the locks in a row (each doubles it)."""

    username = models.CharField(max_length=150)
    locked_at = models.DateTimeField()
    locked_until = models.DateTimeField()
    level = models.PositiveSmallIntegerField(default=0)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username"], name="accountlock_one_per_username"),
            models.CheckConstraint(condition=Q(locked_until__gte=F("locked_at")), name="accountlock_ends_after_start"),
        ]
        verbose_name = "account-wide sign-in lock"

    def __str__(self) -> str:
        return self.username
