from __future__ import annotations

import datetime
import zoneinfo
from typing import Any, cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Fieldset, Layout, Submit
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from .concurrency import VERSION_FIELD, VersionedFormMixin
from .models import (
    EARLIEST_BIRTH_DATE,
    LATEST_DAY_BOUNDARY,
    RESTART_GAP_MAX_DAYS,
    RESTART_GAP_MIN_DAYS,
    Clinic,
    Condition,
    Patient,
    clinic_today,
)
from .roles import Role
from .services import is_prescriber_of

DUPLICATE_MRN = "A patient with this MRN already exists in this clinic."
BIRTH_IN_FUTURE = "The date of birth cannot be in the future."
BIRTH_TOO_EARLY = "The date of birth cannot be before 1 January 1900."
DIAGNOSED_BEFORE_BIRTH = "A condition cannot be diagnosed before the patient was born."
DIAGNOSED_IN_FUTURE = "The date diagnosed cannot be in the future."
PRESCRIBER_NOT_IN_CLINIC = "Choose an active prescriber of the patient's clinic."
DAY_BOUNDARY_TOO_LATE = "The day must begin at 12:00 at the latest (a dose after midnight belongs to the night before)."


def _prescribers_of(clinics: QuerySet[Clinic]) -> QuerySet[Any]:
    user_model = get_user_model()
    return (
        user_model.objects.filter(
            is_active=True,
            groups__name=Role.PRESCRIBER.group_name,
            memberships__clinic__in=clinics,
        )
        .distinct()
        .order_by("last_name", "username")
    )


class PrescriberChoiceField(forms.ModelChoiceField):
    """Prescribers by full name, or username when they have none."""

    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.username


