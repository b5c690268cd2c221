"""The patient-paced course: the expected dose of each day, and the flags a whole record derives.

Pure functions of plain values, like ``rules``. The expected dose comes from the plan *and what the patient
actually took* (clinical reference, "Titration" and "Restarting and holding"):

* a step falls due ``step_interval_days`` after the patient reached the current step, and stays due until
  the step dose is taken (it never jumps more than one step ahead of the patient);
* a dose taken beyond the current step moves the patient there; a patient below the step is expected
  one plan step above the last accepted dose, never more;
* holding keeps the patient's current dose; paused and stopped expect nothing;
* after a gap of ``restart_after_gap_days`` or more days with no accepted dose, the plan restarts at its
  starting dose;
* an accepted dose is a live taken dose that is not a likely slip (critical): a slip is never the reference
  for the next day.

Where the patient stands after an entry (:class:`Position`) is stored with the entry, so that a page that lists
many patients (the dashboard) resumes each course from its latest entry instead of walking every history.
"""

from __future__ import annotations

import bisect
import datetime
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .rules import (
    DoseContext,
    Finding,
    FlagKind,
    PlanState,
    PlanTerms,
    Severity,
    dose_findings,
    format_dose,
    format_number,
    formulation_mismatch_finding,
    plan_in_force,
    supply_change_finding,
)

ADHERENCE_RUN_DAYS = 3
# The version of the rules a stored position was derived by: raise it with any change to how the course walks,
# so that a patient's first write after it re-walks the whole record instead of resuming from stale positions.
COURSE_RULES_VERSION = 2
# Findings that a run of consecutive days turns into one flag (alert fatigue: few, specific flags).
RUN_KINDS = frozenset({FlagKind.OFF_SCHEDULE, FlagKind.TAKEN_WHILE_OFF})


@dataclass(frozen=True)
class EntryFact:
    """A live dose entry as the rules see it."""

    id: int | None
    day: datetime.date
    taken: bool
    dose: Decimal | None
    formulation: str = ""  # "" when unknown: no formulation note


@dataclass(frozen=True)
class Position:
    """Where the patient stands on the plan after an entry: all a course needs to go on from there.

    ``plan_id``: the plan the level belongs to (None before any plan); ``level``: the step the patient is on
    or is due to take; ``reached_on``: when the patient first took it (None while it is still to be taken);
    ``previous_on``/``previous_mg``: the last accepted taken dose; ``awaiting_step``: a step fell due and the
    patient has not taken it yet.
    """

    plan_id: int | None = None
    level: Decimal | None = None
    reached_on: datetime.date | None = None
    previous_on: datetime.date | None = None
    previous_mg: Decimal | None = None
    awaiting_step: bool = False
    rules_version: int | None = COURSE_RULES_VERSION  # None: stored before positions carried a version

    def as_json(self) -> dict[str, object]:
        previous = None
        if self.previous_on is not None and self.previous_mg is not None:
            previous = [self.previous_on.isoformat(), format_number(self.previous_mg)]
        return {
            "plan": self.plan_id,
            "level": None if self.level is None else format_number(self.level),
            "reached": None if self.reached_on is None else self.reached_on.isoformat(),
            "previous": previous,
            "awaiting": self.awaiting_step,
            "version": self.rules_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, object] | str | None) -> Position:
        """The position ``as_json`` gave, as stored: its data, or its JSON text (a read that skipped decoding)."""
        if isinstance(data, str):
            return cls.from_json(json.loads(data))
        if not data:
            return cls()
        plan, previous = data.get("plan"), data.get("previous")
        level, reached, version = data.get("level"), data.get("reached"), data.get("version")
        return cls(
            plan_id=plan if isinstance(plan, int) else None,
            level=None if level is None else Decimal(str(level)),
            reached_on=None if reached is None else datetime.date.fromisoformat(str(reached)),
            previous_on=datetime.date.fromisoformat(previous[0]) if isinstance(previous, list) else None,
            previous_mg=Decimal(previous[1]) if isinstance(previous, list) else None,
            awaiting_step=bool(data.get("awaiting")),
            rules_version=version if isinstance(version, int) else None,
        )

    @property
    def current(self) -> bool:
        """Whether the position was derived by today's rules, so a course may resume from it."""
        return self.rules_version == COURSE_RULES_VERSION


