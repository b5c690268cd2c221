from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from patients.admin import NoDeleteAdmin, ReadOnlyAdmin

from .models import MedicationEntry, OpioidAlias, OpioidIngredient, SafetyProfile


class OpioidAliasInline(admin.TabularInline):
    model = OpioidAlias
    extra = 1

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OpioidIngredient)
class OpioidIngredientAdmin(NoDeleteAdmin):
    """The opioid reference list: administrators add ingredients and brand names; nothing is deleted."""

    list_display = ["name", "atc_code", "is_contraindication"]
    list_filter = ["is_contraindication"]
    search_fields = ["name", "atc_code", "aliases__name"]
    inlines = [OpioidAliasInline]


@admin.register(OpioidAlias)
class OpioidAliasAdmin(NoDeleteAdmin):
    list_display = ["name", "ingredient", "kind", "atc_code"]
    list_filter = ["kind"]
    search_fields = ["name", "ingredient__name"]


@admin.register(MedicationEntry)
class MedicationEntryAdmin(ReadOnlyAdmin):
    """Recorded, ended and voided in the app only, with who and why."""

    list_display = ["patient", "name", "active_ingredient", "start_date", "stop_date", "voided_at"]
    raw_id_fields = ["patient"]


@admin.register(SafetyProfile)
class SafetyProfileAdmin(ReadOnlyAdmin):
    list_display = ["patient", "pregnant", "breastfeeding", "hepatic_impairment", "naltrexone_hypersensitivity"]
    raw_id_fields = ["patient"]
