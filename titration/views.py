from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medications import selectors as medication_selectors
from patients.access import client_ip, clinics_for, log_access, permission_required, with_patient
from patients.concurrency import StaleEditError
from patients.models import AccessLog, Patient, clinic_today
from patients.services import access_record

from . import diary, export, outcome_aggregates, patient_reads, selectors, services
from .audit import audit_trail
from .chart import PERIODS, chart_for, parse_period
from .chart_drawing import draw
from .forms import (
    PRESETS,
    AcknowledgeForm,
    CheckInForm,
    CommentForm,
    DoseEntryForm,
    PlanForm,
    PlanStateForm,
    VoidForm,
)
from .models import CheckIn, DoseEntry, Flag, FlagComment
from .rules import Finding, Severity
from .schedule import clinic_day, parse_weeks
from .schedule import patient_schedule as patient_schedule_for

# Where each kind of refusal is shown on a form: the services know no form field names.
DOSE_FIELDS = {
    services.Problem.DAY: "taken_on",
    services.Problem.DOSE: "dose_mg",
    services.Problem.VOLUME: "dose_ml",
    services.Problem.OVERRIDE_REASON: "override_reason",
}

# Where a plan's safety confirmations are asked on the plan form.
PLAN_CONFIRMATIONS = {
    services.Problem.OPIOID: "confirm_opioid",
    services.Problem.HYPERSENSITIVITY: "confirm_hypersensitivity",
}

FLAGS_PER_PAGE = 25
OPEN_FLAGS_SHOWN = 10


@transaction.non_atomic_requests  # reads only: no transaction to open and commit
@require_GET
@permission_required("patients.view_patient")
def dashboard(request: HttpRequest) -> HttpResponse:
    # The day of the user's first clinic (its time zone and day boundary), as on the worklist.
    clinic = clinics_for(request.user).order_by("pk").first()
    data = selectors.dashboard(request.user, clinic_today(clinic) if clinic is not None else timezone.localdate())
    return render(request, "titration/dashboard.html", {"dashboard": data})


@transaction.non_atomic_requests  # reads (and one access-log row): no transaction to open and commit
@require_GET
@with_patient("patients.view_patient", related=("safety_profile",))
def patient_page(request: HttpRequest, patient: Patient) -> HttpResponse:
    today = clinic_today(patient.clinic)
    period = parse_period(request.GET.get("period"))
    reads = patient_reads.read_page(patient, today, chart_days=PERIODS[period], history_page=request.GET.get("page", 1))
    chart = chart_for(patient, reads.plans, period, today, reads=reads)
    access_record(user=request.user, patient=patient, action=AccessLog.Action.VIEW, ip_address=client_ip(request))
    # The most severe open flags (read with the page's flags), with their comments, read only for the flags that
    # have any (most have none); the rest wait in the queue.
    open_flags = reads.open_flags[:OPEN_FLAGS_SHOWN]
    commented = [flag for flag in open_flags if flag.has_comments]  # type: ignore[attr-defined]  # annotated
    prefetch_related_objects(commented, Prefetch("comments", queryset=FlagComment.objects.select_related("written_by")))
    context = {
        "patient": patient,
        "diagnoses": patient.diagnoses.select_related("condition"),
        "summary": patient_reads.summary(reads),
        "response": patient_reads.response(reads.record, today),
        "outcome_row": outcome_aggregates.patient_row(patient, reads.record.checkins, today=today),
        "chart": chart,
        "drawing": draw(chart),
        "printed_at": timezone.now(),
        "periods": PERIODS,
        "history": patient_reads.history(reads),
        "open_flags": open_flags,
        "open_flag_count": len(reads.open_flags),
        "today": today,
        # The header's alerts: a current opioid (critical) and the safety profile's warnings.
        "contraindications": medication_selectors.active_opioids_for(patient, on=today),
        "safety_warnings": medication_selectors.safety_warnings_for(patient, on=today, preloaded=True),
    }
    return render(request, "titration/patient_page.html", context)


@require_GET
@with_patient("patients.view_patient")
def patient_history(request: HttpRequest, patient: Patient) -> HttpResponse:
    access_record(user=request.user, patient=patient, action=AccessLog.Action.HISTORY, ip_address=client_ip(request))
    page = audit_trail(patient, request.GET.get("page", 1))
    return render(request, "titration/patient_history.html", {"patient": patient, "page": page})