@dataclass(frozen=True)
class AssessedEntry:
    entry: EntryFact
    context: DoseContext
    findings: tuple[Finding, ...]
    accepted: bool
    after: Position = Position()


@dataclass(frozen=True)
class DerivedFlag:
    entry_id: int | None
    kind: FlagKind
    severity: Severity
    message: str


def _day(day: datetime.date) -> str:
    return f"{day:%-d %b %Y}"


class Course:
    """Walks a patient's live entries in date order, keeping where the patient is on the plan."""

    def __init__(
        self, plans: Sequence[PlanTerms], restart_after_gap_days: int, position: Position | None = None
    ) -> None:
        self.plans = list(plans)
        self.gap_days = restart_after_gap_days
        self.plan_id: int | bool | None = False  # False: no plan entered yet
        self.level: Decimal | None = None
        self.reached_on: datetime.date | None = None
        self.previous: tuple[datetime.date, Decimal] | None = None
        self.awaiting_step = False
        if position is not None:
            self.plan_id = False if position.plan_id is None else position.plan_id
            self.level, self.reached_on = position.level, position.reached_on
            if position.previous_on is not None and position.previous_mg is not None:
                self.previous = (position.previous_on, position.previous_mg)
            self.awaiting_step = position.awaiting_step

    def position(self) -> Position:
        """Where the patient stands now; ``Course(plans, gap, course.position())`` goes on identically."""
        prev_day, prev_dose = self.previous if self.previous else (None, None)
        return Position(
            plan_id=None if self.plan_id is False else self.plan_id,
            level=self.level,
            reached_on=self.reached_on,
            previous_on=prev_day,
            previous_mg=prev_dose,
            awaiting_step=self.awaiting_step,
        )

    def _position(self, day: datetime.date) -> tuple[DoseContext, Decimal | None, datetime.date | None, bool]:
        """The day's context, and the level and reached day that hold once a step due that day is taken."""
        plan = plan_in_force(self.plans, day)
        prev_day, prev_dose = self.previous if self.previous else (None, None)
        since = (day - prev_day).days if prev_day else None
        if plan is None:
            context = DoseContext(previous=prev_dose, days_since_previous=since, is_first=self.previous is None)
            return context, None, None, False
        state = plan.state_on(day)
        level, reached = self.level, self.reached_on
        if plan.plan_id != self.plan_id or level is None:
            recent = prev_day is not None and (plan.start_date - prev_day).days - 1 < self.gap_days
            if recent and prev_dose is not None and plan.on_path(prev_dose):
                level, reached = prev_dose, plan.start_date
            else:
                level, reached = plan.starting_dose_mg, None
        gap = since - 1 if since is not None else None
        restart = gap is not None and gap >= self.gap_days
        if restart:
            level, reached = plan.starting_dose_mg, None
        expected: Decimal | None
        step_due = False
        if state in (PlanState.PAUSED, PlanState.STOPPED):
            expected = None
        elif restart:
            expected = plan.starting_dose_mg
        elif state == PlanState.HOLDING:
            expected = prev_dose if prev_dose is not None else level
        else:
            step_due = (
                reached is not None
                and (day - reached).days >= plan.step_interval_days
                and level != plan.target_dose_mg
                and plan.step_mg > 0
            )
            expected = plan.toward_target(level) if step_due else level
            back_up = self._back_up(plan, prev_dose)
            if back_up is not None and plan.beyond(expected, back_up):
                expected = back_up
        if step_due:
            level, reached = expected, None
        context = DoseContext(
            plan=plan,
            state=state,
            expected=expected,
            previous=prev_dose,
            days_since_previous=since,
            is_first=self.previous is None,
            restart_gap_days=gap if restart and state not in (PlanState.PAUSED, PlanState.STOPPED) else None,
        )
        return context, level, reached, step_due

    def _back_up(self, plan: PlanTerms, prev_dose: Decimal | None) -> Decimal | None:
        """The most a patient who went below the step may be expected to take next, or None (no limit).

        One plan step above the last accepted dose, never a jump back to the old level; from a dose below the
        plan's starting dose (an out-of-range dose the prescriber confirmed), the starting dose.
        """
        if prev_dose is None or plan.plan_id != self.plan_id:
            return None
        if plan.on_path(prev_dose):
            return plan.toward_target(prev_dose)
        if plan.beyond(plan.starting_dose_mg, prev_dose):
            return plan.starting_dose_mg
        return None

    def context_on(self, day: datetime.date) -> DoseContext:
        return self._position(day)[0]

    def pending_step(self, day: datetime.date) -> Decimal | None:
        """The dose of a step that is due on ``day`` or overdue (fell due and not taken yet), else None.

        Only while titrating on the plan the patient is on, and not on a restart after a gap.
        """
        context, _, _, step_due = self._position(day)
        plan = context.plan
        if plan is None or context.state != PlanState.TITRATING or context.restart_gap_days is not None:
            return None
        if step_due or (self.awaiting_step and plan.plan_id == self.plan_id):
            return context.expected
        return None

    def next_step(self, day: datetime.date) -> tuple[datetime.date, Decimal] | None:
        """When the next step falls due if the patient keeps to the expected dose, and its dose."""
        context, level, reached, _ = self._position(day)
        plan = context.plan
        if plan is None or context.state != PlanState.TITRATING or level is None or plan.step_mg == 0:
            return None
        if level == plan.target_dose_mg:
            return None
        start = reached if reached is not None else day
        return max(start + datetime.timedelta(days=plan.step_interval_days), day), plan.toward_target(level)

    def record(self, entry: EntryFact) -> AssessedEntry:
        context, level, reached, step_due = self._position(entry.day)
        if not entry.taken or entry.dose is None:
            return AssessedEntry(entry, context, (), False, self.position())
        findings = tuple(dose_findings(entry.dose, context))
        accepted = not any(f.severity == Severity.CRITICAL for f in findings)
        if not accepted:
            return AssessedEntry(entry, context, findings, False, self.position())
        plan = context.plan
        dose = entry.dose
        awaiting = False
        if plan is not None and context.state == PlanState.TITRATING and level is not None:
            continuing = plan.plan_id == self.plan_id and context.restart_gap_days is None
            if plan.beyond(dose, level):
                level, reached = (dose if plan.on_path(dose) else plan.target_dose_mg), entry.day
            elif dose == level and reached is None:
                reached = entry.day
            else:
                # The step stays due until the patient takes it.
                awaiting = reached is None and (step_due or (continuing and self.awaiting_step))
        elif plan is not None and context.state == PlanState.HOLDING:
            level, reached = (dose if plan.on_path(dose) else level), None
        if plan is not None:
            self.plan_id, self.level, self.reached_on = plan.plan_id, level, reached
            self.awaiting_step = awaiting
        self.previous = (entry.day, dose)
        return AssessedEntry(entry, context, findings, True, self.position())


