"""What the patient page reads: a fixed handful of queries, and work that does not grow with the history.

Every live dose entry stores what its assessment found (the expected dose of its day) and where the patient
stood after it (``course.Position``), re-derived in the same transaction as every change of the record
(``services._store_positions``). So the page never walks the course from the first dose: the expected dose
of a day with an entry is the entry's own, and of a day without one it is resumed from the entry before it,
exactly as the dashboard resumes each patient's course today.

The reads, each once: the plans with their state changes; the dose entries of the shown days (the chart's
period and the history's page) with the live entry just before them; every check-in of the patient (a few
hundred rows at most: the response, the chart's pain line and the history's check-ins); and the flags of the
shown days.
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, TextField, When
from django.db.models.functions import Cast

from patients.models import Patient

from . import course, outcomes, rules
from .models import CheckIn, DoseEntry, DoseStatus, Flag, FlagComment, PlanStateChange, SideEffect, TitrationPlan

if TYPE_CHECKING:  # selectors imports this module: its names are imported late where the code needs them
    from .selectors import HistoryPage

_ENTRY_FIELDS = [f.attname for f in DoseEntry._meta.concrete_fields]
# The stored course position is read as its JSON text and decoded only where a course resumes from it or an
# entry is listed; when it was recorded, only for the listed entries (decoding a time stamp costs more than
# the rest of a row). A five-year chart reads 1,800 rows, lists 30 and resumes from a handful.
_POSITION_AT = _ENTRY_FIELDS.index("course_after")
_ROW_FIELDS = [
    {"course_after": "course_after_text", "recorded_at": "listed_recorded_at"}.get(name, name) for name in _ENTRY_FIELDS
]
_CHECKIN_FIELDS = [f.attname for f in CheckIn._meta.concrete_fields]
_CHECKIN_ROW_FIELDS = ["listed_recorded_at" if name == "recorded_at" else name for name in _CHECKIN_FIELDS]
_EFFECT_FIELDS = ["kind", "severity", "description"]


def plans_with_states(patient: Patient) -> tuple[list[TitrationPlan], list[PlanStateChange]]:
    """The patient's plans and every state change, in one query (a plan comes once per change: outer join)."""
    rows = patient.plans.annotate(
        change_pk=F("state_changes__pk"),
        change_state=F("state_changes__state"),
        change_on=F("state_changes__effective_on"),
        change_at=F("state_changes__changed_at"),
        change_reason=F("state_changes__reason"),
    ).order_by("start_date", "created_at", "pk")
    plans: dict[int, TitrationPlan] = {}
    states = []
    for row in rows:
        plans.setdefault(row.pk, row)
        # The columns annotated above: the type of PlanQuerySet (a model's own queryset) drops annotations.
        pk, state, effective_on = row.change_pk, row.change_state, row.change_on  # type: ignore[attr-defined]  # annotated
        changed_at, reason = row.change_at, row.change_reason  # type: ignore[attr-defined]  # annotated
        if pk is not None:
            states.append(
                PlanStateChange(
                    pk=pk,
                    patient_id=patient.pk,
                    plan_id=row.pk,
                    state=state,
                    effective_on=effective_on,
                    changed_at=changed_at,
                    reason=reason,
                )
            )
    states.sort(key=lambda change: (change.effective_on, change.changed_at, change.pk))
    return list(plans.values()), states


def state_change_on(plan: TitrationPlan | None, states: list[PlanStateChange], day: datetime.date) -> Any:
    """The plan's state on ``day`` and the change that set it (None: titrating since the plan began)."""
    changes = [s for s in states if plan is not None and s.plan_id == plan.pk and s.effective_on <= day]
    if not changes:
        return rules.PlanState.TITRATING, None
    change = changes[-1]
    return rules.PlanState(change.state), change