class PatientForm(VersionedFormMixin, forms.ModelForm):
    """Create or edit a patient and their conditions (with the date each was diagnosed)."""

    conditions = forms.ModelMultipleChoiceField(
        queryset=Condition.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
        help_text="At least one.",
        error_messages={
            "required": "Choose at least one condition.",
            "invalid_choice": "%(value)s is not one of the available conditions.",
            "invalid_pk_value": "“%(pk)s” is not a valid condition.",
        },
    )

    class Meta:
        model = Patient
        fields = [
            "clinic",
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex",
            "prescriber",
            "is_active",
            "notes",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        field_classes = {"prescriber": PrescriberChoiceField}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from .access import clinics_for

        clinics = clinics_for(user)
        cast(forms.ModelChoiceField, self.fields["clinic"]).queryset = clinics
        if self.instance.pk:
            # A patient does not move between clinics through this form.
            del self.fields["clinic"]
            clinics = Clinic.objects.filter(pk=self.instance.clinic_id)
        elif len(clinics) == 1:
            # One clinic: the patient joins it, no choice to make.
            del self.fields["clinic"]
            self.instance.clinic = clinics[0]
        cast(PrescriberChoiceField, self.fields["prescriber"]).queryset = _prescribers_of(clinics)
        if not self.instance.pk and user.has_perm("patients.add_patient"):
            self.fields["prescriber"].initial = user.pk
        self.fields["sex"].required = False

        if self.instance.pk:
            # A change to a clinical record says why (audit trail).
            self.fields["change_reason"] = forms.CharField(
                label="Reason for the change",
                max_length=300,
                help_text="Recorded in the audit trail, for example “correcting a typo in the MRN”.",
                error_messages={"required": "Give the reason for this change."},
            )
        self._diagnosis_fields: dict[int, str] = {}
        existing = {}
        conditions = cast(forms.ModelMultipleChoiceField, self.fields["conditions"])
        if self.instance.pk:
            existing = {d.condition_id: d.diagnosed_on for d in self.instance.diagnoses.all()}
            self.fields["conditions"].initial = list(existing)
            # Keep a condition an admin has since retired selectable for the patients who have it.
            conditions.queryset = Condition.objects.filter(is_active=True) | Condition.objects.filter(
                pk__in=list(existing)
            )
        for condition in conditions.queryset or ():
            name = f"diagnosed_on_{condition.pk}"
            self._diagnosis_fields[condition.pk] = name
            self.fields[name] = forms.DateField(
                label=f"{condition.name}: date diagnosed",
                required=False,
                initial=existing.get(condition.pk),
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )

        self.helper = FormHelper()
        self.helper.form_tag = False
        top = [f for f in ("clinic",) if f in self.fields]
        self.helper.layout = Layout(
            *top,
            *([VERSION_FIELD] if self.is_versioned else []),
            Div(
                Div("mrn", css_class="col-md-4"),
                Div("given_name", css_class="col-md-4"),
                Div("family_name", css_class="col-md-4"),
                css_class="row",
            ),
            Div(
                Div("date_of_birth", css_class="col-md-4"),
                Div("sex", css_class="col-md-4"),
                Div("prescriber", css_class="col-md-4"),
                css_class="row",
            ),
            Fieldset(
                "Conditions",
                "conditions",
                Div(
                    *[
                        # diagnosis-date: static/js/diagnosis-dates.js shows it only for a ticked condition.
                        Div(Field(name, wrapper_class="diagnosis-date"), css_class="col-md-4")
                        for name in self._diagnosis_fields.values()
                    ],
                    css_class="row",
                ),
            ),
            "is_active",
            "notes",
            *(["change_reason"] if "change_reason" in self.fields else []),
            Submit("submit", "Save patient"),
        )

    def clean_date_of_birth(self) -> datetime.date:
        born: datetime.date = self.cleaned_data["date_of_birth"]
        if born > timezone.localdate():
            raise forms.ValidationError(BIRTH_IN_FUTURE)
        if born < EARLIEST_BIRTH_DATE:
            raise forms.ValidationError(BIRTH_TOO_EARLY)
        return born

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        clinic = cleaned.get("clinic") or getattr(self.instance, "clinic", None)
        mrn = cleaned.get("mrn")
        if clinic and mrn:
            clash = Patient.objects.filter(clinic=clinic, mrn__iexact=mrn).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("mrn", DUPLICATE_MRN)
        prescriber = cleaned.get("prescriber")
        if clinic and prescriber and not is_prescriber_of(prescriber, clinic):
            # The choices span all the user's clinics when they choose the clinic too.
            self.add_error("prescriber", PRESCRIBER_NOT_IN_CLINIC)
        born = cleaned.get("date_of_birth")
        today = clinic_today(clinic) if clinic else timezone.localdate()
        for name in self._diagnosis_fields.values():
            diagnosed = cleaned.get(name)
            if diagnosed and diagnosed > today:
                self.add_error(name, DIAGNOSED_IN_FUTURE)
            elif diagnosed and born and diagnosed < born:
                self.add_error(name, DIAGNOSED_BEFORE_BIRTH)
        return cleaned

    def validate_unique(self) -> None:
        # The clinic is excluded from the edit form, so Django's own unique check would be skipped;
        # clean() checks the MRN instead, case-insensitively, with a message that says what to do.
        pass

    def reset_to_current(self, name: str, current: Any) -> None:
        if name != "conditions":
            super().reset_to_current(name, current)
            return
        diagnosed = {d.condition_id: d.diagnosed_on for d in current.diagnoses.all()}
        self.put_data("conditions", [str(pk) for pk in diagnosed])
        for condition_id, field_name in self._diagnosis_fields.items():
            day = diagnosed.get(condition_id)
            self.put_data(field_name, [day.isoformat() if day else ""])

    def diagnoses(self) -> dict[Condition, datetime.date | None]:
        """The chosen conditions, each with its (optional) date diagnosed."""
        return {
            condition: self.cleaned_data.get(self._diagnosis_fields[condition.pk])
            for condition in self.cleaned_data["conditions"]
        }


class ClinicSettingsForm(VersionedFormMixin, forms.ModelForm):
    """A clinic's own settings, with the reason for the change (audit trail)."""

    restart_after_gap_days = forms.IntegerField(
        label="Restart after a gap of (days)",
        min_value=RESTART_GAP_MIN_DAYS,
        max_value=RESTART_GAP_MAX_DAYS,
        help_text=Clinic._meta.get_field("restart_after_gap_days").help_text,
    )
    change_reason = forms.CharField(
        label="Reason for the change",
        max_length=300,
        help_text="Recorded in the audit trail.",
        error_messages={"required": "Give the reason for this change."},
    )

    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())],
        help_text=Clinic._meta.get_field("time_zone").help_text,
        error_messages={"invalid_choice": "Choose a time zone from the list, for example Europe/London."},
    )
    day_boundary = forms.TimeField(
        label="Day begins at",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=Clinic._meta.get_field("day_boundary").help_text,
        error_messages={"invalid": "Give the time as hours and minutes, for example 04:00."},
    )

    class Meta:
        model = Clinic
        fields = [
            "name",
            "require_two_factor_for_prescribers",
            "restart_after_gap_days",
            "phone",
            "time_zone",
            "day_boundary",
        ]

    def clean_day_boundary(self) -> datetime.time:
        boundary: datetime.time = self.cleaned_data["day_boundary"]
        if boundary > LATEST_DAY_BOUNDARY:
            raise forms.ValidationError(DAY_BOUNDARY_TOO_LATE)
        return boundary


class PatientFilterForm(forms.Form):
    """Search and filters of the patient list; unknown values are ignored, never an error page."""

    STATUS_CHOICES = [("active", "Active"), ("inactive", "Inactive"), ("all", "All")]

    q = forms.CharField(label="Name or MRN", required=False, max_length=100)
    condition = forms.ModelChoiceField(
        queryset=Condition.objects.all(),
        required=False,
        empty_label="Any condition",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    status = forms.ChoiceField(
        choices=STATUS_CHOICES, required=False, initial="active", widget=forms.Select(attrs={"class": "form-select"})
    )