def walk(
    entries: Sequence[EntryFact], plans: Sequence[PlanTerms], restart_after_gap_days: int
) -> tuple[list[AssessedEntry], Course]:
    """Assess every live entry in date order; the course is left after the last one."""
    course = Course(plans, restart_after_gap_days)
    assessed = [course.record(entry) for entry in sorted(entries, key=lambda e: e.day)]
    return assessed, course


StoredPosition = Callable[[EntryFact], Position | None]


def resume_before(
    entries: Sequence[EntryFact],
    plans: Sequence[PlanTerms],
    restart_after_gap_days: int,
    day: datetime.date,
    stored: StoredPosition,
) -> Course:
    """The course just before ``day``: resumed from the position stored with the entry before it, or walked
    from the start when that position is missing or was derived by other rules (a backfill sees only its own
    past)."""
    ordered = sorted(entries, key=lambda e: e.day)
    index = bisect.bisect_left(ordered, day, key=lambda e: e.day)
    resumed = _course_before(ordered, index, plans, restart_after_gap_days, stored, complete=True)
    return resumed if resumed is not None else walk(ordered[:index], plans, restart_after_gap_days)[1]


def resume_from_part(
    latest: Sequence[EntryFact],
    plans: Sequence[PlanTerms],
    restart_after_gap_days: int,
    day: datetime.date,
    stored: StoredPosition,
) -> Course | None:
    """As ``resume_before``, from only the ``latest`` entries of a record; None when they do not say where the
    course stood before ``day`` (read the whole record)."""
    ordered = sorted(latest, key=lambda e: e.day)
    index = bisect.bisect_left(ordered, day, key=lambda e: e.day)
    return _course_before(ordered, index, plans, restart_after_gap_days, stored, complete=False)