@dataclass
class Record:
    """The patient's dose entries of the shown days and every check-in, as read once for the whole page.

    Rows, not model instances (a five-year chart holds 1,800 of them): ``as_entry`` and ``as_checkin`` make
    the few the history table lists into models, with their users.
    """

    entries: list[Any]  # live and voided, by day, of the shown days and the live one just before them
    checkins: list[Any]  # every check-in, live and voided, by day, each with its ``effects``
    first_entry_day: datetime.date | None  # of any entry, voided ones too (the history's first page)
    first_taken_day: datetime.date | None  # of a live taken dose (the response's start)
    last_taken: Any = None

    @property
    def live_entries(self) -> list[Any]:
        return [e for e in self.entries if e.voided_at is None]


def _user(pk: int | None, username: str | None) -> Any:
    return None if pk is None else get_user_model()(pk=pk, username=username or "")


def as_entry(row: Any) -> DoseEntry:
    """A listed entry as a model, with the names of the users who recorded and voided it."""
    values = list(row[: len(_ENTRY_FIELDS)])
    values[_POSITION_AT] = stored_position(row)
    entry = DoseEntry.from_db(DoseEntry.objects.db, _ENTRY_FIELDS, values)
    entry.recorded_by = _user(entry.recorded_by_id, row.recorded_by_name)
    entry.voided_by = _user(entry.voided_by_id, row.voided_by_name)
    return entry


def stored_position(row: Any) -> Any:
    """A listed entry's stored course position (``DoseEntry.course_after``), decoded."""
    return None if row.course_after_text is None else json.loads(row.course_after_text)


def as_checkin(row: Any) -> CheckIn:
    """A listed check-in as a model, with its users and its side effects (``listed_effects``)."""
    checkin = CheckIn.from_db(CheckIn.objects.db, _CHECKIN_FIELDS, row.fields)
    checkin.recorded_by = _user(checkin.recorded_by_id, row.recorded_by_name)
    checkin.voided_by = _user(checkin.voided_by_id, row.voided_by_name)
    checkin.listed_effects = row.effects  # type: ignore[attr-defined]  # for the page; not a column
    return checkin


def read_record(
    patient: Patient,
    ranges: list[tuple[datetime.date | None, datetime.date]],
    today: datetime.date,
    *,
    listed: tuple[datetime.date, datetime.date],
) -> Record:
    """Two queries: the entries of ``ranges`` (a None start: from the first), and every check-in.

    The entries of the ``listed`` days (the history's) are read whole, to be shown as models (``as_entry``).
    """
    live = DoseEntry.objects.live().filter(patient=patient)
    wanted = Q()
    for start, end in ranges:
        if start is None:
            wanted |= Q(taken_on__lte=end)
        else:
            # The live entry just before the range: where the course stood when the range began.
            before = live.filter(taken_on__lt=start).order_by("-taken_on").values("taken_on")[:1]
            wanted |= Q(taken_on__range=(start, end)) | Q(taken_on=Subquery(before), voided_at__isnull=True)
    first_any = DoseEntry.objects.filter(patient=patient).order_by("taken_on").values("taken_on")[:1]
    taken = live.filter(status=DoseStatus.TAKEN, taken_on__lte=today)
    rows = list(
        DoseEntry.objects.filter(patient=patient)
        .filter(wanted | Q(pk=Subquery(taken.order_by("-taken_on").values("pk")[:1])))
        .annotate(
            first_any=Subquery(first_any),
            first_taken=Subquery(taken.order_by("taken_on").values("taken_on")[:1]),
            recorded_by_name=F("recorded_by__username"),
            voided_by_name=F("voided_by__username"),
            course_after_text=Cast("course_after", TextField()),
            listed_recorded_at=Case(When(taken_on__range=listed, then=F("recorded_at"))),
        )
        .order_by("taken_on", "voided_at", "-recorded_at")
        .values_list(*_ROW_FIELDS, "first_any", "first_taken", "recorded_by_name", "voided_by_name", named=True)
    )
    last_taken = [e for e in rows if e.voided_at is None and e.status == DoseStatus.TAKEN and e.taken_on <= today]
    return Record(
        entries=rows,
        checkins=_read_checkins(patient, listed),
        first_entry_day=rows[0].first_any if rows else None,
        first_taken_day=rows[0].first_taken if rows else None,
        last_taken=last_taken[-1] if last_taken else None,
    )


