"""The import pages: upload, preview with reasons, commit. Prescribers only, into their own clinics."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from patients.access import Params, Response, View, permission_required

from . import batches, formats, template_files
from .forms import ReasonsForm, UploadForm
from .models import ImportBatch
from .services import Report

# Importing registers patients and records doses: both permissions, which prescribers have.
IMPORT_PERMISSION = "titration.add_doseentry"
RECENT_BATCHES = 10


def _prescribers_only(view: View[Params, Response]) -> View[Params, Response]:
    return permission_required("patients.add_patient")(permission_required(IMPORT_PERMISSION)(view))


@require_http_methods(["GET", "POST"])
@_prescribers_only
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = batches.batch_create(
                clinic=form.cleaned_data["clinic"],
                by=request.user,
                file_name=upload.name,
                data=upload.read(),
                mrn=form.cleaned_data["mrn"],
            )
        except formats.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("importer:batch", batch_id=batch.pk)
    recent = (
        ImportBatch.objects.visible_to(request.user)
        .filter(uploaded_by_id=request.user.pk)
        .select_related("clinic")[:RECENT_BATCHES]
    )
    return render(request, "importer/upload.html", {"form": form, "recent": recent})


@require_http_methods(["GET", "POST"])
@_prescribers_only
def batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The preview (GET), a new preview with the reasons given, or the commit (POST)."""
    batch = get_object_or_404(
        ImportBatch.objects.visible_to(request.user).select_related("clinic"), pk=batch_id, uploaded_by=request.user
    )
    report = Report.from_json(batch.preview)
    rows = [item["row"] for item in report.confirm]
    form = ReasonsForm(request.POST or None, rows=rows)
    if request.method == "POST" and form.is_valid():
        action = form.cleaned_data["action"]
        try:
            if action == "commit":
                batches.batch_commit(batch=batch, by=request.user, reasons=form.reasons())
                messages.success(request, f"{batch.file_name} imported.")
            else:
                batches.batch_preview(batch=batch, by=request.user, reasons=form.reasons())
                messages.info(request, "Preview updated with the reasons given.")
        except batches.BatchError as exc:
            messages.warning(request, exc.message)
        return redirect("importer:batch", batch_id=batch.pk)
    if request.method == "POST":
        messages.error(request, "Choose to preview again or to import, and keep each reason to 500 characters.")
    return render(request, "importer/batch.html", {"batch": batch, "report": report, "form": form})


@require_GET
@_prescribers_only
def template_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_files.template_csv(timezone.localdate()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="ldn-import-template.csv"'
    return response


@require_GET
@_prescribers_only
def template_xlsx(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        template_files.template_xlsx(timezone.localdate()),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="ldn-import-template.xlsx"'
    return response
