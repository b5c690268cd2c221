from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Clinic, Condition, Diagnosis, Membership, Patient


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records are never hard-deleted, not even by an administrator."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
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