@dataclass(frozen=True)
class Reassessment:
    """The entries a change on some day can alter, re-assessed, and the flags of exactly those entries."""

    assessed: list[AssessedEntry]
    flags: list[DerivedFlag]

    @property
    def entry_ids(self) -> set[int | None]:
        return {item.entry.id for item in self.assessed}


def reassess_since(
    entries: Sequence[EntryFact],
    plans: Sequence[PlanTerms],
    restart_after_gap_days: int,
    since: datetime.date,
    stored: StoredPosition,
    *,
    complete: bool = True,
) -> Reassessment | None:
    """What a change of the record on ``since`` (a new entry that day) alters, without walking the whole course.

    The walk is causal, so the entries before ``since`` keep their assessment; each is resumed from the
    position stored with the entry before it. The entries from ``since`` on are walked again, and so are the
    days before them that form one run with them (a run's single flag sits on its first day and names its
    last, ``derive_flags``). ``complete``: False when ``entries`` are only the latest part of the record.
    None when a stored position needed is missing or stale, or lies before the part given: walk everything.
    """
    ordered = sorted(entries, key=lambda e: e.day)
    start = bisect.bisect_left(ordered, since, key=lambda e: e.day)
    walker = _course_before(ordered, start, plans, restart_after_gap_days, stored, complete)
    if walker is None:
        return None
    assessed = [walker.record(entry) for entry in ordered[start:]]
    while start > 0 and assessed and (assessed[0].entry.day - ordered[start - 1].day).days == 1:
        before = _course_before(ordered, start - 1, plans, restart_after_gap_days, stored, complete)
        if before is None:
            return None
        previous = before.record(ordered[start - 1])
        if not _one_run(previous, assessed[0]):
            break
        assessed.insert(0, previous)
        start -= 1
    changing = {plan.plan_id for item in assessed if (plan := item.context.plan) is not None and plan.supply_change}
    dosed = _plans_dosed(ordered[:start], plans, changing, complete)
    if dosed is None:
        return None
    return Reassessment(assessed, derive_flags(assessed, dosed_plans=dosed))


def _course_before(
    ordered: Sequence[EntryFact],
    index: int,
    plans: Sequence[PlanTerms],
    restart_after_gap_days: int,
    stored: StoredPosition,
    complete: bool,
) -> Course | None:
    """The course before ``ordered[index]`` from the stored position of the entry before it; None if unusable.

    Before the first entry, the course starts afresh, if the entries are the whole record."""
    if index == 0:
        return Course(plans, restart_after_gap_days) if complete else None
    position = stored(ordered[index - 1])
    if position is None or not position.current:
        return None
    return Course(plans, restart_after_gap_days, position)


