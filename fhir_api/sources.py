"""Where each FHIR resource type comes from, and a page of a search over them in a bounded number of queries.

A resource type has one or more sources (Observation: pain scores and side effects; Provenance: one per
audited model). A page of a search is the sources one after another, each ordered by id: one query counts
every source at once, then each source that the page reaches is read with one query (plus one for the plan
states of MedicationRequest). So a page costs the same number of queries for 30 records as for 3,000.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Func, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from medications.models import MedicationEntry
from patients.models import Clinic, Diagnosis, Patient
from titration.models import CheckIn, DoseEntry, Flag, PlanStateChange, SideEffect, TitrationPlan

from . import mapping
from .mapping import Resource
from .provenance import AUDITED, HISTORY_FIELDS, Audited, provenance


@dataclass(frozen=True)
class Context:
    """What a mapping needs beyond the record: today's date (for statuses)."""

    today: datetime.date


def mrn_system(clinic_id: int) -> str:
    """The identifier system of a clinic's MRNs (setting ``FHIR_MRN_SYSTEM``)."""
    return settings.FHIR_MRN_SYSTEM.replace("{clinic_id}", str(clinic_id))


@dataclass(frozen=True)
class Source:
    """A table that yields resources of one type.

    ``prefix``: the resources' ids are "<prefix>-<primary key>" (for types fed by several tables), or the
    primary key alone when None. ``patient_field``: the lookup of the patient's id. ``date_field``: what the
    ``date`` search parameter compares (a date or a date-time field), if anything.
    """

    resource_type: str
    rows: Callable[[], QuerySet]
    to_resource: Callable[[Any, Context], Resource]
    patient_field: str = "patient_id"
    date_field: str | None = None
    prefix: str | None = None

    def resource_id(self, pk: int) -> str:
        return f"{self.prefix}-{pk}" if self.prefix else str(pk)

    def pk_of(self, resource_id: str) -> int | None:
        """The primary key in a resource id of this source, or None when the id is not one of its ids."""
        pattern = rf"{re.escape(self.prefix)}-([0-9]{{1,18}})" if self.prefix else r"([0-9]{1,18})"
        match = re.fullmatch(pattern, resource_id)
        return int(match.group(1)) if match else None

    def is_datetime(self) -> bool:
        model = self.rows().model
        field = model._meta.get_field(self.date_field.split("__")[0]) if self.date_field else None
        return field is not None and field.get_internal_type() == "DateTimeField"


def _plans() -> QuerySet:
    replaced = TitrationPlan.objects.filter(patient_id=OuterRef("patient_id"), created_at__lt=OuterRef("created_at"))
    states = PlanStateChange.objects.select_related("changed_by").order_by("effective_on", "changed_at", "pk")
    return (
        TitrationPlan.objects.select_related("created_by")
        .annotate(prior_plan_id=Subquery(replaced.order_by("-created_at", "-pk").values("pk")[:1]))
        .prefetch_related(Prefetch("state_changes", queryset=states))
    )


def _history(audited: Audited) -> Source:
    def rows() -> QuerySet:
        # Only the fields the Provenance reads: a history row holds every field of its record.
        history = audited.history_model._default_manager.select_related("history_user").only(
            *HISTORY_FIELDS, *audited.target_fields
        )
        if audited.model is Diagnosis:
            # A condition taken off the patient's list is deleted: its history has no resource to point at.
            history = history.filter(id__in=Diagnosis.objects.values("pk"))
        return history

    return Source(
        "Provenance",
        rows,
        lambda row, ctx: provenance(row, audited),
        patient_field=audited.patient_field,
        date_field="history_date",
        prefix=audited.prefix,
    )


# What ``mapping.medication_administration`` reads of a dose entry: a five-year record has thousands, so the
# other columns (the derived course position among them) are not loaded.
DOSE_FIELDS = (
    "patient_id",
    "taken_on",
    "status",
    "dose_mg",
    "formulation",
    "notes",
    "override_reason",
    "voided_at",
    "void_reason",
    "plan__liquid_concentration_mg_per_ml",
)

