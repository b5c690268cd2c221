from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .access import patients_for, permission_required, with_patient
from .forms import DUPLICATE_MRN, PatientFilterForm, PatientForm
from .models import Patient
from .services import DuplicateMrnError, patient_save

PATIENTS_PER_PAGE = 25


def patient_list(request: HttpRequest) -> HttpResponse:
    filters = PatientFilterForm(request.GET or None)
    patients = patients_for(request.user).select_related("clinic", "prescriber")
    status = "active"
    if filters.is_valid():
        query = filters.cleaned_data["q"].strip()
        if query:
            patients = patients.filter(
                Q(mrn__iexact=query)
                | Q(mrn__istartswith=query)
                | Q(family_name__icontains=query)
                | Q(given_name__icontains=query)
            )
        if filters.cleaned_data["condition"]:
            patients = patients.filter(diagnoses__condition=filters.cleaned_data["condition"])
        status = filters.cleaned_data["status"] or "active"
    if status != "all":
        patients = patients.filter(is_active=(status == "active"))
    page = Paginator(patients.prefetch_related("conditions"), PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "patients/patient_list.html", {"page": page, "filters": filters})


def _save_form(request: HttpRequest, form: PatientForm) -> Patient | None:
    if not form.is_valid():
        return None
    patient = form.save(commit=False)
    try:
        return patient_save(
            patient=patient,
            diagnoses=form.diagnoses(),
            by=request.user,
            reason=form.cleaned_data.get("change_reason", ""),
        )
    except DuplicateMrnError:
        form.add_error("mrn", DUPLICATE_MRN)
        return None


@require_http_methods(["GET", "POST"])
@permission_required("patients.add_patient")
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and (patient := _save_form(request, form)):
        messages.success(request, f"Patient {patient.full_name} registered.")
        return redirect(patient)
    return render(request, "patients/patient_form.html", {"form": form, "patient": None})


@require_http_methods(["GET", "POST"])
@with_patient("patients.change_patient")
def patient_edit(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and (saved := _save_form(request, form)):
        messages.success(request, "Patient details saved.")
        return redirect(saved)
    return render(request, "patients/patient_form.html", {"form": form, "patient": patient})
