from django.contrib import admin

from patients.admin import NoDeleteAdmin

from .models import DoseEntry, Flag, TitrationPlan


@admin.register(TitrationPlan)
class TitrationPlanAdmin(NoDeleteAdmin):
    list_display = ["patient", "start_date", "starting_dose_mg", "step_mg", "target_dose_mg", "is_active"]
    list_filter = ["is_active", "formulation"]
    raw_id_fields = ["patient"]


@admin.register(DoseEntry)
class DoseEntryAdmin(NoDeleteAdmin):
    list_display = ["patient", "taken_on", "dose_mg", "status", "voided_at"]
    list_filter = ["status"]
    raw_id_fields = ["patient", "plan"]
    readonly_fields = ["recorded_by", "recorded_at", "voided_at", "voided_by"]


@admin.register(Flag)
class FlagAdmin(NoDeleteAdmin):
    list_display = ["patient", "kind", "severity", "created_at", "acknowledged_at"]
    list_filter = ["kind", "severity"]
    raw_id_fields = ["patient", "dose_entry"]
