"""The one way a dose is shown anywhere in the app: ``0.5 mg``, ``3 mg`` (ISMP notation)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from titration.rules import format_dose

register = template.Library()


@register.filter(name="dose")
def dose_filter(value: Decimal | int | str | None) -> str:
    if value is None or value == "":
        return format_dose(None)
    return format_dose(Decimal(str(value)))
