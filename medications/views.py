from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from patients.access import ROLE_REFUSED, with_patient
from patients.concurrency import VERSION_FIELD, StaleEditError
from patients.models import AccessLog, Patient, clinic_today

from . import selectors, services
from .forms import MedicationEndForm, MedicationEntryForm, MedicationVoidForm, SafetyProfileForm
from .models import MedicationEntry, SafetyProfile


def _list_url(patient: Patient) -> str:
    return reverse("medications:list", args=[patient.pk])


def _list_context(patient: Patient) -> dict[str, object]:
    today = clinic_today(patient.clinic)
    return {
        "patient": patient,
        "medications": selectors.medication_list(patient, on=today),
        "safety_warnings": selectors.safety_warnings_for(patient, on=today),
        "reference_names": selectors.opioid_references(),
        "today": today,
    }


@require_GET
@with_patient("medications.view_medicationentry", log_as=AccessLog.Action.VIEW)
def medication_list(request: HttpRequest, patient: Patient) -> HttpResponse:
    context = _list_context(patient)
    if request.user.has_perm("medications.add_medicationentry"):
        context["form"] = MedicationEntryForm(patient=patient)
    return render(request, "medications/medication_list.html", context)


@require_http_methods(["GET", "POST"])
@with_patient("medications.add_medicationentry")
def medication_create(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = MedicationEntryForm(request.POST if request.method == "POST" else None, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.medication_record(
                patient=patient,
                by=request.user,
                name=data["name"],
                reference=data["reference"],
                active_ingredient=data["active_ingredient"],
                dose=data["dose"],
                route=data["route"],
                start_date=data["start_date"],
            )
        except services.MedicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"{entry.name} recorded from {entry.start_date:%-d %b %Y}.")
            return redirect(_list_url(patient))
    context = _list_context(patient) | {"form": form}
    return render(request, "medications/medication_list.html", context, status=200)


@require_http_methods(["GET", "POST"])
@with_patient("medications.end_medicationentry")
def medication_end(request: HttpRequest, patient: Patient, medication_id: int) -> HttpResponse:
    entry = get_object_or_404(MedicationEntry.objects.visible_to(request.user), pk=medication_id, patient=patient)
    form = MedicationEndForm(
        request.POST if request.method == "POST" else None,
        start_date=entry.start_date,
        today=clinic_today(patient.clinic),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.medication_end(
                entry=entry,
                by=request.user,
                stop_date=form.cleaned_data["stop_date"],
                reason=form.cleaned_data["reason"],
            )
        except services.MedicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"{entry.name} ended on {form.cleaned_data['stop_date']:%-d %b %Y}.")
            return redirect(_list_url(patient))
    return render(
        request, "medications/entry_action.html", {"form": form, "patient": patient, "entry": entry, "action": "end"}
    )


@require_http_methods(["GET", "POST"])
@with_patient("medications.void_medicationentry")
def medication_void(request: HttpRequest, patient: Patient, medication_id: int) -> HttpResponse:
    entry = get_object_or_404(MedicationEntry.objects.visible_to(request.user), pk=medication_id, patient=patient)
    form = MedicationVoidForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.medication_void(entry=entry, by=request.user, reason=form.cleaned_data["reason"])
        except services.MedicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"{entry.name} voided. It stays on the list, struck through.")
            return redirect(_list_url(patient))
    return render(
        request, "medications/entry_action.html", {"form": form, "patient": patient, "entry": entry, "action": "void"}
    )


@require_http_methods(["GET", "POST"])
@with_patient("medications.view_safetyprofile", log_as=AccessLog.Action.VIEW)
def safety_profile(request: HttpRequest, patient: Patient) -> HttpResponse:
    can_edit = request.user.has_perm("medications.change_safetyprofile")
    if request.method == "POST" and not can_edit:
        raise PermissionDenied(ROLE_REFUSED)
    profile = selectors.safety_profile_of(patient)
    data = request.POST if request.method == "POST" else None
    # A form opened before the profile existed carries no version: it is checked as such, so a profile
    # created meanwhile by someone else is reported as a stale edit, never overwritten.
    opened_blank = data is not None and VERSION_FIELD not in data
    form = SafetyProfileForm(data, instance=SafetyProfile(patient=patient) if opened_blank or not profile else profile)
    if request.method == "POST" and form.is_valid():
        cleaned = form.cleaned_data
        try:
            services.safety_profile_save(
                patient=patient,
                by=request.user,
                version=form.opened_version,
                **{field: cleaned[field] for field in services.SAFETY_FIELDS},
            )
        except StaleEditError as exc:
            current = SafetyProfile.objects.get(patient=patient)
            if not form.is_versioned:  # someone created the profile while this user filled in a blank one
                form = SafetyProfileForm(request.POST, instance=current)
            form.show_stale(exc, current=current)
            profile = current
        else:
            messages.success(request, "Safety profile saved.")
            return redirect(reverse("medications:safety", args=[patient.pk]))
    context = {
        "patient": patient,
        "profile": profile,
        "form": form if can_edit else None,
        "safety_warnings": selectors.safety_warnings_for(patient, on=clinic_today(patient.clinic), profile=profile),
    }
    return render(request, "medications/safety_profile.html", context)
