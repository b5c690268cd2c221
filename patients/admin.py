from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .models import AccessLog, Clinic, Condition, Diagnosis, Membership, Patient


class NoDeleteAdmin(SimpleHistoryAdmin):
    """Clinical records are never hard-deleted, not even by an administrator; their history is shown."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    """Records corrected only through the app (void with a reason), or that are themselves an audit record."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(NoDeleteAdmin):
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "clinic", "created_at"]
    list_filter = ["clinic"]
    autocomplete_fields = ["clinic"]


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ["name", "icd10_code", "snomed_code", "is_active"]
    search_fields = ["name", "icd10_code"]


class DiagnosisInline(admin.TabularInline):
    model = Diagnosis
    extra = 0

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(NoDeleteAdmin):
    list_display = ["family_name", "given_name", "mrn", "clinic", "is_active"]
    list_filter = ["clinic", "is_active"]
    search_fields = ["mrn", "family_name", "given_name"]
    inlines = [DiagnosisInline]


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "action", "patient", "ip_address"]
    list_filter = ["action"]
    raw_id_fields = ["patient", "user"]
