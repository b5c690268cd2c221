from django.contrib import admin

from patients.admin import NoDeleteAdmin, ReadOnlyAdmin

from .models import CheckIn, DoseEntry, Flag, SideEffect, TitrationPlan


@admin.register(TitrationPlan)
class TitrationPlanAdmin(ReadOnlyAdmin):
    list_display = ["patient", "start_date", "starting_dose_mg", "step_mg", "target_dose_mg", "is_active"]
    list_filter = ["is_active", "formulation"]
    raw_id_fields = ["patient"]


@admin.register(DoseEntry)
class DoseEntryAdmin(ReadOnlyAdmin):
    list_display = ["patient", "taken_on", "dose_mg", "status", "voided_at"]
    list_filter = ["status"]
    raw_id_fields = ["patient", "plan"]


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = ["patient", "checked_on", "pain_score", "voided_at"]
    raw_id_fields = ["patient"]


@admin.register(SideEffect)
class SideEffectAdmin(ReadOnlyAdmin):
    list_display = ["checkin", "kind", "severity"]


@admin.register(Flag)
class FlagAdmin(NoDeleteAdmin):
    list_display = ["patient", "kind", "severity", "created_at", "acknowledged_at"]
    list_filter = ["kind", "severity"]
    raw_id_fields = ["patient", "dose_entry", "checkin"]
    readonly_fields = ["patient", "dose_entry", "checkin", "kind", "severity", "message", "created_at"]
