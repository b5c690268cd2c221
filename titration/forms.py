from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Fieldset, Layout, Submit
from django import forms
from django.http import QueryDict

from patients.concurrency import VERSION_FIELD, VersionedFormMixin
from patients.models import Patient, clinic_today

from . import outcomes, rules
from .models import DoseStatus, DosingTime, Formulation, SideEffect, StopReason, TitrationPlan

CONFIRM_HINT = "Tick “confirm” and give the reason to record it anyway."
# The plan's messages are the rules' (``rules.plan_problems``); named here too for the tests and templates.
PLAN_DOSE_OUT_OF_RANGE = rules.PLAN_DOSE_OUT_OF_RANGE
PLAN_STARTS_BEFORE_BIRTH = rules.PLAN_STARTS_BEFORE_BIRTH
FIXED_DOSE_TARGET = rules.FIXED_DOSE_TARGET
FUTURE_START_WITH_ACTIVE_PLAN = rules.FUTURE_START_WITH_ACTIVE_PLAN
LIQUID_NEEDS_CONCENTRATION = rules.LIQUID_NEEDS_CONCENTRATION
STEP_OUTSIDE_LIMITS = rules.STEP_OUTSIDE_LIMITS
LARGE_STEP_NEEDS_CONFIRMATION = rules.LARGE_STEP_NEEDS_CONFIRMATION
INTERVAL_OUTSIDE_LIMITS = rules.INTERVAL_OUTSIDE_LIMITS
CONCENTRATION_OUTSIDE_LIMITS = rules.CONCENTRATION_OUTSIDE_LIMITS
START_TOO_FAR_BACK = rules.START_TOO_FAR_BACK
# Where each part of a plan is shown on the form.
PLAN_PART_FIELDS = {rules.PlanPart.STEP_CONFIRMATION: "confirm_large_step"}


