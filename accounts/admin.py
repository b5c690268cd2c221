from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .account_lock import account_lock_lift
from .models import AccountLock


@admin.register(AccountLock)
class AccountLockAdmin(admin.ModelAdmin):
    """Account-wide sign-in locks: read-only, lifted with the action (which is logged), never deleted."""

    list_display = ["username", "locked_at", "locked_until", "is_locked_now", "level", "lifted_at", "lifted_by"]
    search_fields = ["username"]
    ordering = ["-locked_at"]
    actions = ["lift"]

    @admin.display(boolean=True, description="locked now")
    def is_locked_now(self, lock: AccountLock) -> bool:
        return lock.locked_until > timezone.now()

    @admin.action(description="Lift the lock of the selected accounts")
    def lift(self, request: HttpRequest, queryset: QuerySet[AccountLock]) -> None:
        locks = list(queryset)
        for lock in locks:
            account_lock_lift(lock=lock, by=request.user, request=request)
        self.message_user(request, f"Lifted: {', '.join(lock.username for lock in locks)}.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