@transaction.non_atomic_requests  # reads (and one access-log row): no transaction to open and commit
@require_GET
@with_patient("patients.view_patient")
def patient_export(request: HttpRequest, patient: Patient) -> StreamingHttpResponse:
    access_record(user=request.user, patient=patient, action=AccessLog.Action.EXPORT, ip_address=client_ip(request))
    deidentified = request.GET.get("deidentified") == "1"
    rows = export.stream(patient, deidentified=deidentified)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    filename = f"patient-{patient.pk}-{'deidentified-' if deidentified else ''}{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@with_patient("patients.view_patient", log_as=AccessLog.Action.VIEW)
def patient_schedule(request: HttpRequest, patient: Patient) -> HttpResponse:
    """The patient's printable schedule of the coming weeks (``?weeks=``, 1 to 12, default 4)."""
    weeks = parse_weeks(request.GET.get("weeks"))
    schedule = patient_schedule_for(patient, clinic_day(patient), weeks)
    context = {"patient": patient, "schedule": schedule, "clinic": patient.clinic, "printed_at": timezone.now()}
    return render(request, "titration/schedule.html", context)


@require_http_methods(["GET", "POST"])
@with_patient("titration.add_checkin", log_as=AccessLog.Action.CHECKIN_FORM)
def checkin_create(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = CheckInForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            checkin, flags = services.checkin_record(
                patient=patient,
                by=request.user,
                checked_on=data["checked_on"],
                pain_score=data["pain_score"],
                sleep_quality=data["sleep_quality"],
                pgic=data["pgic"],
                notes=data["notes"],
                side_effects=form.side_effects(),
            )
        except services.RecordError as exc:
            form.add_error("checked_on" if exc.problem == services.Problem.DAY else None, exc.message)
        else:
            text = f"Check-in for {checkin.checked_on:%-d %b %Y} recorded: pain {checkin.pain_score}/10."
            if flags:
                messages.warning(request, f"{text} Flags raised: " + " ".join(f.message for f in flags))
            else:
                messages.success(request, text)
            return redirect(patient)
    return render(request, "titration/checkin_form.html", {"form": form, "patient": patient})


@require_http_methods(["GET", "POST"])
@with_patient("titration.void_checkin")
def checkin_void(request: HttpRequest, patient: Patient, checkin_id: int) -> HttpResponse:
    checkin = get_object_or_404(CheckIn.objects.visible_to(request.user), pk=checkin_id, patient=patient)
    return _void_page(request, patient, checkin, checkin.checked_on)


def _void_page(request: HttpRequest, patient: Patient, record: DoseEntry | CheckIn, day: datetime.date) -> HttpResponse:
    """Ask for the reason, void the record, and return to the patient (doses and check-ins alike)."""
    form = VoidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if isinstance(record, CheckIn):
                services.checkin_void(checkin=record, by=request.user, reason=form.cleaned_data["reason"])
            else:
                services.dose_void(entry=record, by=request.user, reason=form.cleaned_data["reason"])
        except services.RecordError as exc:
            form.add_error("reason", exc.message)
        else:
            messages.success(request, f"Record of {day:%-d %b %Y} voided. Record the correct one if needed.")
            return redirect(patient)
    context = {"form": form, "patient": patient, "entry": record, "is_checkin": isinstance(record, CheckIn)}
    return render(request, "titration/void_form.html", context)


@require_http_methods(["GET", "POST"])
@with_patient("titration.add_doseentry", log_as=AccessLog.Action.DOSE_FORM)
def dose_create(request: HttpRequest, patient: Patient) -> HttpResponse:
    facts = None
    if request.method == "POST":
        form = DoseEntryForm(request.POST, patient=patient)
    else:
        facts = diary.dose_form_facts(patient, clinic_today(patient.clinic))
        form = DoseEntryForm(patient=patient, plan=facts.plan, expected=facts.expected_today)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry, flags = services.dose_record(
                patient=patient,
                by=request.user,
                taken_on=data["taken_on"],
                dose_mg=data["dose_mg"],
                status=data["status"],
                formulation=data["formulation"],
                notes=data["notes"],
                override_reason=data["override_reason"],
                confirmed=data["confirm_out_of_range"],
                dose_ml=data["dose_ml"],
                ml_in_mg_field=data["ml_in_mg_field"],
                time_of_day=data["time_of_day"],
            )
        except services.RecordError as exc:
            form.liquid = exc.liquid
            if exc.problem == services.Problem.CONFIRMATION:
                form.ask_confirmation(exc.message, exc.findings)
            else:
                form.add_error(DOSE_FIELDS.get(exc.problem), exc.message)
                if exc.problem == services.Problem.OVERRIDE_REASON:
                    form.show_confirmation(exc.findings)
        else:
            day = f"{entry.taken_on:%-d %b %Y}"
            if entry.dose_mg is None:
                summary = f"Missed dose for {day} recorded."
            else:
                summary = f"{entry.get_status_display()} dose for {day} recorded: {entry.dose_display}."
            if flags:
                level = messages.ERROR if any(f.severity == Severity.CRITICAL for f in flags) else messages.WARNING
                flagged = " ".join(f"[{f.severity.label}] {f.message}" for f in flags)
                messages.add_message(request, level, f"{summary} Flags raised: {flagged}")
            else:
                messages.success(request, summary)
            return redirect(patient)
    if facts is None and not transaction.get_rollback():  # a write that lost a race takes no more queries
        facts = diary.dose_form_facts(patient, clinic_today(patient.clinic))
    return render(request, "titration/dose_form.html", {"form": form, "patient": patient, "facts": facts})


@require_http_methods(["GET", "POST"])
@with_patient("titration.add_doseentry", log_as=AccessLog.Action.DOSE_FORM)
def dose_diary(request: HttpRequest, patient: Patient) -> HttpResponse:
    """Up to 14 days of a patient's diary in one page (``?start=YYYY-MM-DD&days=N``), saved all or nothing."""
    span = diary.DiaryRangeForm(request.GET, patient=patient, today=clinic_today(patient.clinic))
    if not span.is_valid():
        return render(request, "titration/dose_diary.html", {"patient": patient, "span": span}, status=400)
    days = span.day_list()
    rows = diary.diary_days(patient, days)
    concentration = diary.liquid_concentration(patient)
    posted = request.POST if request.method == "POST" else None  # an empty POST is a (stale) grid too
    formset = diary.DiaryFormSet(posted, patient=patient, rows=rows, concentration=concentration)
    problem = ""
    if request.method == "POST":
        if formset.is_stale():
            problem = diary.DIARY_CHANGED
            formset = diary.DiaryFormSet(patient=patient, rows=rows, concentration=concentration)
        else:
            valid = formset.is_valid()
            chosen = [form for form in formset.forms if not form.errors and form.records]
            if valid and not chosen:
                problem = diary.NOTHING_TO_SAVE
            elif chosen:
                try:
                    rows_kwargs = [form.record_kwargs() for form in chosen]
                    recorded = diary.diary_record(patient=patient, by=request.user, rows=rows_kwargs, keep=valid)
                except diary.DiaryRefused as exc:
                    for n, error in exc.errors.items():
                        _show_row_error(chosen[n], error)
                else:
                    _diary_saved_message(request, recorded)
                    return redirect(patient)
            problem = problem or diary.ROWS_REFUSED
            entered = {form.day: form.entered(concentration) for form in formset.forms}
            rows = diary.diary_days(patient, days, entered=entered)
    diary.attach_forms(rows, formset)
    context = {
        "patient": patient,
        "span": span,
        "rows": rows,
        "formset": formset,
        "problem": problem,
        "concentration": concentration,
    }
    return render(request, "titration/dose_diary.html", context)


def _show_row_error(form: DoseEntryForm, error: services.RecordError) -> None:
    """A diary row's refusal, shown in place as the dose form shows it (the row's day is fixed: its own line)."""
    form.liquid = error.liquid
    if error.problem == services.Problem.CONFIRMATION:
        form.ask_confirmation(error.message, error.findings)
        return
    field = DOSE_FIELDS.get(error.problem)
    form.add_error(None if field == "taken_on" else field, error.message)
    if error.problem == services.Problem.OVERRIDE_REASON:
        form.show_confirmation(error.findings)


def _diary_saved_message(request: HttpRequest, recorded: list[tuple[DoseEntry, list[Finding]]]) -> None:
    taken = sum(1 for entry, _ in recorded if entry.dose_mg is not None)
    missed = len(recorded) - taken
    days = f"{len(recorded)} day{'s' if len(recorded) != 1 else ''}"
    text = f"Diary saved: {days} recorded ({taken} taken, {missed} missed)."
    flags = [(entry, f) for entry, findings in recorded for f in findings]
    if not flags:
        messages.success(request, text)
        return
    level = messages.ERROR if any(f.severity == Severity.CRITICAL for _, f in flags) else messages.WARNING
    flagged = " ".join(f"[{f.severity.label}] {entry.taken_on:%-d %b}: {f.message}" for entry, f in flags)
    messages.add_message(request, level, f"{text} Flags raised: {flagged}")


@require_http_methods(["GET", "POST"])
@with_patient("titration.void_doseentry")
def dose_void(request: HttpRequest, patient: Patient, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(DoseEntry.objects.visible_to(request.user), pk=entry_id, patient=patient)
    return _void_page(request, patient, entry, entry.taken_on)


@require_http_methods(["GET", "POST"])
@with_patient("titration.add_titrationplan")
def plan_set(request: HttpRequest, patient: Patient) -> HttpResponse:
    current = services.active_plan(patient)
    today = clinic_today(patient.clinic)
    # Warnings for the prescriber, never blocks; a current opioid or a known hypersensitivity is confirmed.
    opioids = medication_selectors.active_opioids_for(patient, on=today)
    warnings = medication_selectors.safety_warnings_for(patient, on=today)
    form = PlanForm(
        request.POST or None,
        patient=patient,
        current=current,
        opioid_current=bool(opioids),
        hypersensitivity=any(w.needs_confirmation for w in warnings),
    )
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.plan_set(
                patient=patient,
                by=request.user,
                version=form.opened_version,
                **form.safety_confirmations(),
                **form.plan_fields(),
            )
        except StaleEditError as exc:
            form.show_stale(exc, current=services.active_plan(patient) or current)
        except services.RecordError as exc:
            form.add_error(PLAN_CONFIRMATIONS.get(exc.problem), exc.message)
        else:
            messages.success(request, f"Titration plan set: {plan}.")
            for warning in warnings:
                messages.warning(request, warning.message)
            if opioids:
                messages.error(request, " ".join(opioid.message for opioid in opioids))
            return redirect(patient)
    previous = patient.plans.filter(is_active=False).select_related("created_by", "ended_by")
    state, state_change = selectors.plan_state_now(current, today)
    return render(
        request,
        "titration/plan_form.html",
        {
            "form": form,
            "patient": patient,
            "current": current,
            "previous": previous,
            "presets": {key: {k: str(v) for k, v in preset.items()} for key, preset in PRESETS.items()},
            "state_form": PlanStateForm(),
            "plan_history": selectors.plan_history(patient),
            "contraindications": opioids,
            "safety_warnings": warnings,
            "state_value": state.value,
            "state_label": state.label,
            "state_change": state_change,
        },
    )


@require_POST
@with_patient("titration.add_planstatechange")
def plan_state(request: HttpRequest, patient: Patient) -> HttpResponse:
    """Titrate, hold at the current dose, pause or stop the active plan, with a reason."""
    form = PlanStateForm(request.POST)
    if not form.is_valid():
        stop_errors = form.errors.get("stop_reason")
        messages.error(request, str(stop_errors[0]) if stop_errors else "Choose the new state and give the reason.")
        return redirect("titration:plan", patient_id=patient.pk)
    try:
        change = services.plan_state_set(
            patient=patient,
            by=request.user,
            state=form.cleaned_data["state"],
            reason=form.cleaned_data["reason"],
            confirm_opioid=form.cleaned_data["confirm_opioid"],
            stop_reason=form.cleaned_data["stop_reason"],
        )
    except services.RecordError as exc:
        messages.error(request, exc.message)
        if exc.problem == services.Problem.OPIOID:
            # The state form, where the restart is confirmed.
            return redirect(reverse("titration:plan", args=[patient.pk]) + "#state-heading")
    else:
        messages.success(request, f"Plan state: {change}.")
    return redirect(patient)


@transaction.non_atomic_requests  # reads (and one access-log row): no transaction to open and commit
@require_GET
@permission_required("titration.view_flag")
def flag_queue(request: HttpRequest) -> HttpResponse:
    severity = request.GET.get("severity") or None
    kind = request.GET.get("kind") or None
    flags = selectors.flag_queue(request.user, severity=severity, kind=kind)
    page = LookaheadPaginator(flags, FLAGS_PER_PAGE).get_page(request.GET.get("page"))
    log_access(request, AccessLog.Action.FLAG_QUEUE, result_count=len(page.object_list))
    _set_focus_next(page)
    return render(
        request,
        "titration/flag_queue.html",
        {
            "page": page,
            "info_by_patient": selectors.open_info_flags_by_patient(request.user, [f.patient for f in page]),
            "severity": severity if severity in selectors.FLAG_SEVERITY_FILTERS else "",
            "kind": kind if kind in selectors.FLAG_KIND_FILTERS else "",
            "severities": list(selectors.FLAG_SEVERITY_FILTERS),
            "kinds": [(k.value, k.label) for k in Flag.Kind],
            "focus": _flag_id(request.GET.get("focus")),
            # Asked once for the page, not once per listed flag.
            "can_acknowledge_critical": request.user.has_perm("titration.acknowledge_critical_flag"),
            "can_comment": request.user.has_perm("titration.add_flagcomment"),
            "here": request.get_full_path(),
        },
    )


class LookaheadPage(Page):
    next_first: int | None = None  # the id of the first item of the next page


class LookaheadPaginator(Paginator):
    """Reads one item past the page with the page (``next_first``): the queue's focus after its last flag
    moves there, and the page costs the same queries whether a next page exists or not."""

    def get_page(self, number: Any) -> LookaheadPage:
        page = super().get_page(number)  # Django's get_page goes through page() below
        if not isinstance(page, LookaheadPage):
            raise TypeError("LookaheadPaginator makes LookaheadPages")
        return page

    def page(self, number: Any) -> LookaheadPage:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:  # as Django's Paginator: the orphans join the last page
            top = self.count
        rows = list(self.object_list[bottom : top + 1])
        page = LookaheadPage(rows[: top - bottom], number, self)
        page.next_first = rows[top - bottom].pk if len(rows) > top - bottom else None
        return page


def _set_focus_next(page: LookaheadPage) -> None:
    """Give each listed flag ``focus_next``: the flag the focus moves to once it is acknowledged (the one
    below it; for the last one, the next page's first, which moves up, else the one above)."""
    flags = list(page)
    following: list[int | None] = [flag.pk for flag in flags[1:]]
    if page.has_next():
        following.append(page.next_first)
    else:
        following.append(flags[-2].pk if len(flags) > 1 else None)
    for flag, focus_next in zip(flags, following, strict=False):
        flag.focus_next = focus_next


def _flag_id(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdecimal() else None


def _back_to_queue(request: HttpRequest, focus: int | None) -> HttpResponse:
    """Back where the form was, the queue's page focused on ``focus`` (``?focus=``: its field has autofocus,
    which also scrolls it into view; a #fragment would make the browser skip the autofocus). A page other than
    the queue (``next``) is left as it is."""
    target = _safe_next(request) or reverse("titration:flags")
    url = urlsplit(target)
    if focus is None or url.path != reverse("titration:flags"):
        return redirect(target)
    query = QueryDict(url.query, mutable=True)
    query["focus"] = str(focus)
    return redirect(urlunsplit(url._replace(query=query.urlencode(), fragment="")))


@require_POST
@permission_required("titration.acknowledge_flag")
def flag_acknowledge(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(Flag.objects.visible_to(request.user), pk=flag_id)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.flag_acknowledge(flag=flag, by=request.user, note=form.cleaned_data["note"])
        except services.RecordError as exc:
            if exc.problem == services.Problem.PERMISSION:
                raise PermissionDenied(exc.message) from exc
            messages.info(request, exc.message)
        else:
            messages.success(request, f"Flag acknowledged: {flag.message}")
            # On to the next flag, so a keyboard user goes on without tabbing back from the top.
            return _back_to_queue(request, _flag_id(request.POST.get("focus_next")))
    else:
        messages.error(request, "The note is too long (500 characters at most).")
    return _back_to_queue(request, flag.pk)


@require_POST
@permission_required("titration.add_flagcomment")
def flag_comment(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(Flag.objects.visible_to(request.user), pk=flag_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.flag_comment_add(flag=flag, by=request.user, text=form.cleaned_data["text"])
        except services.RecordError as exc:
            if exc.problem == services.Problem.PERMISSION:
                raise PermissionDenied(exc.message) from exc
            messages.error(request, exc.message)
        else:
            messages.success(request, "Comment added.")
    else:
        messages.error(request, "Write the comment (2,000 characters at most).")
    return _back_to_queue(request, flag.pk)


@require_POST
@with_patient("titration.acknowledge_flag")
def flags_acknowledge_info(request: HttpRequest, patient: Patient) -> HttpResponse:
    """Acknowledge all open info flags of one patient with one note."""
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            count = services.flags_acknowledge_info(patient=patient, by=request.user, note=form.cleaned_data["note"])
        except services.RecordError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{count} info flag{'s' if count != 1 else ''} of {patient.full_name} acknowledged."
            )
    else:
        messages.error(request, "The note is too long (500 characters at most).")
    return redirect(_safe_next(request) or "titration:flags")


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
