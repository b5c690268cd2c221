"""The clinic outcomes page and its de-identified research export (both clinic-scoped)."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from patients.access import client_ip, permission_required
from patients.csv_stream import csv_lines
from patients.models import AccessLog, Condition
from patients.services import access_record

from . import clinic_outcomes, outcome_aggregates, outcome_figures
from .clinic_outcomes import PatientOutcome

RESEARCH_EXPORT_PERMISSION = "titration.add_titrationplan"  # prescribers only


def _filters(request: HttpRequest) -> tuple[clinic_outcomes.Filters, datetime.date]:
    today = clinic_outcomes.today_for(request.user)
    return clinic_outcomes.parse_filters(request.GET, today=today), today


@require_GET
@permission_required("patients.view_patient")
def outcomes_page(request: HttpRequest) -> HttpResponse:
    filters, today = _filters(request)
    patients = clinic_outcomes.selected_patients(request.user, filters)
    outcomes = outcome_aggregates.clinic_outcomes(patients, filters, today=today)
    figures = outcome_figures.figures(outcomes)
    context = {
        "filters": filters,
        "figures": figures,
        "today": today,
        "conditions": Condition.objects.filter(is_active=True).order_by("name"),
        "periods": clinic_outcomes.period_choices(today),
        "protocols": clinic_outcomes.protocol_choices(),
        "plot": {
            "width": outcome_figures.WIDTH,
            "height": outcome_figures.HEIGHT,
            "left": outcome_figures.LEFT,
            "right": outcome_figures.WIDTH - outcome_figures.RIGHT,
            "top": outcome_figures.TOP,
            "bottom": outcome_figures.HEIGHT - outcome_figures.BOTTOM,
            "y50": outcome_figures.TOP + outcome_figures.PLOT_H / 2,
            "bar_left": outcome_figures.BAR_LEFT,
            "bar_right": outcome_figures.BAR_LEFT + outcome_figures.BAR_PLOT_W,
        },
        "condition_height": outcome_figures.bars_height(figures.by_condition),
        "week_height": outcome_figures.bars_height(figures.side_effects_by_week),
        "dose_height": outcome_figures.bars_height(figures.side_effects_by_dose),
        "can_export": request.user.has_perm(RESEARCH_EXPORT_PERMISSION),
        "export_query": filters.as_query(),
    }
    return render(request, "titration/outcomes.html", context)


EXPORT_HEADER = [
    "study_id",
    "age_band",
    "sex",
    "conditions",
    "protocol",
    "target_mg",
    "days_to_target",
    "highest_dose_mg_if_not_reached",
    "time_at_target_percent",
    "adherence_percent",
    "gaps",
    "restarts",
    "response_best",
    "response_latest",
    "response_12_weeks",
    "responder_12_weeks",
    "latest_pgic",
    "first_30_percent_day",
    "dose_at_first_30_percent_mg",
    "maintenance_dose_mg",
    "stopped",
    "stop_day",
    "stop_reason",
    "last_record_day",
]


def _day_number(day: datetime.date | None, first: datetime.date | None) -> int | None:
    return None if day is None or first is None else (day - first).days


def export_rows(outcomes: Sequence[PatientOutcome]) -> Iterator[list[Any]]:
    """One row per patient, de-identified: a random study id per export, an age band instead of the date of
    birth, day numbers since the first dose instead of dates; no name, MRN or free text. Rows in random order.
    """
    yield EXPORT_HEADER
    ids = {o.patient_id: f"S{secrets.token_hex(5)}" for o in outcomes}
    for outcome in sorted(outcomes, key=lambda o: ids[o.patient_id]):
        first = outcome.first_dose
        band_day = first or outcome.last_record or datetime.date.today()  # noqa: DTZ011 (a band, not a date)
        at_target, adherence, response = outcome.at_target, outcome.adherence, outcome.response
        if response is None:
            raise ValueError("the research export reads the per-patient measures, with the response")
        yield [
            ids[outcome.patient_id],
            outcome.age_band(band_day),
            outcome.sex,
            "; ".join(outcome.conditions),
            outcome.protocol,
            outcome.target,
            outcome.to_target.days,
            None if outcome.to_target.reached else outcome.to_target.highest,
            at_target.percent if at_target else None,
            adherence.days.percent if adherence else None,
            adherence.gaps if adherence else None,
            adherence.restarts if adherence else None,
            str(response.best),
            str(response.latest),
            str(outcome.response_12_weeks) if outcome.response_12_weeks else None,
            int(outcome.responder_12_weeks) if outcome.response_12_weeks else None,
            response.latest_pgic,
            _day_number(response.first_meaningful_on, first),
            response.dose_at_meaningful,
            outcome.maintenance_dose,
            int(outcome.stopped_on is not None),
            _day_number(outcome.stopped_on, first),
            outcome.stop_reason,
            _day_number(outcome.last_record, first),
        ]


@require_GET
@permission_required(RESEARCH_EXPORT_PERMISSION)
def research_export(request: HttpRequest) -> StreamingHttpResponse:
    filters, today = _filters(request)
    patients = clinic_outcomes.selected_patients(request.user, filters)
    outcomes = outcome_aggregates.clinic_outcomes(patients, filters, today=today, with_response=True)
    outcomes = [o for o in outcomes if o.started]
    access_record(
        user=request.user,
        patient=None,
        action=AccessLog.Action.EXPORT,
        ip_address=client_ip(request),
        result_count=len(outcomes),
    )
    response = StreamingHttpResponse(csv_lines(export_rows(outcomes)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ldn-outcomes-research-{today.isoformat()}.csv"'
    return response
