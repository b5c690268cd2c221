from __future__ import annotations

import datetime
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Layout, Submit
from django import forms
from django.utils import timezone

from patients.concurrency import VERSION_FIELD, VersionedFormMixin
from patients.models import Patient, clinic_today

from . import rules, services
from .models import OpioidIngredient, SafetyProfile

UNKNOWN_CHOICE = "This medication is not on the opioid list: choose one from the list, or type the name instead."
DATE_INVALID = "Enter a date, for example 2026-03-14."


def _date_field(label: str, *, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        help_text=help_text,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": DATE_INVALID},
    )


def _reason_field(label: str, required_message: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": required_message},
    )


class MedicationEntryForm(forms.Form):
    """Record a medication: chosen from the opioid list, or typed (then matched against the list)."""

    reference = forms.ModelChoiceField(
        label="From the opioid list",
        queryset=OpioidIngredient.objects.order_by("name"),
        required=False,
        empty_label="Not on the list: type the name below",
        error_messages={"invalid_choice": UNKNOWN_CHOICE},
    )
    name = forms.CharField(
        label="Medication name",
        required=False,
        max_length=200,
        help_text="As on the box or the prescription, for example “Ultram” or “co-codamol 30/500”.",
        widget=forms.TextInput(attrs={"list": "opioid-names", "autocomplete": "off"}),
    )
    active_ingredient = forms.CharField(
        required=False,
        max_length=200,
        help_text="Filled from the opioid list when left blank.",
    )
    dose = forms.CharField(required=False, max_length=100, help_text="As prescribed, for example “50 mg twice daily”.")
    route = forms.CharField(required=False, max_length=100, help_text="For example oral, patch, inhaled.")
    start_date = _date_field("Start date")

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.today = today = clinic_today(patient.clinic)
        self.fields["start_date"].initial = today
        self.fields["start_date"].widget.attrs["max"] = today.isoformat()
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Div(
                Div("reference", css_class="col-md-4"),
                Div("name", css_class="col-md-4"),
                Div("active_ingredient", css_class="col-md-4"),
                css_class="row",
            ),
            Div(
                Div("dose", css_class="col-md-4"),
                Div("route", css_class="col-md-4"),
                Div("start_date", css_class="col-md-4"),
                css_class="row",
            ),
            Submit("submit", "Record medication"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if not cleaned.get("reference") and not cleaned.get("name", "").strip() and "reference" not in self.errors:
            self.add_error("name", services.NAME_REQUIRED)
        start = cleaned.get("start_date")
        if start is not None:
            problem = rules.start_date_problem(start, today=self.today, born=self.patient.date_of_birth)
            if problem:
                self.add_error("start_date", problem)
        return cleaned


class MedicationEndForm(forms.Form):
    stop_date = _date_field("Stop date", help_text="The first day the patient no longer takes it.")
    reason = _reason_field("Reason it was stopped", services.STOP_REASON_REQUIRED)

    def __init__(
        self, *args: Any, start_date: datetime.date, today: datetime.date | None = None, **kwargs: Any
    ) -> None:
        """``today``: the patient's clinic's day (``patients.models.clinic_today``)."""
        super().__init__(*args, **kwargs)
        self.start_date = start_date
        self.today = today = today or timezone.localdate()
        self.fields["stop_date"].initial = today
        self.fields["stop_date"].widget.attrs.update({"min": start_date.isoformat(), "max": today.isoformat()})

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(services.STOP_REASON_REQUIRED)
        return reason

    def clean_stop_date(self) -> datetime.date:
        stop: datetime.date = self.cleaned_data["stop_date"]
        problem = rules.stop_date_problem(stop, start=self.start_date, today=self.today)
        if problem:
            raise forms.ValidationError(problem)
        return stop


class MedicationVoidForm(forms.Form):
    reason = _reason_field("Reason for voiding", services.VOID_REASON_REQUIRED)

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(services.VOID_REASON_REQUIRED)
        return reason


class SafetyProfileForm(VersionedFormMixin, forms.ModelForm):
    """The patient's safety profile; the hidden version refuses a save over someone else's newer change."""

    class Meta:
        model = SafetyProfile
        fields = list(services.SAFETY_FIELDS)
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "hepatic_impairment": "Naltrexone is metabolised in the liver: moderate or severe impairment warns.",
            "naltrexone_hypersensitivity": "A plan can then be set only with a confirmation and a reason.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Div(
                Div("pregnant", css_class="col-md-3"),
                Div("breastfeeding", css_class="col-md-3"),
                Div("naltrexone_hypersensitivity", css_class="col-md-6"),
                css_class="row",
            ),
            "hepatic_impairment",
            "notes",
            *([VERSION_FIELD] if self.is_versioned else []),
            Submit("submit", "Save safety profile"),
        )
