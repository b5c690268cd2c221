from __future__ import annotations

import itertools

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .access import (
    ROLE_REFUSED,
    clinics_for,
    get_clinic_for,
    log_access,
    patients_for,
    permission_required,
    superuser_required,
    with_patient,
)
from .concurrency import StaleEditError
from .csv_stream import csv_lines
from .forms import DUPLICATE_MRN, PRESCRIBER_NOT_IN_CLINIC, ClinicSettingsForm, PatientFilterForm, PatientForm
from .models import AccessLog, Clinic, Patient
from .services import (
    DuplicateClinicNameError,
    DuplicateMrnError,
    PrescriberNotInClinicError,
    clinic_settings_save,
    patient_save,
)

PATIENTS_PER_PAGE = 25
# The columns the list sorts on (``?sort=current_dose``, ``?sort=-current_dose`` for descending): an allowlist,
# anything else sorts by name. Ties, and empty values (last either way), fall back to the name.
SORTS: dict[str, str] = {
    "name": "family_name",
    "mrn": "mrn",
    "current_dose": "current_dose_mg",
    "last_entry": "last_entry_on",
    "open_flags": "open_flag_count",
}
DEFAULT_SORT = "name"


def with_record_columns(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Each patient's current dose, last entry and open flags, for the list to show and sort on.

    Read through the reverse relations the titration app gives ``Patient`` (``dose_entries``, ``flags``), in
    correlated subqueries on the patient itself: this app imports no titration code, and the list costs the
    same few queries whatever its length. The current dose is the last live taken dose, as on the patient page
    (only a taken entry carries a dose: a missed one stores none).
    """
    own = Patient.objects.filter(pk=OuterRef("pk"))
    taken = own.filter(dose_entries__voided_at__isnull=True, dose_entries__dose_mg__isnull=False)
    live = own.filter(dose_entries__voided_at__isnull=True)
    open_flags = own.values("pk").annotate(n=Count("flags", filter=Q(flags__acknowledged_at__isnull=True))).values("n")
    return patients.annotate(
        current_dose_mg=Subquery(taken.order_by("-dose_entries__taken_on").values("dose_entries__dose_mg")[:1]),
        last_entry_on=Subquery(live.order_by("-dose_entries__taken_on").values("dose_entries__taken_on")[:1]),
        open_flag_count=Coalesce(Subquery(open_flags[:1]), 0),
    )


def sorted_by(patients: QuerySet[Patient], sort: str) -> tuple[QuerySet[Patient], str]:
    """The patients in the order ``sort`` names (an allowlisted column, ``-`` first for descending)."""
    key = sort.removeprefix("-")
    if key not in SORTS:
        sort = key = DEFAULT_SORT
    column = F(SORTS[key])
    order = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_last=True)
    return patients.order_by(order, "family_name", "given_name", "pk"), sort


def sort_links(request: HttpRequest, current: str) -> dict[str, dict[str, str]]:
    """For each sortable column: the link that sorts on it (the other way round when it is the current
    sort) and its ``aria-sort`` value; the other filters are kept and the page starts again."""
    links = {}
    for key in SORTS:
        query = request.GET.copy()
        query.pop("page", None)
        query["sort"] = f"-{key}" if current == key else key
        state = "ascending" if current == key else "descending" if current == f"-{key}" else "none"
        links[key] = {"url": f"?{query.urlencode()}", "aria_sort": state}
    return links


@require_GET
@permission_required("patients.view_patient")
def patient_list(request: HttpRequest) -> HttpResponse:
    filters = PatientFilterForm(request.GET or None)
    patients = patients_for(request.user).select_related("clinic", "prescriber")
    status = "active"
    query = ""
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
    patients, sort = sorted_by(with_record_columns(patients), request.GET.get("sort", DEFAULT_SORT))
    page = Paginator(patients.prefetch_related("conditions"), PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    # That a search happened and how many it found; the term itself is never stored.
    action = AccessLog.Action.SEARCH if query else AccessLog.Action.PATIENT_LIST
    log_access(request, action, result_count=page.paginator.count)
    context = {"page": page, "filters": filters, "sort": sort, "sort_links": sort_links(request, sort)}
    if request.user.has_perm("patients.change_clinic"):
        context["settings_clinics"] = clinics_for(request.user)
    return render(request, "patients/patient_list.html", context)


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
            version=form.opened_version,
        )
    except DuplicateMrnError:
        form.add_error("mrn", DUPLICATE_MRN)
    except PrescriberNotInClinicError:
        form.add_error("prescriber", PRESCRIBER_NOT_IN_CLINIC)
    except StaleEditError as exc:
        form.show_stale(exc, current=Patient.objects.get(pk=patient.pk))
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
@with_patient("patients.change_patient", log_as=AccessLog.Action.EDIT_FORM)
def patient_edit(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and (saved := _save_form(request, form)):
        messages.success(request, "Patient details saved.")
        return redirect(saved)
    return render(request, "patients/patient_form.html", {"form": form, "patient": patient})


CLINIC_NAME_TAKEN = "Another clinic already has this name."


@require_http_methods(["GET", "POST"])
def clinic_settings(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """A clinic's settings: for superusers and for its members granted "change clinic" by an administrator."""
    clinic = get_clinic_for(request.user, clinic_id)
    if not request.user.has_perm("patients.change_clinic"):
        raise PermissionDenied(ROLE_REFUSED)
    form = ClinicSettingsForm(request.POST or None, instance=clinic)
    if request.method == "POST" and form.is_valid():
        try:
            clinic_settings_save(
                clinic=form.save(commit=False),
                by=request.user,
                reason=form.cleaned_data["change_reason"],
                version=form.opened_version,
            )
        except DuplicateClinicNameError:
            form.add_error("name", CLINIC_NAME_TAKEN)
        except StaleEditError as exc:
            form.show_stale(exc, current=Clinic.objects.get(pk=clinic_id))
        else:
            messages.success(request, "Clinic settings saved.")
            return redirect("patients:clinic-settings", clinic_id=clinic_id)
    stored = Clinic.objects.get(pk=clinic_id)  # the heading names the clinic as stored, not as typed
    return render(request, "patients/clinic_settings.html", {"form": form, "clinic": stored})


ACCESS_PER_PAGE = 50


@require_GET
@superuser_required
def access_log(request: HttpRequest) -> HttpResponse:
    """Who looked at which record: every view of patient data, every search (never its term) and export."""
    logs = AccessLog.objects.select_related("user", "patient")
    patient_id = request.GET.get("patient", "").strip()
    if not (patient_id.isascii() and patient_id.isdecimal()):
        patient_id = ""  # an unreadable filter filters nothing
    if patient_id:
        logs = logs.filter(patient_id=int(patient_id))
    page = Paginator(logs, ACCESS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "patients/access_log.html", {"page": page, "patient_id": patient_id})


@require_GET
@with_patient()
@superuser_required
def access_log_csv(request: HttpRequest, patient: Patient) -> StreamingHttpResponse:
    """ "Who looked at this record?" as CSV, for one patient."""
    rows = (
        [log.at.isoformat(timespec="seconds"), log.user.username, log.get_action_display(), log.ip_address or ""]
        for log in patient.access_logs.select_related("user").iterator(chunk_size=2000)
    )
    header = [["time_utc", "user", "action", "ip_address"]]
    response = StreamingHttpResponse(csv_lines(itertools.chain(header, rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}-access-log.csv"'
    return response