class DoseEntryForm(forms.Form):
    """Log one day's dose. Out-of-range doses need ``confirm_out_of_range`` and ``override_reason``."""

    taken_on = forms.DateField(label="Date taken", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    dose_mg = forms.CharField(
        label="Dose (mg)",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="In mg, with a decimal point: for example 1.5",
    )
    dose_ml = forms.CharField(
        label="Or the volume (mL)",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "class": "liquid-volume"}),
        help_text="For an oral liquid: the mL measured with the syringe, converted at the plan's concentration.",
    )
    formulation = forms.ChoiceField(choices=Formulation.choices)
    time_of_day = forms.ChoiceField(
        label="Time taken",
        choices=[("", "As planned"), *DosingTime.choices],
        required=False,
        help_text="Bedtime, morning or another time; blank takes the plan's.",
    )
    status = forms.ChoiceField(choices=DoseStatus.choices, initial=DoseStatus.TAKEN)
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    confirm_out_of_range = forms.BooleanField(label="I have checked this dose: record it", required=False)
    # The dose the out-of-range warning was shown for: a confirmation holds only for that dose.
    confirmed_dose_mg = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)
    override_reason = forms.CharField(
        label="Reason for recording it",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self,
        *args: Any,
        patient: Patient,
        plan: TitrationPlan | None = None,
        expected: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        """``expected``: the patient-paced expected dose of today, the pre-fill (from the selectors)."""
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.needs_confirmation = False
        self.confirmation_reasons: list[rules.Finding] = []
        self.liquid: rules.LiquidDose | None = None  # the conversion of a volume, shown on the confirmation step
        # The clinic's day: until its day boundary (04:00) a dose logged after midnight is the night before's.
        today = clinic_today(patient.clinic)
        self.fields["taken_on"].initial = today
        self.fields["taken_on"].widget.attrs["max"] = today.isoformat()
        if expected is not None:
            self.fields["dose_mg"].initial = rules.format_number(expected)
            # Shown read-only when the dose is marked missed: a missed entry stores no dose.
            self.fields["dose_mg"].widget.attrs["data-expected"] = rules.format_number(expected)
        # The dose is what the form is for: the cursor starts there (the date defaults to today).
        self.fields["dose_mg"].widget.attrs["autofocus"] = True
        liquid_plan = plan is not None and plan.formulation == Formulation.LIQUID
        if plan:
            self.fields["formulation"].initial = plan.formulation
            self.fields["time_of_day"].initial = plan.dosing_time
        if liquid_plan and plan is not None and plan.liquid_concentration_mg_per_ml:
            concentration = plan.liquid_concentration_mg_per_ml
            self.fields["dose_ml"].widget.attrs["data-concentration"] = rules.format_number(concentration)
            self.fields["dose_ml"].label = f"Or the volume (mL of {rules.format_concentration(concentration)})"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Div(
                Div("taken_on", css_class="col-md-3"),
                Div("dose_mg", css_class="col-md-3"),
                Div("formulation", css_class="col-md-3"),
                Div("status", css_class="col-md-3"),
                css_class="row",
            ),
            Div(
                # Offered on a liquid plan, and kept on a re-shown form that has a volume.
                *([Div("dose_ml", css_class="col-md-3")] if liquid_plan or self._raw("dose_ml") else []),
                Div("time_of_day", css_class="col-md-3"),
                css_class="row",
            ),
            "notes",
        )
        if self.is_bound and (self._raw("confirm_out_of_range") or self._raw("override_reason")):
            self.needs_confirmation = True

    def clean_dose_mg(self) -> Decimal | None:
        raw: str = self.cleaned_data["dose_mg"]
        if not raw.strip():
            return None
        if rules.is_volume(raw):
            # "3 mL" in the mg field: never 3 mg. The service says what it is in mg at the plan's strength.
            try:
                self.ml_in_mg_field: Decimal | None = rules.parse_volume(raw)
            except rules.DoseError as exc:
                raise forms.ValidationError(str(exc)) from None
            return None
        try:
            return rules.parse_dose(raw)
        except rules.DoseError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_dose_ml(self) -> Decimal | None:
        raw: str = self.cleaned_data["dose_ml"]
        if not raw.strip():
            return None
        try:
            return rules.parse_volume(raw)
        except rules.DoseError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        cleaned["ml_in_mg_field"] = getattr(self, "ml_in_mg_field", None)
        warned_for = cleaned.get("confirmed_dose_mg", "").strip()
        if cleaned.get("confirm_out_of_range") and warned_for and warned_for != self._dose_key():
            # The dose changed after the warning: the confirmation was for another number.
            cleaned["confirm_out_of_range"] = False
        if self._raw("confirm_out_of_range") or self._raw("override_reason"):
            self.needs_confirmation = True
        return cleaned

    def _dose_key(self) -> str:
        """The dose as typed, mg and mL: what a confirmation was given for."""
        volume = self._raw("dose_ml")
        return f"{self._raw('dose_mg')} {volume} mL".strip() if volume else self._raw("dose_mg")

    def _raw(self, name: str) -> str:
        """A field as typed (prefixed when the form is one row of a formset, as in the diary grid)."""
        return str(self.data.get(self.add_prefix(name), "")).strip()

    def ask_confirmation(self, message: str, findings: tuple[rules.Finding, ...] = ()) -> None:
        """Show why the dose needs a confirmation with a reason; it then holds for this dose only."""
        self.show_confirmation(findings)
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        data[self.add_prefix("confirmed_dose_mg")] = self._dose_key()
        data[self.add_prefix("confirm_out_of_range")] = ""
        self.data = data
        self.add_error("confirm_out_of_range", f"{message} {CONFIRM_HINT}")

    def show_confirmation(self, findings: tuple[rules.Finding, ...]) -> None:
        self.needs_confirmation = True
        if findings:
            self.confirmation_reasons = list(findings)

    @property
    def confirmation_title(self) -> str:
        """The confirmation box's heading: what is wrong with the dose, in a few words."""
        kinds = {f.kind for f in self.confirmation_reasons}
        if rules.FlagKind.TENFOLD_CHANGE in kinds:
            return "Possible decimal slip: ten times or a tenth of the dose it should be"
        if rules.FlagKind.OUT_OF_RANGE in kinds:
            return "Dose outside the LDN range of 0.5–4.5 mg"
        return "This dose needs a confirmation"


PRESETS = rules.PRESETS
PRESET_FIELDS = rules.PRESET_FIELDS
CUSTOM = "custom"