def _one_run(earlier: AssessedEntry, later: AssessedEntry) -> bool:
    """Whether two entries of consecutive days belong to one run that ``derive_flags`` turns into one flag."""
    return any(test(earlier) and test(later) for test in (_is_off, _is_taken_while_off, _is_missed))


def _plans_dosed(
    before: Sequence[EntryFact], plans: Sequence[PlanTerms], changing: set[int | None], complete: bool
) -> set[int | None] | None:
    """Which of the plans that change the supply (``changing``) were in force on a taken day ``before``: their
    supply-change note is already on that day's entry. None when ``before`` is not the whole record and a plan
    was in force before its first day (the answer may lie before it)."""
    dosed: set[int | None] = set()
    for entry in before:
        if changing - dosed and entry.taken:
            plan = plan_in_force(plans, entry.day)
            if plan is not None and plan.plan_id in changing:
                dosed.add(plan.plan_id)
    if complete or not changing - dosed:
        return dosed
    first_day = before[0].day
    if any(plan.start_date <= first_day for plan in plans if plan.plan_id in changing - dosed):
        return None
    return dosed


def derive_flags(assessed: Sequence[AssessedEntry], dosed_plans: Collection[int | None] = ()) -> list[DerivedFlag]:
    """The flags the record supports: one per finding, except runs.

    * consecutive days that differ from the expected dose are one info flag, on the run's first entry;
    * consecutive days taken while the plan is paused or stopped are one warning, on the first;
    * ``ADHERENCE_RUN_DAYS`` or more consecutive missed days are one adherence warning, on the first.

    ``dosed_plans``: plans already dosed before these entries (a part of the record, ``reassess_since``).
    """
    flags: list[DerivedFlag] = []
    ordered = sorted(assessed, key=lambda a: a.entry.day)
    off_run: list[AssessedEntry] = []
    while_off_run: list[AssessedEntry] = []
    missed_run: list[AssessedEntry] = []

    def close_runs(upto: AssessedEntry | None) -> None:
        nonlocal off_run, while_off_run, missed_run
        if off_run and not _continues(off_run, upto, _is_off):
            flags.append(_off_schedule_flag(off_run))
            off_run = []
        if while_off_run and not _continues(while_off_run, upto, _is_taken_while_off):
            flags.append(_taken_while_off_flag(while_off_run))
            while_off_run = []
        if missed_run and not _continues(missed_run, upto, _is_missed):
            if len(missed_run) >= ADHERENCE_RUN_DAYS:
                flags.append(_adherence_flag(missed_run))
            missed_run = []

    dosed = set(dosed_plans)
    for item in ordered:
        close_runs(item)
        for finding in item.findings:
            if finding.kind not in RUN_KINDS:
                flags.append(DerivedFlag(item.entry.id, finding.kind, finding.severity, finding.message))
        for note in _supply_notes(item, dosed):
            flags.append(DerivedFlag(item.entry.id, note.kind, note.severity, note.message))
        if _is_off(item):
            off_run.append(item)
        if _is_taken_while_off(item):
            while_off_run.append(item)
        if _is_missed(item):
            missed_run.append(item)
    close_runs(None)
    return flags


def _is_off(item: AssessedEntry) -> bool:
    return any(f.kind == FlagKind.OFF_SCHEDULE for f in item.findings)


def _is_taken_while_off(item: AssessedEntry) -> bool:
    return any(f.kind == FlagKind.TAKEN_WHILE_OFF for f in item.findings)


def _is_missed(item: AssessedEntry) -> bool:
    """A missed day counts against adherence, except while the prescriber has paused or stopped the plan."""
    off = item.context.plan is not None and item.context.state in (PlanState.PAUSED, PlanState.STOPPED)
    return not item.entry.taken and not off


def _continues(run: list[AssessedEntry], item: AssessedEntry | None, test: Callable[[AssessedEntry], bool]) -> bool:
    return item is not None and (item.entry.day - run[-1].entry.day).days == 1 and test(item)