@dataclass
class CheckInRow:
    fields: tuple[Any, ...]
    pk: int
    checked_on: datetime.date
    pain_score: int
    pgic: int | None
    voided_at: datetime.datetime | None
    recorded_by_name: str
    voided_by_name: str | None
    effects: list[SideEffect] = field(default_factory=list)


def _read_checkins(patient: Patient, listed: tuple[datetime.date, datetime.date]) -> list[CheckInRow]:
    """Every check-in of the patient with its side effects and users (one query: an outer join); when it was
    recorded only for those of the ``listed`` days (the history's, shown as models)."""
    rows = (
        CheckIn.objects.filter(patient=patient)
        .annotate(
            recorded_by_name=F("recorded_by__username"),
            voided_by_name=F("voided_by__username"),
            listed_recorded_at=Case(When(checked_on__range=listed, then=F("recorded_at"))),
        )
        .order_by("checked_on", "voided_at", "-recorded_at", "pk")
        .values_list(
            *_CHECKIN_ROW_FIELDS,
            "recorded_by_name",
            "voided_by_name",
            *(f"side_effects__{f}" for f in _EFFECT_FIELDS),
        )
    )
    checkins: dict[int, CheckInRow] = {}
    width = len(_CHECKIN_FIELDS)
    at = {name: _CHECKIN_FIELDS.index(name) for name in ("id", "checked_on", "pain_score", "pgic", "voided_at")}
    for row in rows:
        checkin = checkins.get(row[0])
        if checkin is None:
            checkin = CheckInRow(
                fields=row[:width],
                pk=row[at["id"]],
                checked_on=row[at["checked_on"]],
                pain_score=row[at["pain_score"]],
                pgic=row[at["pgic"]],
                voided_at=row[at["voided_at"]],
                recorded_by_name=row[width],
                voided_by_name=row[width + 1],
            )
            checkins[checkin.pk] = checkin
        kind, severity, description = row[width + 2 :]
        if kind is not None:
            checkin.effects.append(
                SideEffect(checkin_id=checkin.pk, kind=kind, severity=severity, description=description)
            )
    return list(checkins.values())


def flags_of_days(
    patient: Patient, entry_ranges: list[tuple[datetime.date, datetime.date]], checkin_range: tuple[Any, Any]
) -> tuple[list[Flag], list[Flag]]:
    """The flags of the patient's dose entries of ``entry_ranges`` and check-ins of ``checkin_range``, and
    every open flag of the patient, most severe then oldest first (one query for both). Each flag says whether
    it has comments (``has_comments``): the page reads the comments of those alone, most often none."""
    wanted = Q(checkin__checked_on__range=checkin_range)
    for start, end in entry_ranges:
        wanted |= Q(dose_entry__taken_on__range=(start, end))
    flags = list(
        Flag.objects.filter(patient=patient)
        .filter(wanted | Q(acknowledged_at__isnull=True))
        .annotate(
            of_the_days=ExpressionWrapper(wanted, output_field=BooleanField()),
            has_comments=Exists(FlagComment.objects.filter(flag=OuterRef("pk"))),
        )
        .order_by("-severity", "pk")
    )
    of_the_days = [flag for flag in flags if flag.of_the_days]  # type: ignore[attr-defined]  # annotated above
    still_open = sorted((f for f in flags if f.acknowledged_at is None), key=lambda f: (-f.severity, f.created_at))
    return of_the_days, still_open


