"""The day's worklist: one row per patient of the user's clinics who needs something today.

Read from the same engine as the dashboard (``selectors.courses_today`` and ``selectors.flagged_patients``), so
a patient is "due" or "overdue a step" here exactly when the dashboard and the patient page say so. Four
queries whatever the clinics' size: the courses, the flagged patients, the listed patients' order by name, and
the page's patients with their last taken dose.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery

from patients.models import Patient

from . import rules, selectors
from .models import DoseEntry, DoseStatus


class Reason(StrEnum):
    """Why a patient is on the worklist, in the order the page counts them."""

    DUE = "due"
    STEP_UP = "step_up"
    ADHERENCE = "adherence"
    STALE = "stale"
    CRITICAL = "critical"

    @property
    def label(self) -> str:
        """The reason in a row: a few words."""
        return REASON_LABELS[self]

    @property
    def phrase(self) -> str:
        """What follows "3 patients" in the counts."""
        return REASON_PHRASES[self]


REASON_LABELS = {
    Reason.DUE: "Dose due today",
    Reason.STEP_UP: "Step-up due",
    Reason.ADHERENCE: "Missed-dose warning",
    Reason.STALE: f"No dose taken for {rules.STALE_AFTER_DAYS} days or more",
    Reason.CRITICAL: "Open critical flag",
}
REASON_PHRASES = {
    Reason.DUE: "due a dose today, not yet logged",
    Reason.STEP_UP: "with a step-up due or overdue",
    Reason.ADHERENCE: "with a missed-dose warning (3 or more missed in a row)",
    Reason.STALE: f"with no dose taken for {rules.STALE_AFTER_DAYS} days or more",
    Reason.CRITICAL: "with an open critical flag",
}


@dataclass
class Row:
    patient: Patient
    reasons: list[Reason]
    expected: Decimal | None  # the patient-paced expected dose today
    logged_today: bool
    step_up: Decimal | None
    critical_flags: int
    formulation: str = ""
    next_patient_id: int | None = None  # the row below, where the focus goes once this one is done

    @property
    def last_dose(self) -> Decimal | None:
        return getattr(self.patient, "last_dose_mg", None)

    @property
    def last_dose_on(self) -> datetime.date | None:
        return getattr(self.patient, "last_dose_on", None)

    @property
    def can_log_expected(self) -> bool:
        """Today's expected dose can be logged in one action: one is expected and nothing is logged yet."""
        return Reason.DUE in self.reasons and self.expected is not None


@dataclass
class Worklist:
    rows: list[Row]  # the page's
    counts: list[tuple[Reason, int]]  # of every patient listed, on any page
    page: Page[int]  # of the listed patients' ids

    @property
    def total(self) -> int:
        return self.page.paginator.count


ROWS_PER_PAGE = 25  # as the patient list and the flag queue


def worklist(user: Any, today: datetime.date, *, page: Any = None, focus: int | None = None) -> Worklist:
    """The patients of the user's clinics who need something today, by name, with the counts by reason.

    A page of ``ROWS_PER_PAGE`` rows: ``page``; without one, the page that lists ``focus`` (a patient) if it is
    listed, else the first. Only the page's patients are read in full.
    """
    courses = selectors.courses_today(user, today)
    critical_counts, adherence_ids = selectors.flagged_patients(user)
    reasons: dict[int, list[Reason]] = {}

    def add(patient_id: int, reason: Reason) -> None:
        reasons.setdefault(patient_id, []).append(reason)

    for patient_id, today_course in courses.items():
        if today_course.expected is not None and not today_course.logged_today:
            add(patient_id, Reason.DUE)
        if today_course.step_up is not None:
            add(patient_id, Reason.STEP_UP)
    for patient_id in adherence_ids:
        add(patient_id, Reason.ADHERENCE)
    for patient_id, today_course in courses.items():
        if today_course.stale:
            add(patient_id, Reason.STALE)
    for patient_id in critical_counts:
        add(patient_id, Reason.CRITICAL)
    counts = [(reason, sum(reason in why for why in reasons.values())) for reason in Reason]
    named = Patient.objects.filter(pk__in=reasons).order_by("family_name", "given_name", "pk")
    order = list(named.values_list("pk", flat=True)) if reasons else []
    if page in (None, "") and focus in reasons:
        page = order.index(focus) // ROWS_PER_PAGE + 1
    listed = Paginator(order, ROWS_PER_PAGE).get_page(page)
    shown, start = list(listed.object_list), listed.start_index() - 1
    if not shown:
        return Worklist(rows=[], counts=counts, page=listed)
    taken = DoseEntry.objects.live().filter(patient=OuterRef("pk"), status=DoseStatus.TAKEN).order_by("-taken_on")
    patients = Patient.objects.filter(pk__in=shown).annotate(
        last_dose_mg=Subquery(taken.values("dose_mg")[:1]),
        last_dose_on=Subquery(taken.values("taken_on")[:1]),
    )
    by_id = {patient.pk: patient for patient in patients}
    rows = []
    for patient_id in shown:
        patient = by_id[patient_id]
        course = courses.get(patient_id)
        rows.append(
            Row(
                patient=patient,
                reasons=sorted(reasons[patient_id], key=list(Reason).index),
                expected=course.expected if course is not None else None,
                logged_today=course.logged_today if course is not None else False,
                step_up=course.step_up if course is not None else None,
                critical_flags=critical_counts.get(patient_id, 0),
                formulation=course.formulation if course is not None else "",
            )
        )
    # Where the focus goes once a row is done: the row below (on the next page after the page's last row);
    # after the list's last row, the one above.
    following = order[start + 1 : start + len(shown) + 1]
    for row, below in zip(rows, following, strict=False):
        row.next_patient_id = below
    if rows and rows[-1].next_patient_id is None and len(order) > 1:
        rows[-1].next_patient_id = order[start + len(shown) - 2]
    return Worklist(rows=rows, counts=counts, page=listed)
