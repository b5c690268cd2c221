"""Reads for the titration pages: a fixed number of queries per page, whatever the history's length."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    F,
    FilteredRelation,
    JSONField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    Window,
)
from django.db.models.functions import Cast, Coalesce, JSONObject
from django.utils import timezone

from patients.models import Patient

from . import course, outcomes, rules
from .models import CheckIn, DoseEntry, DoseStatus, Flag, FlagComment, PlanStateChange, TitrationPlan
from .paging import PageNumbers

HISTORY_DAYS_PER_PAGE = 30
STALE_AFTER_DAYS = rules.STALE_AFTER_DAYS


def plan_terms(plans: list[TitrationPlan], states: list[PlanStateChange]) -> list[rules.PlanTerms]:
    """The plans as the rules see them, in the order that decides which was in force on a day."""
    by_plan: dict[int, list[tuple[datetime.date, rules.PlanState]]] = defaultdict(list)
    for change in states:
        by_plan[change.plan_id].append((change.effective_on, rules.PlanState(change.state)))
    terms = []
    previous: tuple[str, Decimal | None] | None = None
    for plan in sorted(plans, key=lambda p: (p.start_date, p.created_at, p.pk)):
        supply = (plan.formulation, plan.liquid_concentration_mg_per_ml)
        terms.append(
            rules.PlanTerms(
                plan_id=plan.pk,
                start_date=plan.start_date,
                starting_dose_mg=plan.starting_dose_mg,
                step_mg=plan.step_mg,
                step_interval_days=plan.step_interval_days,
                target_dose_mg=plan.target_dose_mg,
                last_day=timezone.localdate(plan.ended_at) if plan.ended_at else None,
                states=tuple(by_plan.get(plan.pk, ())),
                formulation=plan.formulation,
                set_on=timezone.localdate(plan.created_at),
                supply_change=rules.supply_change_note(previous, supply),
            )
        )
        previous = supply
    return terms


# The expected dose and the position after an entry, as stored: the position as its JSON text when read, so
# that a record of years costs no JSON decoding (only the few positions a write resumes from are decoded).
DerivedValues = tuple[Decimal | None, dict[str, object] | str | None]


@dataclass
class CourseFacts:
    """Everything the rules need about a patient's course: three queries, whatever its length.

    ``derived``: what each live entry stores of its re-assessment (expected dose, position after it), so that
    re-assessment writes only what changed.
    """

    entries: list[course.EntryFact]
    terms: list[rules.PlanTerms]
    plan_by_id: dict[int | None, TitrationPlan]
    gap_days: int
    derived: dict[int | None, DerivedValues] = field(default_factory=dict)
    flags: list[Flag] | None = None  # the dose flags, when read with the entries (``with_flags``)
    recent_from: datetime.date | None = None  # read from that day on: the flags of those entries only

    @property
    def complete(self) -> bool:
        """Whether ``entries`` are the whole record: read whole, or no live entry lies before ``recent_from``."""
        return self.recent_from is None or all(entry.day >= self.recent_from for entry in self.entries)

    def stored_position(self, entry: course.EntryFact) -> course.Position | None:
        """The course position stored with ``entry`` (None when none is)."""
        stored = self.derived.get(entry.id)
        return course.Position.from_json(stored[1]) if stored is not None and stored[1] else None


def course_facts(
    patient: Patient,
    plans: list[TitrationPlan] | None = None,
    *,
    with_flags: bool = False,
    recent_from: datetime.date | None = None,
) -> CourseFacts:
    """The course's facts: the plans with their states, and the live entries with what they store.

    ``with_flags`` adds the dose flags (for re-assessment), read with the entries. ``recent_from``: only the
    entries from that day on, and the one before it (whose stored position resumes the course): enough for a
    new dose, whatever the record's length (``CourseFacts.complete``: whether that is the whole record).
    """
    if plans is None:
        plans, states = _plans_with_states(patient)
    else:
        states = list(PlanStateChange.objects.filter(patient=patient).order_by("effective_on", "changed_at", "pk"))
    flags: list[Flag] | None = None
    if with_flags:
        rows, flags = _entries_with_flags(patient, recent_from)
    else:
        live = _live_entries(patient, recent_from)
        rows = list(live.annotate(**_STORED).values_list(*_ENTRY_COLUMNS))
    entries = []
    derived: dict[int | None, DerivedValues] = {}
    for pk, day, status, dose, expected, after, formulation in rows:
        entries.append(course.EntryFact(pk, day, status == DoseStatus.TAKEN, dose, formulation))
        derived[pk] = (expected, after)
    return CourseFacts(
        entries=entries,
        terms=plan_terms(plans, states),
        plan_by_id={plan.pk: plan for plan in plans},
        gap_days=patient.clinic.restart_after_gap_days,
        derived=derived,
        flags=flags,
        recent_from=recent_from,
    )


_STORED = {"after_text": Cast("course_after", TextField())}
_ENTRY_COLUMNS = ["pk", "taken_on", "status", "dose_mg", "scheduled_dose_mg", "after_text", "formulation"]
_FLAG_ATTNAMES = [f.attname for f in Flag._meta.concrete_fields]


def _entries_with_flags(
    patient: Patient, recent_from: datetime.date | None = None
) -> tuple[list[tuple[Any, ...]], list[Flag]]:
    """The live entries' rows and the flags of all the patient's dose entries, in one query.

    Every entry, voided ones too, outer-joined to its flags: re-assessment compares all of them (a voided
    entry's flag still open is closed). The join is to the patient's own flags, so that it reads them by the
    patient's index instead of scanning every flag. ``recent_from``: the live entries from that day on and
    the live entry before it (``course_facts``), with their flags.
    """
    own_flags = FilteredRelation("flags", condition=Q(flags__patient=patient))
    read = DoseEntry.objects.filter(patient=patient) if recent_from is None else _live_entries(patient, recent_from)
    rows = read.annotate(own_flags=own_flags, **_STORED).values_list(
        *_ENTRY_COLUMNS, "voided_at", *(f"own_flags__{name}" for name in _FLAG_ATTNAMES)
    )
    entries: list[tuple[Any, ...]] = []
    flags: list[Flag] = []
    seen: set[int] = set()
    width = len(_ENTRY_COLUMNS)
    for row in rows:
        if row[0] not in seen and row[width] is None:
            entries.append(row[:width])
        seen.add(row[0])
        flag_values = row[width + 1 :]
        if flag_values[0] is not None:
            flags.append(Flag.from_db(DoseEntry.objects.db, _FLAG_ATTNAMES, flag_values))
    return entries, flags


def _live_entries(patient: Patient, recent_from: datetime.date | None) -> QuerySet[DoseEntry]:
    """The patient's live entries; from ``recent_from`` on, and the one before it, when given."""
    live = DoseEntry.objects.live().filter(patient=patient)
    if recent_from is None:
        return live
    before = live.filter(taken_on__lt=recent_from).order_by("-taken_on").values("taken_on")[:1]
    # From the day of the entry before ``recent_from``: one range of the (patient, day) index.
    return live.filter(taken_on__gte=Coalesce(Subquery(before), Value(recent_from)))


def _plans_with_states(patient: Patient) -> tuple[list[TitrationPlan], list[PlanStateChange]]:
    """The patient's plans and their state changes in one query: a plan comes once per change (outer join)."""
    rows = patient.plans.annotate(
        change_pk=F("state_changes__pk"),
        change_state=F("state_changes__state"),
        change_on=F("state_changes__effective_on"),
        change_at=F("state_changes__changed_at"),
    ).order_by("pk")
    plans: dict[int, TitrationPlan] = {}
    states = []
    for row in rows:
        plans.setdefault(row.pk, row)
        # The columns annotated above: the type of PlanQuerySet (a model's own queryset) drops annotations.
        cols = row.change_pk, row.change_state, row.change_on, row.change_at  # type: ignore[attr-defined]  # annotated
        pk, state, effective_on, changed_at = cols
        if pk is not None:
            states.append(
                PlanStateChange(
                    pk=pk,
                    patient_id=patient.pk,
                    plan_id=row.pk,
                    state=state,
                    effective_on=effective_on,
                    changed_at=changed_at,
                )
            )
    states.sort(key=lambda change: (change.effective_on, change.changed_at, change.pk))
    return list(plans.values()), states


@dataclass
class PatientSummary:
    plan: TitrationPlan | None
    last_dose: DoseEntry | None
    scheduled_today: Decimal | None
    next_step: tuple[datetime.date, Decimal] | None
    state: rules.PlanState = rules.PlanState.TITRATING
    state_change: PlanStateChange | None = None
    restart_gap_days: int | None = None
    course: course.Course | None = None
    step_up_due: Decimal | None = None  # a step due today or overdue (the dashboard's step-up list)


def patient_summary(patient: Patient, today: datetime.date, plans: list[TitrationPlan] | None = None) -> PatientSummary:
    """Current plan and state, last dose taken, the expected dose today and the next step (patient-paced)."""
    if plans is None:
        plans = list(patient.plans.all())
    plan = next((p for p in plans if p.is_active), None)
    facts = course_facts(patient, plans)
    _, walked = course.walk([e for e in facts.entries if e.day < today], facts.terms, facts.gap_days)
    context = walked.context_on(today)
    last_dose = DoseEntry.objects.live().filter(patient=patient, status=DoseStatus.TAKEN).order_by("-taken_on").first()
    _, state_change = plan_state_now(plan, today)
    return PatientSummary(
        plan=plan,
        last_dose=last_dose,
        scheduled_today=context.expected if plan else None,
        next_step=walked.next_step(today) if plan else None,
        state=context.state,
        state_change=state_change,
        restart_gap_days=context.restart_gap_days,
        course=walked,
        # As on the dashboard: an entry logged today settles today's step-up.
        step_up_due=walked.pending_step(today) if plan and not any(e.day == today for e in facts.entries) else None,
    )


def plan_state_now(plan: TitrationPlan | None, today: datetime.date) -> tuple[rules.PlanState, PlanStateChange | None]:
    """The plan's state today and the change that set it (None: titrating since the plan began)."""
    if plan is None:
        return rules.PlanState.TITRATING, None
    change = (
        PlanStateChange.objects.filter(plan=plan, effective_on__lte=today)
        .select_related("changed_by")
        .order_by("-effective_on", "-changed_at", "-pk")
        .first()
    )
    return (rules.PlanState(change.state), change) if change else (rules.PlanState.TITRATING, None)


def expected_doses(
    patient: Patient, plans: list[TitrationPlan], days: list[datetime.date]
) -> dict[datetime.date, Decimal | None]:
    """The patient-paced expected dose of each day (the chart's and the history's scheduled column)."""
    facts = course_facts(patient, plans)
    wanted = sorted(days)
    result: dict[datetime.date, Decimal | None] = {}
    walker = course.Course(facts.terms, facts.gap_days)
    entries = sorted(facts.entries, key=lambda e: e.day)
    index = 0
    for day in wanted:
        while index < len(entries) and entries[index].day < day:
            walker.record(entries[index])
            index += 1
        result[day] = walker.context_on(day).expected
    return result


def first_record_day(patient: Patient, plans: list[TitrationPlan]) -> datetime.date | None:
    candidates = [
        DoseEntry.objects.filter(patient=patient).order_by("taken_on").values_list("taken_on", flat=True).first(),
        CheckIn.objects.filter(patient=patient).order_by("checked_on").values_list("checked_on", flat=True).first(),
        *(plan.start_date for plan in plans),
    ]
    days = [d for d in candidates if d is not None]
    return min(days) if days else None


@dataclass
class HistoryDay:
    day: datetime.date
    entries: list[DoseEntry] = field(default_factory=list)
    checkins: list[CheckIn] = field(default_factory=list)
    scheduled_mg: Decimal | None = None
    in_plan: bool = False

    @property
    def is_gap(self) -> bool:
        """A day in a plan's span with no live entry: nothing was recorded."""
        return self.in_plan and not any(not e.is_voided for e in self.entries)


@dataclass
class HistoryPage(PageNumbers):
    days: list[HistoryDay]
    start: datetime.date
    end: datetime.date


def dose_history(
    patient: Patient, today: datetime.date, page: Any = 1, plans: list[TitrationPlan] | None = None
) -> HistoryPage:
    """One page (``HISTORY_DAYS_PER_PAGE`` days, newest first) of doses and check-ins, with gaps and voids.

    A fixed number of queries whatever the history's length (``patient_reads``); ``plans`` is not needed.
    """
    from . import patient_reads

    reads = patient_reads.read_page(patient, today, chart_days=HISTORY_DAYS_PER_PAGE, history_page=page)
    return patient_reads.history(reads)


def response_for(patient: Patient, today: datetime.date) -> outcomes.Response:
    """Pain response to treatment since the first taken dose (IMMPACT classes, ``outcomes``).

    Four small queries whatever the history: the first taken dose, the last check-in on or before it, the
    first one after it, and the latest check-ins from 14 days after it (one a day at most, so the last 15 hold
    the whole 14-day window and at least the two the rule needs).
    """
    first_dose_day = (
        DoseEntry.objects.live()
        .filter(patient=patient, status=DoseStatus.TAKEN, taken_on__lte=today)
        .order_by("taken_on")
        .values_list("taken_on", flat=True)
        .first()
    )
    if first_dose_day is None:
        return outcomes.assess_response([], first_dose_day=None, today=today)
    live = CheckIn.objects.live().filter(patient=patient, checked_on__lte=today).values_list("checked_on", "pain_score")
    effect_from = first_dose_day + datetime.timedelta(days=outcomes.EFFECT_AFTER_DAYS)
    rows = [
        live.filter(checked_on__lte=first_dose_day).order_by("-checked_on").first(),
        live.filter(checked_on__gt=first_dose_day).order_by("checked_on").first(),
        *live.filter(checked_on__gte=effect_from).order_by("-checked_on")[: outcomes.CURRENT_WINDOW_DAYS + 1],
    ]
    readings = {outcomes.PainReading(*row) for row in rows if row}
    return outcomes.assess_response(list(readings), first_dose_day=first_dose_day, today=today)


def open_flags(user: Any) -> QuerySet[Flag]:
    return Flag.objects.visible_to(user).filter(acknowledged_at__isnull=True)


FLAG_SEVERITY_FILTERS = {s.name.lower(): s.value for s in rules.Severity}
FLAG_KIND_FILTERS = {k.value for k in rules.FlagKind}


def flag_queue(user: Any, *, severity: str | None = None, kind: str | None = None) -> QuerySet[Flag]:
    """Unacknowledged flags of the user's clinics, grouped by patient: the patient with the most severe flag
    first (critical first, then oldest first), and within a patient, most severe then oldest first.

    Each flag carries ``patient_open``: how many of the listed flags are its patient's (the group's count, also
    on the pages it continues on). ``severity`` and ``kind`` are checked against an allowlist; an unknown value
    filters nothing.
    """
    # The patients and entries of the listed page only: joined, they were read for every open flag before the
    # window functions, the sort and the page's limit (half of the queue's time at ten clinics).
    flags = open_flags(user).prefetch_related(
        "patient", "dose_entry", Prefetch("comments", queryset=FlagComment.objects.select_related("written_by"))
    )
    if severity in FLAG_SEVERITY_FILTERS:
        flags = flags.filter(severity=FLAG_SEVERITY_FILTERS[severity])
    if kind in FLAG_KIND_FILTERS:
        flags = flags.filter(kind=kind)
    # Windows over the filtered flags: a patient's group is what the filters leave of their open flags.
    by_patient = [F("patient_id")]
    return flags.annotate(
        patient_severity=Window(Max("severity"), partition_by=by_patient),
        patient_since=Window(Min("created_at"), partition_by=by_patient),
        patient_open=Window(Count("pk"), partition_by=by_patient),
    ).order_by("-patient_severity", "patient_since", "patient_id", "-severity", "created_at", "pk")


def open_info_flags_by_patient(user: Any, patients: list[Patient]) -> list[tuple[Patient, int]]:
    """For the queue's "acknowledge all info flags" action: each listed patient's open info flags, how many."""
    distinct = list({p.pk: p for p in patients}.values())
    if not distinct:
        return []
    counts = dict(
        open_flags(user)
        .filter(patient__in=[p.pk for p in distinct], severity=rules.Severity.INFO)
        .values_list("patient_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [(p, counts[p.pk]) for p in distinct if counts.get(p.pk)]


@dataclass
class Dashboard:
    """The worklist: open flags by severity, then the patients who need someone today."""

    open_flags_by_severity: list[tuple[str, int]]
    due_step_up: list[tuple[Patient, Decimal]]  # a step due or overdue, and no entry logged today
    # On a plan, and the last taken dose is STALE_AFTER_DAYS or more days old (its day; None: none taken yet).
    stale: list[tuple[Patient, datetime.date | None]]
    adherence: list[Patient] = field(default_factory=list)  # an open "missed doses" warning
    critical: list[tuple[Patient, int]] = field(default_factory=list)  # open critical flags, how many


@dataclass(frozen=True)
class CourseToday:
    """Where one patient on an active plan stands today (the dashboard's and the worklist's rows)."""

    patient_id: int
    formulation: str
    expected: Decimal | None  # the patient-paced expected dose today (None: nothing expected)
    step_up: Decimal | None  # a step due today or overdue, and no entry logged today
    logged_today: bool  # a live entry (taken or missed) is recorded for today
    last_taken_on: datetime.date | None
    stale: bool  # on the plan STALE_AFTER_DAYS or more days, and no dose taken for as long


def courses_today(user: Any, today: datetime.date) -> dict[int, CourseToday]:
    """Each visible active patient's course today, by patient id, from one query whatever the clinic's size.

    One light row per active plan with the plan's numbers, its state today and the patient's latest entry
    (the course position stored with it, ``course.Position``), from which each course is resumed for today
    without reading its history. Paused and stopped plans and plans that start later expect nothing: left out.
    """
    live = DoseEntry.objects.live().filter(patient=OuterRef("patient")).order_by("-taken_on")
    # The latest entry's three columns in one probe of the index, not three.
    # The expected dose as text: a JSON number would come back as a float.
    expected_text = Cast("scheduled_dose_mg", TextField())
    latest = live.values(entry=JSONObject(on="taken_on", after="course_after", expected=expected_text))
    state_today = PlanStateChange.objects.filter(plan=OuterRef("pk"), effective_on__lte=today).order_by(
        "-effective_on", "-changed_at", "-pk"
    )
    rows = (
        TitrationPlan.objects.visible_to(user)
        .filter(is_active=True, patient__is_active=True)
        .order_by()  # a dict by patient: the plans' default order would only sort them
        .annotate(
            latest=Subquery(latest[:1], output_field=JSONField()),
            last_taken_on=Subquery(live.filter(status=DoseStatus.TAKEN).values("taken_on")[:1]),
            state=Subquery(state_today.values("state")[:1]),
        )
        .values_list(
            "pk",
            "patient_id",
            "start_date",
            "starting_dose_mg",
            "step_mg",
            "step_interval_days",
            "target_dose_mg",
            "formulation",
            "patient__clinic__restart_after_gap_days",
            "latest",
            "last_taken_on",
            "state",
        )
    )
    stale_on = today - datetime.timedelta(days=STALE_AFTER_DAYS)
    courses: dict[int, CourseToday] = {}
    for row in rows:
        plan_id, patient_id, start, starting, step, interval, target, formulation, gap, latest, taken_on, state = row
        latest_on, after, latest_expected = _latest_entry(latest)
        plan_state = rules.PlanState(state or rules.PlanState.TITRATING)
        if start > today or plan_state in (rules.PlanState.PAUSED, rules.PlanState.STOPPED):
            continue
        expected, step_up = latest_expected, None
        if latest_on != today:  # an entry logged today settles the day, and takes the patient off step-ups
            terms = rules.PlanTerms(plan_id, start, starting, step, interval, target, states=((today, plan_state),))
            resumed = course.Course([terms], gap, course.Position.from_json(after))
            expected, step_up = resumed.context_on(today).expected, resumed.pending_step(today)
        courses[patient_id] = CourseToday(
            patient_id=patient_id,
            formulation=formulation,
            expected=expected,
            step_up=step_up,
            logged_today=latest_on == today,
            last_taken_on=taken_on,
            stale=start <= stale_on and (taken_on is None or taken_on <= stale_on),
        )
    return courses


def _latest_entry(
    latest: dict[str, Any] | None,
) -> tuple[datetime.date | None, dict[str, object] | str | None, Decimal | None]:
    """The latest entry's day, stored position and expected dose, from ``courses_today``'s JSON object (SQLite's
    ``json_object`` nests the position as its JSON text, which ``Position.from_json`` reads too)."""
    if not latest:
        return None, None, None
    expected = latest.get("expected")
    return (
        datetime.date.fromisoformat(latest["on"]),
        latest.get("after"),
        None if expected is None else Decimal(expected),
    )


def flagged_patients(user: Any) -> tuple[dict[int, int], set[int]]:
    """The visible patients with open critical flags (how many) and those with an open missed-doses warning."""
    flagged = (
        open_flags(user)
        .filter(Q(kind=rules.FlagKind.ADHERENCE) | Q(severity=rules.Severity.CRITICAL))
        .values("patient_id")
        .annotate(
            critical=Count("pk", filter=Q(severity=rules.Severity.CRITICAL)),
            adherence=Count("pk", filter=Q(kind=rules.FlagKind.ADHERENCE)),
        )
        .order_by()
    )
    critical_counts: dict[int, int] = {}
    adherence_ids: set[int] = set()
    for row in flagged:
        if row["critical"]:
            critical_counts[row["patient_id"]] = row["critical"]
        if row["adherence"]:
            adherence_ids.add(row["patient_id"])
    return critical_counts, adherence_ids


def dashboard(user: Any, today: datetime.date) -> Dashboard:
    """The dashboard's worklist from the same patient-paced engine as the patient page.

    A fixed number of queries whatever the clinic's size: the flag counts; the courses today
    (``courses_today``); the patients with open "missed doses" or critical flags; and the few patients listed.
    """
    counts = dict(open_flags(user).values_list("severity").annotate(n=Count("pk")).order_by())
    by_severity = [(s.name.lower(), counts.get(s.value, 0)) for s in sorted(rules.Severity, reverse=True)]

    courses = courses_today(user, today)
    due_doses = {pid: c.step_up for pid, c in courses.items() if c.step_up is not None}
    stale_ids = {pid: c.last_taken_on for pid, c in courses.items() if c.stale}
    critical_counts, adherence_ids = flagged_patients(user)

    wanted = due_doses.keys() | stale_ids.keys() | critical_counts.keys() | adherence_ids
    patients = list(Patient.objects.filter(pk__in=wanted).order_by("family_name", "given_name", "pk")) if wanted else []
    return Dashboard(
        open_flags_by_severity=by_severity,
        due_step_up=[(p, due_doses[p.pk]) for p in patients if p.pk in due_doses],
        stale=[(p, stale_ids[p.pk]) for p in patients if p.pk in stale_ids],
        adherence=[p for p in patients if p.pk in adherence_ids],
        critical=[(p, critical_counts[p.pk]) for p in patients if p.pk in critical_counts],
    )


@dataclass(frozen=True)
class PlanHistoryRow:
    plan: TitrationPlan
    supply_change: str  # how its formulation or concentration differs from the plan before it, or ""


def plan_history(patient: Patient) -> list[PlanHistoryRow]:
    """Every plan of the patient, newest first, each with its change of formulation or concentration from
    the plan before it ("concentration changed from 1 mg/mL to 0.5 mg/mL: the same mL is now half the dose")."""
    plans = list(patient.plans.select_related("created_by", "ended_by").order_by("start_date", "created_at", "pk"))
    rows = []
    previous: tuple[str, Decimal | None] | None = None
    for plan in plans:
        supply = (plan.formulation, plan.liquid_concentration_mg_per_ml)
        rows.append(PlanHistoryRow(plan=plan, supply_change=rules.supply_change_note(previous, supply)))
        previous = supply
    return rows[::-1]
