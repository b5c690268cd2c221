from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from patients.access import clinics_for
from patients.models import Clinic
from patients.services import is_prescriber_of
from titration.forms import DoseEntryForm

from .formats import MAX_BYTES, TOO_BIG, UNKNOWN_TYPE

ACCEPTED_SUFFIXES = (".csv", ".xlsx")


def import_clinics(user: Any) -> QuerySet[Clinic]:
    """The clinics the user may import into: those where they are an active prescriber."""
    ids = [clinic.pk for clinic in clinics_for(user) if is_prescriber_of(user, clinic)]
    return Clinic.objects.filter(pk__in=ids)


class UploadForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)
    file = forms.FileField(
        label="Spreadsheet (CSV or XLSX)",
        help_text="The import template, or a patient's CSV export from this app. At most 20 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    mrn = forms.CharField(
        label="MRN (for a patient's CSV export only)",
        required=False,
        max_length=32,
        help_text="An export carries no MRN: give the MRN of the patient to import it into.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["clinic"]).queryset = import_clinics(user)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(TOO_BIG)
        if not upload.name.lower().endswith(ACCEPTED_SUFFIXES):
            raise forms.ValidationError(UNKNOWN_TYPE)
        return upload


REASON_FIELD = cast(forms.CharField, DoseEntryForm.base_fields["override_reason"])


class ReasonsForm(forms.Form):
    """The preview's reasons, one per row that needs a confirmation (``reason-<row>``)."""

    ACTIONS = ("preview", "commit")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])

    def __init__(self, *args: Any, rows: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            self.fields[f"reason-{row}"] = forms.CharField(
                label=f"Reason for row {row}", required=False, max_length=REASON_FIELD.max_length
            )

    def reasons(self) -> dict[int, str]:
        return {row: self.cleaned_data[f"reason-{row}"].strip() for row in self.rows}