@dataclass
class Resumed:
    """The patient-paced course at any day of the shown ones, resumed from the stored positions."""

    terms: list[rules.PlanTerms]
    gap_days: int
    live: list[Any] = field(default_factory=list)  # the live entries' rows, by day

    def expected_on(self, days: list[datetime.date]) -> dict[datetime.date, Decimal | None]:
        """The expected dose of each of ``days``: an entry's stored one, else resumed from the entry before."""
        by_day = {e.taken_on: e for e in self.live}
        ordered = sorted(days)
        before = [e for e in self.live if ordered and e.taken_on < ordered[0]]
        # The course is resumed only where a day has no entry, from the entry last seen: a five-year chart
        # has an entry on most days, and decoding every stored position would cost more than the chart.
        last = before[-1] if before else None
        walker: course.Course | None = None
        result: dict[datetime.date, Decimal | None] = {}
        for day in ordered:
            entry = by_day.get(day)
            if entry is not None:
                result[day] = entry.scheduled_dose_mg
                last, walker = entry, None
            else:
                if walker is None:
                    walker = self._from(last)
                result[day] = walker.context_on(day).expected
        return result

    def before(self, day: datetime.date) -> course.Course:
        """The course as it stands on ``day``, from the live entries before it."""
        earlier = [e for e in self.live if e.taken_on < day]
        return self._from(earlier[-1] if earlier else None)

    def _from(self, entry: Any) -> course.Course:
        position = course.Position.from_json(entry.course_after_text) if entry is not None else None
        return course.Course(self.terms, self.gap_days, position)


def response(record: Record, today: datetime.date) -> outcomes.Response:
    """Pain response since the first taken dose (IMMPACT classes, ``outcomes``), from the live check-ins."""
    readings = [
        outcomes.PainReading(c.checked_on, c.pain_score)
        for c in record.checkins
        if c.voided_at is None and c.checked_on <= today
    ]
    return outcomes.assess_response(readings, first_dose_day=record.first_taken_day, today=today)


@dataclass
class PageReads:
    """Everything the patient page shows of the record, read once (see the module)."""

    patient: Patient
    today: datetime.date
    plans: list[TitrationPlan]
    states: list[PlanStateChange]
    terms: list[rules.PlanTerms]
    record: Record
    flags: list[Flag]
    resumed: Resumed
    chart_start: datetime.date
    history_number: int
    history_start: datetime.date
    history_end: datetime.date
    open_flags: list[Flag] = field(default_factory=list)  # every open flag, most severe then oldest first
    history_pages: int = 1

    @property
    def first_record_day(self) -> datetime.date | None:
        """The first day of the record: its first entry, check-in or plan."""
        days = [
            self.record.first_entry_day,
            *(c.checked_on for c in self.record.checkins[:1]),
            *(plan.start_date for plan in self.plans),
        ]
        known = [d for d in days if d is not None]
        return min(known) if known else None