def _run_flag(run: list[AssessedEntry], kind: FlagKind, severity: Severity, summary: str) -> DerivedFlag:
    """One flag for a run of days on its first entry: the day's own message, or ``summary`` for several days."""
    first = run[0]
    message = next(f.message for f in first.findings if f.kind == kind) if len(run) == 1 else summary
    return DerivedFlag(first.entry.id, kind, severity, message)


def _span(run: list[AssessedEntry], noun: str) -> str:
    return f"{len(run)} consecutive {noun} ({_day(run[0].entry.day)} – {_day(run[-1].entry.day)})"


def _off_schedule_flag(run: list[AssessedEntry]) -> DerivedFlag:
    last = run[-1]
    summary = (
        f"{_span(run, 'days')} differ from the expected dose; latest {format_dose(last.entry.dose)} "
        f"instead of {format_dose(last.context.expected)}."
    )
    return _run_flag(run, FlagKind.OFF_SCHEDULE, Severity.INFO, summary)


def _taken_while_off_flag(run: list[AssessedEntry]) -> DerivedFlag:
    last = run[-1]
    summary = (
        f"{_span(run, 'doses')} taken while the plan is {last.context.state.value}; latest "
        f"{format_dose(last.entry.dose)}. If the patient has restarted, resume the plan; otherwise check why."
    )
    return _run_flag(run, FlagKind.TAKEN_WHILE_OFF, Severity.WARNING, summary)


def _adherence_flag(run: list[AssessedEntry]) -> DerivedFlag:
    first, last = run[0].entry.day, run[-1].entry.day
    return DerivedFlag(
        run[0].entry.id,
        FlagKind.ADHERENCE,
        Severity.WARNING,
        f"{len(run)} consecutive missed doses ({_day(first)} – {_day(last)}).",
    )


@dataclass(frozen=True)
class ProjectedDay:
    """A coming day of the course: the dose to take (None: none expected) and the plan's state that day."""

    day: datetime.date
    dose: Decimal | None
    state: PlanState | None  # None: no plan in force


def projected_schedule(
    plans: Sequence[PlanTerms],
    restart_after_gap_days: int,
    position: Position,
    start: datetime.date,
    days: int,
) -> list[ProjectedDay]:
    """The expected dose of ``days`` days from ``start``, if the patient takes each day's expected dose.

    ``position`` is where the patient stands before ``start`` (from the recorded entries); the projection
    walks a copy of the course, so steps fall due as they would for a patient who keeps to the plan. Holding
    keeps the current dose; paused and stopped days expect nothing.
    """
    course = Course(plans, restart_after_gap_days, position)
    projected = []
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        context = course.context_on(day)
        state = context.state if context.plan is not None else None
        projected.append(ProjectedDay(day, context.expected, state))
        if context.expected is not None:
            course.record(EntryFact(None, day, True, context.expected))
    return projected


def _supply_notes(item: AssessedEntry, dosed_plans: set[int | None]) -> list[Finding]:
    """The info notes about what the dose was measured from (clinical reference, "Liquid doses"):

    * the first dose taken under a plan whose formulation or concentration differs from the plan before it
      repeats the change ("the same mL is now half the dose");
    * a dose recorded in another formulation than its plan's, unless the plan changed that day.
    """
    plan = item.context.plan
    if plan is None or not item.entry.taken:
        return []
    notes = []
    if plan.plan_id not in dosed_plans:
        dosed_plans.add(plan.plan_id)
        if plan.supply_change:
            notes.append(supply_change_finding(plan.supply_change))
    changed_on = [day for day in (plan.start_date, plan.set_on) if day is not None]
    mismatch = formulation_mismatch_finding(
        entry_formulation=item.entry.formulation,
        plan_formulation=plan.formulation,
        day=item.entry.day,
        plan_changed_on=changed_on,
    )
    if mismatch is not None:
        notes.append(mismatch)
    return notes
