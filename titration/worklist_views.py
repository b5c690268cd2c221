"""The worklist page, and logging a patient's expected dose for today from it in one action."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from patients.access import clinics_for, log_access, permission_required, with_patient
from patients.models import AccessLog, Patient, clinic_today

from . import rules, selectors, services
from .models import DoseStatus
from .rules import Severity, format_dose
from .worklist import worklist

EXPECTED_CHANGED = "The expected dose for today has changed since the worklist was shown: check it here and save it."
NOT_LOGGED = "{dose} for {name} was not logged from the worklist. {message}"
# Sent by static/js/worklist.js: the answer is where to go next, as JSON, instead of a redirect to follow.
FETCH_HEADER = "fetch"


class LogExpectedForm(forms.Form):
    """The dose and day the button named: the one action logs them only if they are still today's expected."""

    taken_on = forms.DateField()
    dose_mg = forms.CharField(max_length=20)
    next_patient = forms.IntegerField(required=False, min_value=1)

    def clean_dose_mg(self) -> Decimal:
        try:
            return rules.parse_dose(self.cleaned_data["dose_mg"])
        except rules.DoseError as exc:
            raise forms.ValidationError(str(exc)) from None


def _focus(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdecimal() else None


@transaction.non_atomic_requests  # reads only: no transaction to open and commit
@require_GET
@permission_required("patients.view_patient")
def worklist_page(request: HttpRequest) -> HttpResponse:
    # The clinic's day (its time zone and day boundary); the one action checks it again per patient.
    clinic = clinics_for(request.user).order_by("pk").first()
    today = clinic_today(clinic) if clinic is not None else timezone.localdate()
    focus = _focus(request.GET.get("focus"))
    listed = worklist(request.user, today, page=request.GET.get("page"), focus=focus)
    # Like the patient list: that the user saw the list, and how many patients it showed.
    log_access(request, AccessLog.Action.WORKLIST, result_count=listed.total)
    context = {"worklist": listed, "today": today, "focus": focus}
    return render(request, "titration/worklist.html", context)


def _go(request: HttpRequest, location: str) -> HttpResponse:
    """Redirect; a request from the page's script gets the location to load instead (it keeps the scroll)."""
    if request.headers.get("X-Requested-With") == FETCH_HEADER:
        return JsonResponse({"location": location})
    return redirect(location)


@require_POST
@with_patient("titration.add_doseentry")
def log_expected(request: HttpRequest, patient: Patient) -> HttpResponse:
    """Log today's expected dose, as the button named it, through the dose form's service and rules.

    A dose that changed meanwhile, needs a confirmation or is refused goes to the dose form, pre-filled, with
    the message: nothing is stored.
    """
    today = clinic_today(patient.clinic)
    summary = selectors.patient_summary(patient, today)
    form = LogExpectedForm(request.POST)
    dose_form = reverse("titration:dose-create", kwargs={"patient_id": patient.pk})
    expected = summary.scheduled_today
    if (
        not form.is_valid()
        or expected is None
        or summary.plan is None
        or form.cleaned_data["taken_on"] != today
        or form.cleaned_data["dose_mg"] != expected
    ):
        messages.warning(request, EXPECTED_CHANGED)
        return _go(request, dose_form)
    try:
        entry, flags = services.dose_record(
            patient=patient,
            by=request.user,
            taken_on=today,
            dose_mg=expected,
            status=DoseStatus.TAKEN,
            formulation=summary.plan.formulation,
        )
    except services.RecordError as exc:
        messages.warning(
            request, NOT_LOGGED.format(dose=format_dose(expected), name=patient.full_name, message=exc.message)
        )
        return _go(request, dose_form)
    day = f"{entry.taken_on:%-d %b %Y}"
    summary_text = f"{patient.full_name}: taken dose for {day} recorded: {format_dose(entry.dose_mg)}."
    if flags:
        level = messages.ERROR if any(f.severity == Severity.CRITICAL for f in flags) else messages.WARNING
        flagged = " ".join(f"[{f.severity.label}] {f.message}" for f in flags)
        messages.add_message(request, level, f"{summary_text} Flags raised: {flagged}")
    else:
        messages.success(request, summary_text)
    location = reverse("titration:worklist")
    following = form.cleaned_data["next_patient"]
    if following:
        # No #row- fragment: a page opened at a fragment gets no autofocus (the browser gives the fragment
        # precedence); the focused button is scrolled into view all the same.
        location += f"?focus={following}"
    return _go(request, location)