def _history_span(number: int, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    from .selectors import HISTORY_DAYS_PER_PAGE

    end = today - datetime.timedelta(days=(number - 1) * HISTORY_DAYS_PER_PAGE)
    return end - datetime.timedelta(days=HISTORY_DAYS_PER_PAGE - 1), end


def read_page(patient: Patient, today: datetime.date, *, chart_days: int | None, history_page: Any = 1) -> PageReads:
    """The page's reads: plans, entries, check-ins and flags (four queries; five for a page past the last)."""
    from .paging import clamp_page
    from .selectors import HISTORY_DAYS_PER_PAGE, plan_terms

    plans, states = plans_with_states(patient)
    terms = plan_terms(plans, states)
    chart_from = None if chart_days is None else today - datetime.timedelta(days=chart_days - 1)
    asked = clamp_page(history_page, 10**6)
    history_from, history_to = _history_span(asked, today)
    record = read_record(
        patient, [(chart_from, today), (history_from, history_to)], today, listed=(history_from, history_to)
    )
    reads = PageReads(
        patient=patient,
        today=today,
        plans=plans,
        states=states,
        terms=terms,
        record=record,
        flags=[],
        resumed=Resumed(terms, patient.clinic.restart_after_gap_days, record.live_entries),
        chart_start=chart_from or today,
        history_number=asked,
        history_start=history_from,
        history_end=history_to,
    )
    earliest = min(reads.first_record_day or today, today)
    if chart_from is None:
        reads.chart_start = earliest
    num_pages = max(1, -(-((today - earliest).days + 1) // HISTORY_DAYS_PER_PAGE))
    number = clamp_page(history_page, num_pages)
    if number != asked:  # a page past the last one: the last page's days are read again
        history_from, history_to = _history_span(number, today)
        extra = read_record(patient, [(history_from, history_to)], today, listed=(history_from, history_to))
        again = {e.id for e in extra.entries}  # read whole this time: the history lists them
        record.entries = sorted(
            [*(e for e in record.entries if e.id not in again), *extra.entries], key=lambda e: e.taken_on
        )
        record.checkins = extra.checkins
        reads.resumed.live = record.live_entries
    reads.history_number, reads.history_pages = number, num_pages
    reads.history_start, reads.history_end = max(history_from, earliest), history_to
    chart_range = (reads.chart_start, today)
    reads.flags, reads.open_flags = flags_of_days(
        patient, [chart_range, (history_from, history_to)], (history_from, history_to)
    )
    return reads


def summary(reads: PageReads) -> Any:
    """Current plan and state, last dose taken, the expected dose today and the next step (patient-paced)."""
    from .selectors import PatientSummary

    today = reads.today
    plan = next((p for p in reads.plans if p.is_active), None)
    resumed = reads.resumed.before(today)
    context = resumed.context_on(today)
    _, state_change = state_change_on(plan, reads.states, today)
    logged_today = any(e.taken_on == today for e in reads.resumed.live)
    return PatientSummary(
        plan=plan,
        last_dose=reads.record.last_taken,
        scheduled_today=context.expected if plan else None,
        next_step=resumed.next_step(today) if plan else None,
        state=context.state,
        state_change=state_change,
        restart_gap_days=context.restart_gap_days,
        course=resumed,
        # As on the dashboard: an entry logged today settles today's step-up.
        step_up_due=resumed.pending_step(today) if plan and not logged_today else None,
    )


def history(reads: PageReads) -> HistoryPage:
    """The history's page of days, newest first, with gaps and voids (no query: from the page's reads)."""
    from .selectors import HistoryDay, HistoryPage

    start, end = reads.history_start, reads.history_end
    by_entry: dict[int, list[Flag]] = defaultdict(list)
    by_checkin: dict[int, list[Flag]] = defaultdict(list)
    for flag in reads.flags:
        if flag.dose_entry_id is not None:
            by_entry[flag.dose_entry_id].append(flag)
        elif flag.checkin_id is not None:
            by_checkin[flag.checkin_id].append(flag)
    entries: dict[datetime.date, list[DoseEntry]] = defaultdict(list)
    for row in reads.record.entries:
        if start <= row.taken_on <= end:
            entry = as_entry(row)
            entry.listed_flags = by_entry.get(entry.pk, [])  # type: ignore[attr-defined]  # for the page
            entries[entry.taken_on].append(entry)
    checkins: dict[datetime.date, list[CheckIn]] = defaultdict(list)
    for checkin_row in reads.record.checkins:
        if start <= checkin_row.checked_on <= end:
            checkin = as_checkin(checkin_row)
            checkin.listed_flags = by_checkin.get(checkin.pk, [])  # type: ignore[attr-defined]  # for the page
            checkins[checkin.checked_on].append(checkin)
    span = [end - datetime.timedelta(days=i) for i in range((end - start).days + 1)]
    expected = reads.resumed.expected_on(span)
    days = []
    for day in span:
        history_day = HistoryDay(
            day=day,
            entries=entries.get(day, []),
            checkins=checkins.get(day, []),
            scheduled_mg=expected.get(day),
            in_plan=rules.plan_in_force(reads.terms, day) is not None,
        )
        if history_day.entries or history_day.checkins or history_day.in_plan:
            days.append(history_day)
    return HistoryPage(days=days, number=reads.history_number, num_pages=reads.history_pages, start=start, end=end)