class PlanForm(VersionedFormMixin, forms.ModelForm):
    """Set a titration plan from a preset (blank numbers take the preset's) or a custom one.

    "Change plan" opens with the current plan's numbers and carries the version of the plan the user
    opened: a save against a newer plan is refused (``patients.concurrency``).
    """

    confirm_large_step = forms.BooleanField(label="Confirm a step above 1.5 mg", required=False)
    confirm_opioid = forms.BooleanField(label="An opioid is current: set the plan anyway", required=False)
    opioid_reason = forms.CharField(
        label="Reason (for example a planned washout)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm_hypersensitivity = forms.BooleanField(
        label="Known naltrexone hypersensitivity: set the plan anyway", required=False
    )
    hypersensitivity_reason = forms.CharField(
        label="Reason", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    preset = forms.ChoiceField(
        choices=[(key, preset["label"]) for key, preset in PRESETS.items()] + [(CUSTOM, "Custom plan")],
        initial="low_slow",
        help_text="A preset fills the numbers below; change any of them for a custom plan.",
    )

    class Meta:
        model = TitrationPlan
        fields = [
            "preset",
            "start_date",
            "starting_dose_mg",
            "step_mg",
            "step_interval_days",
            "target_dose_mg",
            "formulation",
            "liquid_concentration_mg_per_ml",
            "dosing_time",
            "notes",
            "step_override_reason",
        ]
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(
        self,
        *args: Any,
        patient: Patient,
        current: TitrationPlan | None = None,
        opioid_current: bool = False,
        hypersensitivity: bool = False,
        **kwargs: Any,
    ) -> None:
        """``opioid_current``, ``hypersensitivity``: whether to offer those confirmations (the service decides
        whether they are needed)."""
        self.patient = patient
        self.current = current
        self.today = clinic_today(patient.clinic)
        super().__init__(*args, **kwargs)
        for name in PRESET_FIELDS:
            self.fields[name].required = False
        cast(forms.IntegerField, self.fields["step_interval_days"]).min_value = rules.PLAN_INTERVAL_MIN_DAYS
        self.fields["step_interval_days"].widget.attrs.update(
            {"min": rules.PLAN_INTERVAL_MIN_DAYS, "max": rules.PLAN_INTERVAL_MAX_DAYS}
        )
        if not self.is_bound and current is not None:
            # "Change plan" starts from the plan in force, not from a preset.
            self.initial.update({name: getattr(current, name) for name in self.Meta.fields if name != "preset"})
            self.initial["preset"] = current.preset if current.preset in PRESETS else CUSTOM
            self.initial["start_date"] = self.today
        elif not self.is_bound:
            self.initial.setdefault("start_date", self.today)
            for name in PRESET_FIELDS:
                self.initial.setdefault(name, PRESETS["low_slow"][name])
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "preset",
            Div(
                Div("start_date", css_class="col-md-4"),
                Div("formulation", css_class="col-md-4"),
                Div("liquid_concentration_mg_per_ml", css_class="col-md-4"),
                css_class="row",
            ),
            Div(
                Div("starting_dose_mg", css_class="col-md-3"),
                Div("step_mg", css_class="col-md-3"),
                Div("step_interval_days", css_class="col-md-3"),
                Div("target_dose_mg", css_class="col-md-3"),
                css_class="row",
            ),
            "dosing_time",
            "notes",
            Div(
                Div("confirm_large_step", css_class="col-md-4"),
                Div("step_override_reason", css_class="col-md-8"),
                css_class="row",
            ),
            *(
                [
                    Div(
                        Div("confirm_opioid", css_class="col-md-4"),
                        Div("opioid_reason", css_class="col-md-8"),
                        css_class="row",
                    )
                ]
                if opioid_current
                else []
            ),
            *(
                [
                    Div(
                        Div("confirm_hypersensitivity", css_class="col-md-4"),
                        Div("hypersensitivity_reason", css_class="col-md-8"),
                        css_class="row",
                    )
                ]
                if hypersensitivity
                else []
            ),
            *([VERSION_FIELD] if self.is_versioned else []),
            Submit("submit", "Save plan"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        preset = cleaned.get("preset")
        for name in PRESET_FIELDS:
            if cleaned.get(name) is None and name not in self.errors:
                if preset in PRESETS:
                    cleaned[name] = PRESETS[preset][name]
                else:
                    self.add_error(name, "This field is required for a custom plan.")
        step = cleaned.get("step_mg")
        confirmed = bool(cleaned.get("confirm_large_step") and (cleaned.get("step_override_reason") or "").strip())
        liquid = cleaned.get("formulation") == Formulation.LIQUID
        draft = rules.PlanDraft(
            start_date=cleaned.get("start_date"),
            starting_dose_mg=cleaned.get("starting_dose_mg"),
            step_mg=step,
            step_interval_days=cleaned.get("step_interval_days"),
            target_dose_mg=cleaned.get("target_dose_mg"),
            liquid=liquid,
            concentration_mg_per_ml=cleaned.get("liquid_concentration_mg_per_ml"),
            large_step_confirmed=confirmed,
        )
        problems = rules.plan_problems(
            draft, today=self.today, born=self.patient.date_of_birth, replaces_a_plan=self.current is not None
        )
        for part, message in problems:
            name = PLAN_PART_FIELDS.get(part, part.value)
            if name not in self.errors or message not in self.errors[name]:
                self.add_error(name, message)
        if step is not None and step <= rules.PLAN_STEP_MAX_MG:
            cleaned["step_override_reason"] = ""
        if not liquid:
            cleaned["liquid_concentration_mg_per_ml"] = None
        return cleaned

    def versioned_record(self) -> TitrationPlan | None:
        return self.current

    def safety_confirmations(self) -> dict[str, Any]:
        """The confirmations of a current opioid or a known hypersensitivity, for ``services.plan_set``."""
        return {
            name: self.cleaned_data.get(name) or ("" if name.endswith("reason") else False)
            for name in ("confirm_opioid", "opioid_reason", "confirm_hypersensitivity", "hypersensitivity_reason")
        }

    def plan_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["preset"] = fields["preset"] if fields["preset"] in PRESETS and self._matches_preset() else CUSTOM
        return fields

    def _matches_preset(self) -> bool:
        preset = PRESETS[self.cleaned_data["preset"]]
        return all(self.cleaned_data[name] == preset[name] for name in PRESET_FIELDS)


class VoidForm(forms.Form):
    reason = forms.CharField(
        label="Reason for voiding",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason this entry is wrong."},
    )

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give the reason this entry is wrong.")
        return reason


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label="Note", required=False, max_length=500)


class CommentForm(forms.Form):
    text = forms.CharField(label="Comment", max_length=2000)


class PlanStateForm(forms.Form):
    state = forms.ChoiceField(choices=[(s.value, s.label) for s in rules.PlanState])
    reason = forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    confirm_opioid = forms.BooleanField(
        label="An opioid is current: restart LDN anyway (the reason above says why)", required=False
    )
    stop_reason = forms.ChoiceField(
        label="Reason for stopping", required=False, choices=[("", "—"), *StopReason.choices]
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if cleaned.get("state") == rules.PlanState.STOPPED and not cleaned.get("stop_reason"):
            self.add_error("stop_reason", STOP_REASON_REQUIRED)
        return cleaned


STOP_REASON_REQUIRED = "Choose the reason for stopping."
PGIC_CHOICES = sorted(outcomes.PGIC_LABELS.items())
SIDE_EFFECT_SEVERITY_CHOICES = [("", "None"), *SideEffect.Severity.choices]
OTHER_NEEDS_DESCRIPTION = "Describe the other side effect."
PAIN_RANGE = "Pain is scored as a whole number from 0 (no pain) to 10 (worst imaginable)."
SLEEP_RANGE = "Sleep quality is a whole number from 0 (worst) to 10 (best)."


def _score_field(label: str, message: str, *, required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=required,
        min_value=0,
        max_value=10,
        widget=forms.NumberInput(attrs={"min": 0, "max": 10, "step": 1}),
        error_messages={
            "invalid": message,
            "min_value": message,
            "max_value": message,
            "required": "Give the pain score (0–10).",
        },
    )


class CheckInForm(forms.Form):
    """An outcome check-in: pain (NRS 0–10), sleep, and each side effect with its severity."""

    checked_on = forms.DateField(
        label="Date of check-in", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    pain_score = _score_field("Pain (0–10)", PAIN_RANGE, required=True)
    sleep_quality = _score_field("Sleep quality (0–10, optional)", SLEEP_RANGE, required=False)
    pgic = forms.TypedChoiceField(
        label="Since starting LDN, how would you describe the change? (PGIC, optional)",
        choices=[("", "Not asked"), *((str(value), f"{value} – {label}") for value, label in PGIC_CHOICES)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        today = clinic_today(patient.clinic)
        self.fields["checked_on"].initial = today
        self.fields["checked_on"].widget.attrs["max"] = today.isoformat()
        for kind, label in SideEffect.Kind.choices:
            self.fields[f"side_effect_{kind}"] = forms.ChoiceField(
                label=label, choices=SIDE_EFFECT_SEVERITY_CHOICES, required=False
            )
        self.fields["side_effect_other_description"] = forms.CharField(
            label="Other side effect", required=False, max_length=200
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Div(
                Div("checked_on", css_class="col-md-4"),
                Div("pain_score", css_class="col-md-4"),
                Div("sleep_quality", css_class="col-md-4"),
                css_class="row",
            ),
            "pgic",
            Fieldset(
                "Side effects",
                Div(
                    *[Div(f"side_effect_{kind}", css_class="col-md-3") for kind in SideEffect.Kind.values],
                    Div("side_effect_other_description", css_class="col-md-6"),
                    css_class="row",
                ),
            ),
            "notes",
            Submit("submit", "Save check-in"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        other = cleaned.get("side_effect_other")
        description = (cleaned.get("side_effect_other_description") or "").strip()
        if other and not description:
            self.add_error("side_effect_other_description", OTHER_NEEDS_DESCRIPTION)
        if description and not other:
            self.add_error("side_effect_other", "Give the severity of the other side effect.")
        return cleaned

    def side_effects(self) -> list[tuple[str, str, str]]:
        chosen = []
        for kind in SideEffect.Kind.values:
            severity = self.cleaned_data.get(f"side_effect_{kind}")
            if severity:
                description = self.cleaned_data["side_effect_other_description"].strip() if kind == "other" else ""
                chosen.append((kind, severity, description))
        return chosen
