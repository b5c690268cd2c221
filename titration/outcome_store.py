"""The outcome figures cache: marked out of date by the writers, rebuilt by the reader that finds it so.

``/outcomes/`` needs, per patient, the dozen numbers that ``outcome_aggregates`` reduces the doses and
check-ins to. Reducing a clinic's whole history at every view reads millions of rows (4 s for 1,000 patients
with 5 years each), so each patient's reduction is kept in an ``OutcomeFigures`` row and only the rows that
no longer match the record are rebuilt, in a fixed number of queries whatever their number.

A row no longer matches when it is missing, when a writer set ``stale`` (a void, a plan, a plan state, the
clinic's restart gap), or when the patient has a dose entry or check-in newer than the ones it was built
from: a new dose is the commonest write, and costs the dose form no extra query that way.

What depends on today (the days since the last dose, the response at 12 weeks) is not kept: the figures
are reduced with no end but the stop, and the reader ends them at today (``outcome_aggregates``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from patients.models import Patient

from .models import CheckIn, DoseEntry, OutcomeFigures

# What ``figures`` holds; rows of another version are rebuilt, so that a change of what is kept needs no migration.
FIGURES_VERSION = 2


def mark_stale(patient_ids: Iterable[int]) -> None:
    """In the writer's transaction: these patients' figures no longer match their record.

    An upsert, so that a reader rebuilding a missing row at the same moment waits for this transaction
    (both insert the same key) instead of storing figures from before it.
    """
    rows = [OutcomeFigures(patient_id=pk, stale=True) for pk in set(patient_ids)]
    OutcomeFigures.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["patient"], update_fields=["stale"], batch_size=500
    )


def clinic_changed(*, clinic: Any, by: Any, cause: str) -> None:
    """A change of the clinic's restart gap changes every patient's count of restarts."""
    OutcomeFigures.objects.filter(patient__clinic=clinic).update(stale=True)


def _out_of_date() -> Q:
    stored = OutcomeFigures.objects.filter(patient=OuterRef("pk"))
    current = stored.filter(stale=False, figures__version=FIGURES_VERSION)
    return (
        Q(~Exists(current))
        | Q(Exists(DoseEntry.objects.filter(patient=OuterRef("pk"), id__gt=OuterRef("_doses_through"))))
        | Q(Exists(CheckIn.objects.filter(patient=OuterRef("pk"), id__gt=OuterRef("_checkins_through"))))
    )


def refresh(patients: QuerySet[Patient]) -> int:
    """Rebuild the figures of ``patients`` that are missing or out of date; returns how many were rebuilt.

    One query when all are up to date, eight when some are not, whatever their number. The rows being
    rebuilt are locked first, so a writer marking one of them stale meanwhile waits and marks it again
    after; the newest ids are read before the record, so a dose added meanwhile shows as newer next time.
    """
    from . import outcome_aggregates

    stored = OutcomeFigures.objects.filter(patient=OuterRef("pk"))
    chosen = patients.annotate(
        _doses_through=stored.values("doses_through")[:1], _checkins_through=stored.values("checkins_through")[:1]
    )
    ids = list(chosen.filter(_out_of_date()).values_list("pk", flat=True))
    if not ids:
        return 0
    with transaction.atomic():
        OutcomeFigures.objects.bulk_create(
            [OutcomeFigures(patient_id=pk) for pk in ids], ignore_conflicts=True, batch_size=500
        )
        rows = OutcomeFigures.objects.select_for_update().filter(patient_id__in=ids).order_by("pk")  # one lock order
        list(rows.values_list("pk", flat=True))
        doses_through = _newest(DoseEntry.objects.filter(patient_id__in=ids))
        checkins_through = _newest(CheckIn.objects.filter(patient_id__in=ids))
        figures = outcome_aggregates.patient_figures(Patient.objects.filter(pk__in=ids))
        now = timezone.now()
        rebuilt = [
            OutcomeFigures(
                patient_id=pk,
                stale=False,
                doses_through=doses_through.get(pk, 0),
                checkins_through=checkins_through.get(pk, 0),
                figures=figures[pk],
                computed_at=now,
            )
            for pk in ids
            if pk in figures
        ]
        OutcomeFigures.objects.bulk_update(
            rebuilt, ["stale", "doses_through", "checkins_through", "figures", "computed_at"], batch_size=500
        )
    return len(rebuilt)


def _newest(records: QuerySet[Any]) -> dict[int, int]:
    return dict(records.order_by().values("patient_id").annotate(newest=Max("id")).values_list("patient_id", "newest"))


def stored_figures(patients: QuerySet[Patient]) -> list[tuple[int, str, datetime.date, Any]]:
    """(patient id, sex, date of birth, figures) of ``patients``, in one query; refresh them first."""
    return list(
        OutcomeFigures.objects.filter(patient__in=patients.values("pk"), figures__isnull=False).values_list(
            "patient_id", "patient__sex", "patient__date_of_birth", "figures"
        )
    )