SOURCES: dict[str, tuple[Source, ...]] = {
    "Patient": (
        Source(
            "Patient",
            lambda: Patient.objects.select_related("clinic", "prescriber"),
            lambda row, ctx: mapping.patient_resource(row, mrn_system=mrn_system(row.clinic_id)),
            patient_field="pk",
        ),
    ),
    "Condition": (
        Source(
            "Condition",
            lambda: Diagnosis.objects.select_related("condition"),
            lambda row, ctx: mapping.condition_resource(row),
            date_field="diagnosed_on",
        ),
    ),
    "MedicationRequest": (
        Source(
            "MedicationRequest",
            _plans,
            lambda row, ctx: mapping.medication_request(row, today=ctx.today),
            date_field="start_date",
        ),
    ),
    "MedicationAdministration": (
        Source(
            "MedicationAdministration",
            lambda: DoseEntry.objects.select_related("plan").only(*DOSE_FIELDS),
            lambda row, ctx: mapping.medication_administration(row),
            date_field="taken_on",
        ),
    ),
    "MedicationStatement": (
        Source(
            "MedicationStatement",
            lambda: MedicationEntry.objects.select_related("reference"),
            lambda row, ctx: mapping.medication_statement(row, today=ctx.today),
            date_field="start_date",
        ),
    ),
    "Observation": (
        Source(
            "Observation",
            lambda: CheckIn.objects.all(),
            lambda row, ctx: mapping.pain_observation(row),
            date_field="checked_on",
            prefix="pain",
        ),
        Source(
            "Observation",
            lambda: SideEffect.objects.select_related("checkin"),
            lambda row, ctx: mapping.side_effect_observation(row),
            patient_field="checkin__patient_id",
            date_field="checkin__checked_on",
            prefix="side-effect",
        ),
    ),
    "DetectedIssue": (
        Source(
            "DetectedIssue",
            lambda: Flag.objects.select_related("acknowledged_by"),
            lambda row, ctx: mapping.detected_issue(row),
            date_field="created_at",
        ),
    ),
    "Provenance": tuple(_history(audited) for audited in AUDITED),
}


# --- filters -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateFilter:
    """A ``date`` search parameter: a comparison with a day, a month or a year (FHIR's implicit range)."""

    prefix: str  # eq, ge, le, gt, lt
    first: datetime.date
    last: datetime.date


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _date_lookups(source: Source, dates: Sequence[DateFilter]) -> list[tuple[str, Any]]:
    """(lookup, value) pairs for the ``date`` filters, all to apply (AND). Days are the clinic's local days."""
    field = source.date_field
    if field is None or not dates:
        return []
    as_moment = source.is_datetime()

    def start(day: datetime.date) -> Any:  # the first moment (or the day itself) of ``day``
        return _day_start(day) if as_moment else day

    def after(day: datetime.date) -> Any:  # the first moment (or day) after ``day``
        return start(day + datetime.timedelta(days=1))

    lookups: list[tuple[str, Any]] = []
    for date in dates:
        lookups += {
            "eq": [("gte", start(date.first)), ("lt", after(date.last))],
            "ge": [("gte", start(date.first))],
            "gt": [("gte", after(date.last))],
            "le": [("lt", after(date.last))],
            "lt": [("lt", start(date.first))],
        }[date.prefix]
    return [(f"{field}__{lookup}", value) for lookup, value in lookups]


def scoped(
    source: Source,
    *,
    clinic_id: int,
    patient_id: int | None = None,
    dates: Sequence[DateFilter] = (),
    pk: int | None = None,
) -> QuerySet:
    """The source's rows of the clinic's patients (every query of the API starts here), filtered."""
    rows = source.rows().filter(
        **{f"{source.patient_field}__in": Patient.objects.filter(clinic_id=clinic_id).values("pk")}
    )
    if patient_id is not None:
        rows = rows.filter(**{source.patient_field: patient_id})
    if pk is not None:
        rows = rows.filter(pk=pk)
    for lookup, value in _date_lookups(source, dates):
        rows = rows.filter(**{lookup: value})
    return rows.annotate(fhir_patient_id=F(source.patient_field))


# --- reading -----------------------------------------------------------------------------------------

Entry = tuple[int, Resource]  # (the patient's id, the resource)


def read(resource_type: str, resource_id: str, *, clinic_id: int, context: Context) -> Entry | None:
    """One resource of the clinic by its id, or None (unknown id, or another clinic's)."""
    for source in SOURCES[resource_type]:
        pk = source.pk_of(resource_id)
        if pk is None:
            continue
        row = scoped(source, clinic_id=clinic_id, pk=pk).first()
        if row is not None:
            return row.fhir_patient_id, source.to_resource(row, context)
    return None


@dataclass(frozen=True)
class Page:
    total: int
    entries: list[Entry]


def _count(rows: QuerySet) -> Subquery:
    return Subquery(
        rows.order_by().annotate(fhir_count=Func(F("pk"), function="COUNT")).values("fhir_count"),
        output_field=IntegerField(),
    )


def page(
    selections: Sequence[tuple[Source, QuerySet]],
    *,
    clinic_id: int,
    offset: int,
    count: int | None,
    context: Context,
) -> Page:
    """Entries ``offset`` to ``offset + count`` (all with ``count`` None) of the selections, one after another.

    One query counts every selection; then one query reads each selection the page reaches.
    """
    if not selections:
        return Page(0, [])
    names = {f"n{i}": _count(rows) for i, (_, rows) in enumerate(selections)}
    counts = Clinic.objects.filter(pk=clinic_id).annotate(**names).values(*names).get()
    totals = [counts[f"n{i}"] or 0 for i in range(len(selections))]
    entries: list[Entry] = []
    skip = offset
    for (source, rows), total in zip(selections, totals, strict=True):
        if count is not None and len(entries) >= count:
            break
        if skip >= total:
            skip -= total
            continue
        stop = None if count is None else skip + count - len(entries)
        entries += [(row.fhir_patient_id, source.to_resource(row, context)) for row in rows.order_by("pk")[skip:stop]]
        skip = 0
    return Page(sum(totals), entries)
