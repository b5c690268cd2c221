"""How doses, scores and flags are shown everywhere: doses as ``0.5 mg``, ``3 mg`` (ISMP notation)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django import template
from django.utils.html import format_html

from titration.rules import format_concentration, format_dose, format_entry_dose

register = template.Library()


@register.filter(name="dose")
def dose_filter(value: Decimal | int | str | None) -> str:
    if value is None or value == "":
        return format_dose(None)
    return format_dose(Decimal(str(value)))


def _one_decimal(value: Fraction | int) -> str:
    number = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return format(number.normalize(), "f")


@register.filter(name="entry_dose")
def entry_dose_filter(entry: Any) -> str:
    """A dose entry's dose: "1.5 mg", or a liquid one measured in mL "1.5 mg (3 mL of 0.5 mg/mL)"."""
    if entry is None:
        return format_dose(None)
    return format_entry_dose(
        getattr(entry, "dose_mg", None),
        getattr(entry, "dose_ml", None),
        getattr(entry, "concentration_mg_per_ml", None),
    )


@register.filter(name="concentration")
def concentration_filter(value: Decimal | int | str | None) -> str:
    """A liquid's strength: "0.5 mg/mL"."""
    if value is None or value == "":
        return "—"
    return format_concentration(Decimal(str(value)))


@register.filter
def score(value: Fraction | int | None) -> str:
    """A pain score or a mean of scores, to one decimal place at most: ``4``, ``4.5``."""
    return "—" if value is None else _one_decimal(Fraction(value))


@register.filter
def signed_score(value: Fraction | int | None) -> str:
    """A change in points with its sign (a real minus sign): ``−2.5``, ``+1``, ``0``."""
    if value is None:
        return "—"
    text = _one_decimal(abs(Fraction(value)))
    return "0" if text == "0" else ("−" if value < 0 else "+") + text


@register.filter
def signed_percent(value: Fraction | int | None) -> str:
    return "—" if value is None else f"{signed_score(value)}%"


@register.filter
def flag_badge(flag: Any) -> str:
    """A flag as a badge that says its severity and kind in words, not only in colour."""
    return format_html(
        '<span class="badge flag-{}" title="{}">{}: {}</span>',
        flag.severity_name,
        flag.message,
        flag.get_severity_display(),
        flag.get_kind_display(),
    )
