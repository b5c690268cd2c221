"""Writes of the titration app: the only code that saves plans, dose entries and flags.

A dose goes view → ``dose_record`` → (selectors for the facts, ``rules.assess_dose`` for the verdict) →
persist, in one transaction. Dose flags are derived from the record: every write that changes the record
re-assesses the patient's course in the same transaction (``flags_reconcile``).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from medications import selectors as medication_selectors
from patients.access import is_locked
from patients.audit import bulk_create_audited, create_audited, save_audited
from patients.concurrency import FieldChange, StaleEditError, check_version, display_value, submitted_values
from patients.models import Patient, clinic_today

from . import bulk, course, outcome_store, rules, selectors
from .models import (
    CheckIn,
    DoseEntry,
    DoseStatus,
    DosingTime,
    Flag,
    FlagComment,
    Formulation,
    PlanStateChange,
    SideEffect,
    StopReason,
    TitrationPlan,
)

Voidable = TypeVar("Voidable", DoseEntry, CheckIn)

DUPLICATE_DAY = rules.DUPLICATE_DAY
FUTURE_DAY = rules.FUTURE_DAY
BEFORE_BIRTH = rules.BEFORE_BIRTH
OVERRIDE_REASON_REQUIRED = rules.OVERRIDE_REASON_REQUIRED
ALREADY_VOIDED = "This entry was already voided."
ALREADY_ACKNOWLEDGED = "This flag was already acknowledged."
REASON_REQUIRED = "Give a reason."
DUPLICATE_CHECKIN_DAY = "A check-in is already recorded for this day. Void it first if it is wrong."
CRITICAL_NEEDS_PRESCRIBER = rules.CRITICAL_NEEDS_PRESCRIBER
CRITICAL_NOTE_TOO_SHORT = rules.CRITICAL_NOTE_TOO_SHORT
ROLE_CANNOT_ACKNOWLEDGE = rules.ROLE_CANNOT_ACKNOWLEDGE
COMMENT_REQUIRED = "Write the comment."
NO_PLAN = "The patient has no active plan."
STATE_UNCHANGED = "The plan is already in that state."
STOP_REASON_REQUIRED = "Choose the reason for stopping."
CRITICAL_NOTE_MIN_WORDS = rules.CRITICAL_NOTE_MIN_WORDS
VOIDED_NOTE = "Entry voided."


class RecordError(Exception):
    """A record that cannot be stored as given. ``problem`` says what is wrong (no form field names);
    ``findings``: for a dose that needs a confirmation, the findings that need it (out of range, a slip)."""

    def __init__(
        self,
        message: str,
        problem: str = "",
        findings: tuple[rules.Finding, ...] = (),
        liquid: rules.LiquidDose | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problem = problem
        self.findings = tuple(f for f in findings if f in rules.needs_confirmation(findings))
        self.liquid = liquid  # a volume's conversion, for the confirmation step to show the mg


class Problem:
    """What a RecordError is about, beyond the dose problems of ``rules.Problem``."""

    DAY = rules.Problem.DAY
    DOSE = rules.Problem.DOSE
    CONFIRMATION = rules.Problem.CONFIRMATION
    OVERRIDE_REASON = rules.Problem.OVERRIDE_REASON
    REASON = "reason"
    NOTE = "note"
    PERMISSION = "permission"
    STATE = "state"
    VOLUME = "volume"  # a dose in mL: not a liquid plan, over 20 mL, or disagreeing with the mg given
    OPIOID = "opioid"  # a plan set or restarted while an opioid is current: confirm with a reason
    HYPERSENSITIVITY = "hypersensitivity"  # a plan for a patient with a known hypersensitivity: confirm


def active_plan(patient: Patient) -> TitrationPlan | None:
    return patient.plans.filter(is_active=True).first()


def _lock(patient: Patient) -> Patient:
    """Serialise writes to one patient's record: re-assessment reads and writes the whole course.

    A patient the request already read with its row locked (``patients.access``, on every POST) is not
    read again.
    """
    if is_locked(patient):
        return patient
    return Patient.objects.select_for_update().select_related("clinic").get(pk=patient.pk)


PLAN_FIELDS = (
    "preset",
    "start_date",
    "starting_dose_mg",
    "step_mg",
    "step_interval_days",
    "target_dose_mg",
    "formulation",
    "liquid_concentration_mg_per_ml",
    "dosing_time",
    "notes",
)


# A dose reads the record from this many days before its own day (and the entry before them): a course resumes
# from the position stored with the entry before the new day, and a run of days leading into it is re-assessed
# with it. Runs longer than this, or a plan that changed the supply before them, read the whole record.
RECENT_DAYS = 183

OPIOID_NEEDS_CONFIRMATION = rules.OPIOID_NEEDS_CONFIRMATION
OPIOID_REASON_REQUIRED = rules.OPIOID_REASON_REQUIRED
HYPERSENSITIVITY_REASON_REQUIRED = rules.HYPERSENSITIVITY_REASON_REQUIRED


def _safety_confirmation(
    *,
    patient: Patient,
    today: datetime.date,
    confirm_opioid: bool,
    opioid_reason: str,
    confirm_hypersensitivity: bool,
    hypersensitivity_reason: str,
) -> str:
    """Refuse (RecordError) a plan set or restarted while an opioid is current, or for a patient with a known
    naltrexone hypersensitivity, unless each is confirmed with a reason; returns the reasons, for the record."""
    reasons = []
    needs = [w for w in medication_selectors.safety_warnings_for(patient, on=today) if w.needs_confirmation]
    if needs:
        if not confirm_hypersensitivity:
            raise RecordError(needs[0].message, Problem.HYPERSENSITIVITY)
        if not hypersensitivity_reason.strip():
            raise RecordError(HYPERSENSITIVITY_REASON_REQUIRED, Problem.HYPERSENSITIVITY)
        reasons.append(f"Known naltrexone hypersensitivity: {hypersensitivity_reason.strip()}")
    opioids = medication_selectors.active_opioids_for(patient, on=today)
    if opioids:
        if not confirm_opioid:
            raise RecordError(" ".join([*(o.message for o in opioids), OPIOID_NEEDS_CONFIRMATION]), Problem.OPIOID)
        if not opioid_reason.strip():
            raise RecordError(OPIOID_REASON_REQUIRED, Problem.OPIOID)
        names = ", ".join(o.ingredient for o in opioids)
        reasons.append(f"Set while an opioid is current ({names}): {opioid_reason.strip()}")
    return " ".join(reasons)


@transaction.atomic
def plan_set(
    *,
    patient: Patient,
    by: Any,
    version: int | None = None,
    confirm_opioid: bool = False,
    opioid_reason: str = "",
    confirm_hypersensitivity: bool = False,
    hypersensitivity_reason: str = "",
    **fields: Any,
) -> TitrationPlan:
    """Make a new plan the patient's active one; the old plan is ended and kept in the history.

    With ``version`` (of the plan the user opened, see ``patients.concurrency``), a save against a plan
    changed or replaced meanwhile raises ``StaleEditError`` and saves nothing. While an opioid is current, or
    with a known naltrexone hypersensitivity, the plan needs a confirmation with a reason (RecordError with
    ``Problem.OPIOID`` or ``Problem.HYPERSENSITIVITY`` otherwise); a current opioid then raises the critical
    contraindication flag. A change of formulation or concentration from the plan before is the audit
    trail's "why" ("concentration changed from 1 mg/mL to 0.5 mg/mL: the same mL is now half the dose").
    """
    locked = _lock(patient)
    if version is not None:
        current = active_plan(locked)
        if current is not None:
            proposed = TitrationPlan(**{k: v for k, v in fields.items() if k in PLAN_FIELDS})
            try:
                check_version(current, opened=version, submitted=submitted_values(proposed, PLAN_FIELDS))
            except StaleEditError as exc:
                raise _against_the_plan_opened(exc, opened=version, current=current) from None
    override = _safety_confirmation(
        patient=locked,
        today=clinic_today(locked.clinic),
        confirm_opioid=confirm_opioid,
        opioid_reason=opioid_reason,
        confirm_hypersensitivity=confirm_hypersensitivity,
        hypersensitivity_reason=hypersensitivity_reason,
    )
    now = timezone.now()
    before = patient.plans.order_by("-start_date", "-created_at", "-pk").first()
    for old in patient.plans.filter(is_active=True):
        old.is_active, old.ended_at, old.ended_by = False, now, by
        save_audited(old, by=by, reason="Replaced by a new plan.", update_fields=["is_active", "ended_at", "ended_by"])
    fields.setdefault("formulation", Formulation.CAPSULE)
    supply = (fields["formulation"], fields.get("liquid_concentration_mg_per_ml"))
    previous = (before.formulation, before.liquid_concentration_mg_per_ml) if before else None
    change = rules.supply_change_note(previous, supply)
    plan = create_audited(
        TitrationPlan,
        by=by,
        reason=_audit_reason(change[:1].upper() + change[1:] if change else override),
        patient=patient,
        created_by=by,
        is_active=True,
        safety_override_reason=override,
        **fields,
    )
    flags_reconcile(patient=locked, by=by, cause="the plan changed")
    contraindications_reconcile(patient=locked, by=by, cause="the plan changed")
    outcome_store.mark_stale([locked.pk])
    return plan


AUDIT_REASON_MAX = 100  # the history rows' change reason column


def _audit_reason(text: str) -> str:
    """A reason as the audit trail's "why" column holds it (at most 100 characters)."""
    text = text.strip()
    return text if len(text) <= AUDIT_REASON_MAX else text[: AUDIT_REASON_MAX - 1] + "…"


def _against_the_plan_opened(error: StaleEditError, *, opened: int, current: TitrationPlan) -> StaleEditError:
    """A plan replaced meanwhile is another record: compare with the plan the user opened, not with nothing."""
    row = TitrationPlan.history.filter(history_id=opened, patient_id=current.patient_id).first()
    if row is None or row.id == current.pk:
        return error
    changes = []
    for change in error.changes:
        field = TitrationPlan._meta.get_field(change.name)
        if not isinstance(field, models.Field):  # a stale edit compares the plan's own columns only
            raise TypeError(f"{change.name} is not a column of the plan")
        then = display_value(getattr(row, field.attname), field)
        changes.append(FieldChange(change.name, change.label, then, change.current, change.submitted))
    return StaleEditError(
        changed_by=error.changed_by,
        changed_at=error.changed_at,
        current_version=error.current_version,
        changes=[c for c in changes if c.changed_by_other or c.changed_by_you],
    )


LDN_ACTIVE_STATES = (rules.PlanState.TITRATING, rules.PlanState.HOLDING)


@transaction.atomic
def plan_state_set(
    *, patient: Patient, by: Any, state: str, reason: str, confirm_opioid: bool = False, stop_reason: str = ""
) -> PlanStateChange:
    """Titrate, hold at the current dose, pause or stop the active plan from today, with a reason.

    Stopping also needs a coded ``stop_reason`` (``StopReason``); any other state keeps none.

    Restarting a paused or stopped plan while an opioid is current needs ``confirm_opioid`` (the reason is
    the state change's own), and raises the critical contraindication flag; pausing or stopping closes it.
    """
    if not reason.strip():
        raise RecordError(REASON_REQUIRED, Problem.REASON)
    if state == rules.PlanState.STOPPED and stop_reason not in StopReason.values:
        raise RecordError(STOP_REASON_REQUIRED, Problem.REASON)
    locked = _lock(patient)
    plan = active_plan(locked)
    if plan is None:
        raise RecordError(NO_PLAN, Problem.STATE)
    current = plan.state_changes.order_by("-effective_on", "-changed_at", "-pk").first()
    before = current.state if current else rules.PlanState.TITRATING
    if before == state:
        raise RecordError(STATE_UNCHANGED, Problem.STATE)
    today = clinic_today(locked.clinic)
    if state in LDN_ACTIVE_STATES and before not in LDN_ACTIVE_STATES and not confirm_opioid:
        opioids = medication_selectors.active_opioids_for(locked, on=today)
        if opioids:
            raise RecordError(" ".join([*(o.message for o in opioids), OPIOID_NEEDS_CONFIRMATION]), Problem.OPIOID)
    change = PlanStateChange(
        patient=locked,
        plan=plan,
        state=state,
        effective_on=today,
        reason=reason.strip(),
        stop_reason=stop_reason if state == rules.PlanState.STOPPED else "",
        changed_by=by,
    )
    # The model's own ``reason`` is also the audit trail's "why" (create_audited would take it as only that).
    save_audited(change, by=by, reason=change.reason)
    cause = f"the plan was set to {rules.PlanState(state).label.lower()}"
    flags_reconcile(patient=locked, by=by, cause=cause)
    contraindications_reconcile(patient=locked, by=by, cause=cause)
    outcome_store.mark_stale([locked.pk])
    return change


OPIOID_ENDED_NOTE = "Opioid ended on {day}."
CONTRAINDICATION_NO_LONGER = "Re-assessed after {cause}: LDN is no longer active."


@transaction.atomic
def contraindications_reconcile(*, patient: Patient, by: Any, cause: str) -> None:
    """Bring the critical contraindication flags in line with the medication list and the plan, today.

    A flag per contraindicating opioid current while the active plan is titrating or holding
    (``rules.contraindication_findings``), on the first current entry of that opioid. An open flag whose
    opioid is no longer current closes as "opioid ended" with the date (or "entry voided"); one whose plan
    was paused, stopped or replaced by none closes as re-assessed. A flag a prescriber acknowledged is not
    raised again while the same entries stay current. Runs after every change of the medication list
    (registered with ``medications.services``) and of the plan or its state.
    """
    today = clinic_today(patient.clinic)
    plan = active_plan(patient)
    state = selectors.plan_state_now(plan, today)[0] if plan is not None else None
    opioids = medication_selectors.active_opioids_for(patient, on=today) if state in LDN_ACTIVE_STATES else []
    findings = dict(
        zip(
            (o.message for o in opioids),
            rules.contraindication_findings([o.message for o in opioids], state),
            strict=True,
        )
    )
    existing = list(
        Flag.objects.select_for_update(of=("self",))
        .filter(patient=patient, kind=rules.FlagKind.CONTRAINDICATION)
        .select_related("medication")
        .order_by("pk")
    )
    now = timezone.now()
    covered: set[str] = set()
    changed: list[Flag] = []
    for opioid in opioids:
        mine = [flag for flag in existing if flag.medication_id in opioid.entry_ids]
        if any(flag.is_open or flag.closed_as == Flag.ClosedAs.ACKNOWLEDGED for flag in mine):
            covered.add(opioid.message)
            for flag in mine:
                if flag.is_open and flag.message != opioid.message:
                    flag.message = opioid.message
                    changed.append(flag)
    current_ids = {entry_id for opioid in opioids for entry_id in opioid.entry_ids}
    for flag in existing:
        if not flag.is_open or flag.medication_id in current_ids:
            continue
        entry = flag.medication
        if entry is not None and entry.is_voided:
            _close(flag, by, now, Flag.ClosedAs.ENTRY_VOIDED, VOIDED_NOTE)
        elif entry is not None and entry.stop_date is not None and entry.stop_date <= today:
            _close(
                flag, by, now, Flag.ClosedAs.OPIOID_ENDED, OPIOID_ENDED_NOTE.format(day=f"{entry.stop_date:%-d %b %Y}")
            )
        else:
            _close(flag, by, now, Flag.ClosedAs.REASSESSED, CONTRAINDICATION_NO_LONGER.format(cause=cause))
        changed.append(flag)
    if changed:
        bulk_update_with_history(
            changed,
            Flag,
            ["message", "acknowledged_at", "acknowledged_by", "acknowledgement_note", "closed_as"],
            default_user=by,
            default_change_reason=_audit_reason(f"Re-assessed after {cause}."),
        )
    new = [
        Flag(
            patient=patient,
            medication_id=opioid.entry_ids[0],
            kind=finding.kind,
            severity=finding.severity,
            message=finding.message,
        )
        for opioid in opioids
        if opioid.message not in covered
        for finding in [findings[opioid.message]]
    ]
    bulk_create_audited(new, by=by, reason=_audit_reason(f"Raised after {cause}."))


def dose_record(
    *,
    patient: Patient,
    by: Any,
    taken_on: datetime.date,
    dose_mg: Decimal | None,
    status: str = DoseStatus.TAKEN,
    formulation: str = "",
    notes: str = "",
    override_reason: str = "",
    confirmed: bool = False,
    dose_ml: Decimal | None = None,
    ml_in_mg_field: Decimal | None = None,
    time_of_day: str = "",
) -> tuple[DoseEntry, list[rules.Finding]]:
    """Store one day's dose after the one assessment, and re-derive the patient's flags.

    Raises RecordError when the dose is refused or needs a confirmation with a reason (``problem`` says
    which). Returns the entry and the findings of its day.

    A liquid dose may be given as a volume (``dose_ml``): it is converted at the concentration of the plan
    in force that day (``rules.liquid_dose``) and every rule runs on the mg; the entry keeps the volume and
    the concentration too. ``ml_in_mg_field``: a volume typed in the mg field ("3 mL"), refused with the
    conversion spelled out, never read as mg. ``time_of_day`` defaults to the plan's dosing time.

    Runs in the caller's transaction when there is one (a request's), without a savepoint of its own: a
    refusal comes before any write, and the patient's lock, taken before the entries are read, turns a second
    entry for the day into a refusal. Should a writer that bypassed the lock win the race anyway, the
    one-live-entry-per-day constraint decides it: the loser gets DUPLICATE_DAY, never a 500, and the caller's
    transaction is marked to roll back (no query may follow in it).
    """
    own_transaction = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if own_transaction else contextlib.nullcontext():
            return _dose_record(
                patient=patient,
                by=by,
                taken_on=taken_on,
                dose_mg=dose_mg,
                taken=status == DoseStatus.TAKEN,
                formulation=formulation,
                notes=notes,
                override_reason=override_reason,
                confirmed=confirmed,
                dose_ml=dose_ml,
                ml_in_mg_field=ml_in_mg_field,
                time_of_day=time_of_day,
            )
    except IntegrityError as exc:
        if "unique" not in str(exc).lower():
            raise
        if not own_transaction:
            transaction.set_rollback(True)
        raise RecordError(DUPLICATE_DAY, Problem.DAY) from exc


@dataclass(frozen=True)
class NewDose:
    """One day's dose as a batch writer gives it (``doses_record_many``): ``dose_record``'s arguments.

    ``audit_reason``: the history row's "why" (an import: its file and row); a confirmation's reason follows it.
    """

    taken_on: datetime.date
    dose_mg: Decimal | None
    taken: bool = True
    formulation: str = ""
    notes: str = ""
    override_reason: str = ""
    confirmed: bool = False
    dose_ml: Decimal | None = None
    time_of_day: str = ""
    audit_reason: str = ""
    ml_in_mg_field: Decimal | None = None  # a volume written where the mg go: refused, the conversion spelled out


@dataclass(frozen=True)
class DoseOutcome:
    """What became of one ``NewDose``: stored (``entry_id``), already recorded, or refused (``error``)."""

    entry_id: int | None = None
    findings: tuple[rules.Finding, ...] = ()
    error: RecordError | None = None
    already_recorded: bool = False
    dose_mg: Decimal | None = None  # as stored: a volume converted at the plan's concentration


def _dose_record(
    *,
    patient: Patient,
    by: Any,
    taken_on: datetime.date,
    dose_mg: Decimal | None,
    taken: bool,
    formulation: str,
    notes: str,
    override_reason: str,
    confirmed: bool,
    dose_ml: Decimal | None = None,
    ml_in_mg_field: Decimal | None = None,
    time_of_day: str = "",
) -> tuple[DoseEntry, list[rules.Finding]]:
    locked = _lock(patient)
    # None (the whole record) for a day in the first months of year 1, which the rules then refuse.
    recent = taken_on - datetime.timedelta(days=RECENT_DAYS) if taken_on.toordinal() > RECENT_DAYS else None
    facts = selectors.course_facts(locked, with_flags=True, recent_from=recent)
    resume = course.resume_before if facts.complete else course.resume_from_part
    walked = resume(facts.entries, facts.terms, facts.gap_days, taken_on, facts.stored_position)
    if walked is None:  # the recent part of the record does not say where the course stood: read it all
        facts = selectors.course_facts(locked, with_flags=True)
        walked = course.resume_before(facts.entries, facts.terms, facts.gap_days, taken_on, facts.stored_position)
    context = walked.context_on(taken_on)
    dose = NewDose(
        taken_on=taken_on,
        dose_mg=dose_mg,
        taken=taken,
        formulation=formulation,
        notes=notes,
        override_reason=override_reason,
        confirmed=confirmed,
        dose_ml=dose_ml,
        time_of_day=time_of_day,
        ml_in_mg_field=ml_in_mg_field,
    )
    entry, findings = _dose_assess(
        dose,
        patient=locked,
        by=by,
        context=context,
        walker=walked,
        facts=facts,
        today=clinic_today(locked.clinic),
        day_has_entry=any(e.day == taken_on for e in facts.entries),
    )
    _doses_store(locked, [entry], facts, by=by, cause=f"the dose of {taken_on:%-d %b %Y} was recorded")
    return entry, list(findings)


@transaction.atomic(savepoint=False)
def doses_record_many(
    *, patient: Patient, by: Any, doses: Sequence[NewDose], cause: str, registered: bool = False
) -> list[DoseOutcome]:
    """Store many days' doses of one patient, each assessed exactly as ``dose_record`` assesses it.

    The doses are taken in date order, each in the context of the record before it (the doses already
    recorded and those of the batch accepted so far), so a batch gets the verdicts, expected doses and flags
    that the same days entered one by one through the form would get. A dose identical to the day's live
    entry is ``already_recorded`` (a batch sent again adds nothing); any other refusal is the outcome's
    ``error``, the form's message. The accepted entries are written at once with their audit rows, and the
    flags are then derived once for the whole course (``cause`` is their "why"). Outcomes are in the order
    of ``doses``.

    Runs in the caller's transaction when there is one, without a savepoint (two round trips a patient in an
    import): a failure here fails the caller's whole transaction, which an import wants.

    ``registered``: the patient was registered in the caller's transaction (an import's new patient), so
    nothing is recorded for them yet and no one else can see their row: the record is neither locked nor read.
    """
    if registered:
        locked = patient
        facts = selectors.CourseFacts(
            entries=[], terms=[], plan_by_id={}, gap_days=patient.clinic.restart_after_gap_days, flags=[]
        )
    else:
        locked = _lock(patient)
        facts = selectors.course_facts(locked, with_flags=True)
    today = clinic_today(locked.clinic)
    recorded = {e.day: e for e in facts.entries}
    before = sorted(facts.entries, key=lambda e: e.day)
    walker = course.Course(facts.terms, facts.gap_days)
    walked = 0
    outcomes: list[DoseOutcome | None] = [None] * len(doses)
    stored: list[tuple[int, DoseEntry, tuple[rules.Finding, ...]]] = []
    for index in sorted(range(len(doses)), key=lambda i: doses[i].taken_on):
        dose = doses[index]
        while walked < len(before) and before[walked].day < dose.taken_on:
            walker.record(before[walked])
            walked += 1
        existing = recorded.get(dose.taken_on)
        context = walker.context_on(dose.taken_on)
        try:
            if existing is not None and _same_dose(existing, dose, facts, context):
                outcomes[index] = DoseOutcome(already_recorded=True, dose_mg=existing.dose)
                continue
            entry, findings = _dose_assess(
                dose,
                patient=locked,
                by=by,
                context=context,
                walker=walker,
                facts=facts,
                today=today,
                day_has_entry=existing is not None,
            )
        except RecordError as exc:
            outcomes[index] = DoseOutcome(error=exc)
            continue
        recorded[dose.taken_on] = course.EntryFact(None, entry.taken_on, taken=dose.taken, dose=entry.dose_mg)
        stored.append((index, entry, findings))
    _doses_store(locked, [entry for _, entry, _ in stored], facts, by=by, cause=cause)
    for index, entry, findings in stored:
        outcomes[index] = DoseOutcome(entry_id=entry.pk, findings=findings, dose_mg=entry.dose_mg)
    return [outcome or DoseOutcome() for outcome in outcomes]


def _same_dose(
    existing: course.EntryFact, dose: NewDose, facts: selectors.CourseFacts, context: rules.DoseContext
) -> bool:
    """Whether the day's live entry already is this dose (a volume compared once converted, as it was stored)."""
    if existing.taken != dose.taken:
        return False
    if not dose.taken:
        return True
    if dose.ml_in_mg_field is not None:
        return False
    dose_mg = dose.dose_mg
    if dose.dose_ml is not None:
        plan = facts.plan_by_id.get(context.plan.plan_id) if context.plan else None
        liquid = _liquid(plan, dose_mg, dose.dose_ml, None)
        dose_mg = liquid.dose_mg if liquid else dose_mg
    return existing.dose == dose_mg


def _dose_assess(
    dose: NewDose,
    *,
    patient: Patient,
    by: Any,
    context: rules.DoseContext,
    walker: course.Course,
    facts: selectors.CourseFacts,
    today: datetime.date,
    day_has_entry: bool,
) -> tuple[DoseEntry, tuple[rules.Finding, ...]]:
    """The one assessment of a dose (RecordError if refused or waiting for a confirmation), and the entry to
    store (unsaved); ``walker`` moves past it."""
    plan = facts.plan_by_id.get(context.plan.plan_id) if context.plan else None
    liquid = _liquid(plan, dose.dose_mg, dose.dose_ml, dose.ml_in_mg_field) if dose.taken else None
    dose_mg = liquid.dose_mg if liquid is not None else dose.dose_mg
    verdict = rules.assess_dose(
        dose=dose_mg if dose.taken else None,
        day=dose.taken_on,
        taken=dose.taken,
        context=context,
        today=today,
        born=patient.date_of_birth,
        day_has_entry=day_has_entry,
        confirmed=dose.confirmed,
        override_reason=dose.override_reason,
    )
    if not verdict.accepted:
        raise RecordError(verdict.message, verdict.problem or "", verdict.findings, liquid=liquid)
    confirmed_reason = dose.override_reason.strip() if rules.needs_confirmation(verdict.findings) else ""
    formulation = dose.formulation or (plan.formulation if plan else Formulation.CAPSULE)
    fact = course.EntryFact(None, dose.taken_on, dose.taken, dose_mg if dose.taken else None, formulation)
    # Where the patient stands after this entry: exact when it is the newest (the usual case), else
    # re-assessment corrects it with the entries after it.
    after = walker.record(fact).after.as_json()
    entry = bulk.unsaved(
        DoseEntry,
        related={"patient": patient, "plan": plan, "recorded_by": by},
        taken_on=dose.taken_on,
        dose_mg=dose_mg if dose.taken else None,
        dose_ml=liquid.volume_ml if liquid else None,
        concentration_mg_per_ml=liquid.concentration_mg_per_ml if liquid else None,
        status=DoseStatus.TAKEN if dose.taken else DoseStatus.MISSED,
        formulation=formulation,
        time_of_day=dose.time_of_day or (plan.dosing_time if plan else DosingTime.BEDTIME),
        notes=dose.notes,
        scheduled_dose_mg=context.expected,
        course_after=after,
        override_reason=confirmed_reason,
    )
    why = " — ".join(filter(None, (dose.audit_reason, confirmed_reason)))
    entry._change_reason = _audit_reason(why)  # type: ignore[attr-defined]  # simple-history's hook, undeclared
    return entry, verdict.findings


def _doses_store(
    patient: Patient, entries: list[DoseEntry], facts: selectors.CourseFacts, *, by: Any, cause: str
) -> None:
    """The one writer of dose entries: insert them with their audit rows, then re-derive the patient's flags
    once, from the first new day on (``_reconcile``)."""
    if not entries:
        return
    reasons = [getattr(entry, "_change_reason", "") for entry in entries]
    bulk.insert_with_history(entries, by=by, reasons=reasons)
    facts.entries = [
        *facts.entries,
        *(course.EntryFact(e.pk, e.taken_on, e.status == DoseStatus.TAKEN, e.dose_mg, e.formulation) for e in entries),
    ]
    for entry in entries:
        facts.derived[entry.pk] = (entry.scheduled_dose_mg, entry.course_after)
    _reconcile(patient, facts.entries, facts, by=by, cause=cause, added=entries)


def _liquid(
    plan: TitrationPlan | None, dose_mg: Decimal | None, dose_ml: Decimal | None, ml_in_mg_field: Decimal | None
) -> rules.LiquidDose | None:
    """The liquid dose of a form, at the concentration of the plan in force (already loaded: no query)."""
    concentration = plan.liquid_concentration_mg_per_ml if plan and plan.formulation == Formulation.LIQUID else None
    if ml_in_mg_field is not None:
        raise RecordError(rules.ml_in_mg_field_message(ml_in_mg_field, concentration), Problem.DOSE)
    try:
        return rules.resolve_liquid_dose(dose_mg=dose_mg, volume_ml=dose_ml, concentration=concentration)
    except rules.DoseError as exc:
        raise RecordError(str(exc), Problem.VOLUME) from None


def clinic_courses_reconcile(*, clinic: Any, by: Any, cause: str) -> None:
    """Re-derive the expected doses and flags of every patient of ``clinic`` with a dose on record (after a
    change of its restart gap, which decides when a gap restarts the plan). Runs in the caller's transaction."""
    for patient in (
        Patient.objects.filter(clinic=clinic, dose_entries__isnull=False).distinct().select_related("clinic")
    ):
        flags_reconcile(patient=patient, by=by, cause=cause)


@transaction.atomic
def flags_reconcile(*, patient: Patient, by: Any, cause: str) -> None:
    """Re-assess the patient's whole course and bring the dose flags in line with it."""
    facts = selectors.course_facts(patient, with_flags=True)
    _reconcile(patient, facts.entries, facts, by=by, cause=cause)


def _reconcile(
    patient: Patient,
    entries: list[course.EntryFact],
    facts: selectors.CourseFacts,
    *,
    by: Any,
    cause: str,
    added: Sequence[DoseEntry] = (),
) -> None:
    """Open the flags the record supports and close, with why, those it no longer supports.

    A flag acknowledged by a clinician is never raised again for the same entry and kind; a flag closed by
    re-assessment or a void is raised anew if the finding comes back.

    ``added``: the record changed only by these new entries, so only the entries from the first of their days
    on and the run of days leading into them are re-assessed (``course.reassess_since``), resumed from the
    stored positions. Without it, or when a stored position is missing or stale, the whole course is walked.
    """
    part = None
    if added:
        since = min(entry.taken_on for entry in added)
        part = course.reassess_since(
            entries, facts.terms, facts.gap_days, since, facts.stored_position, complete=facts.complete
        )
        if part is None and facts.recent_from is not None:  # the whole record, the new entries and all flags too
            facts = selectors.course_facts(patient, with_flags=True)
            entries = facts.entries
    if part is None:
        assessed, _ = course.walk(entries, facts.terms, facts.gap_days)
        derived = course.derive_flags(assessed)
    else:
        assessed, derived = part.assessed, part.flags
    _store_positions(assessed, facts)
    wanted = {(d.entry_id, d.kind.value): d for d in derived}
    live_ids = {e.id for e in entries}
    now = timezone.now()
    existing = (
        facts.flags if facts.flags is not None else list(Flag.objects.filter(patient=patient, dose_entry__isnull=False))
    )
    if part is not None:  # the flags of the other entries stand: their assessment cannot have changed
        scope = part.entry_ids
        existing = [flag for flag in existing if flag.dose_entry_id in scope]
    keep: set[tuple[int | None, str]] = set()
    changed: list[Flag] = []
    for flag in existing:
        key = (flag.dose_entry_id, flag.kind)
        if not flag.is_open:
            if flag.closed_as == Flag.ClosedAs.ACKNOWLEDGED:
                keep.add(key)
            continue
        if flag.dose_entry_id not in live_ids:
            _close(flag, by, now, Flag.ClosedAs.ENTRY_VOIDED, VOIDED_NOTE)
        elif key not in wanted:
            _close(flag, by, now, Flag.ClosedAs.REASSESSED, f"Re-assessed after {cause}: no longer supported.")
        else:
            keep.add(key)
            finding = wanted[key]
            if (flag.message, flag.severity) == (finding.message, finding.severity):
                continue
            flag.message, flag.severity = finding.message, finding.severity
            flag._change_reason = f"Re-assessed after {cause}."  # type: ignore[attr-defined]  # simple-history's hook
        changed.append(flag)
    if changed:
        bulk_update_with_history(
            changed,
            Flag,
            ["message", "severity", "acknowledged_at", "acknowledged_by", "acknowledgement_note", "closed_as"],
            default_user=by,
            default_change_reason=f"Re-assessed after {cause}.",
        )
    new = [
        Flag(patient=patient, dose_entry_id=d.entry_id, kind=d.kind, severity=d.severity, message=d.message)
        for key, d in wanted.items()
        if key not in keep
    ]
    bulk_create_audited(new, by=by, reason=f"Raised after {cause}.")


def _store_positions(assessed: list[course.AssessedEntry], facts: selectors.CourseFacts) -> None:
    """Bring each live entry's derived values (expected dose, position after it) in line with the course.

    One query for all that changed (none when a dose is added at the end of the record).
    """
    changed = []
    for item in assessed:
        values = (item.context.expected, item.after.as_json())
        stored = facts.derived.get(item.entry.id)
        if stored is None or (stored != values and _normal(stored) != _normal(values)):
            changed.append(DoseEntry(pk=item.entry.id, scheduled_dose_mg=values[0], course_after=values[1]))
    if changed:
        DoseEntry.objects.bulk_update(changed, ["scheduled_dose_mg", "course_after"], batch_size=500)


def _normal(values: selectors.DerivedValues) -> tuple[Decimal | None, dict[str, object] | None]:
    expected, after = values
    position = course.Position.from_json(after)
    return (None if expected is None else expected.normalize(), position.as_json())


def _close(flag: Flag, by: Any, now: datetime.datetime, how: str, note: str) -> None:
    flag.acknowledged_at, flag.acknowledged_by, flag.acknowledgement_note, flag.closed_as = now, by, note, how


@transaction.atomic
def dose_void(*, entry: DoseEntry, by: Any, reason: str) -> DoseEntry:
    """Void a wrong entry: it stays in the chart, struck through, with who, when and why. Its flags close
    as "entry voided" and the days after it are re-assessed."""
    locked_patient = _lock(entry.patient)
    voided = record_void(record=entry, by=by, reason=reason)
    flags_reconcile(patient=locked_patient, by=by, cause=f"the dose of {entry.taken_on:%-d %b %Y} was voided")
    return voided


@transaction.atomic
def flag_acknowledge(*, flag: Flag, by: Any, note: str = "") -> Flag:
    """Close a flag as acknowledged. A critical flag: prescribers only, with a note of a few words."""
    locked = Flag.objects.select_for_update().get(pk=flag.pk)
    if not locked.is_open:
        raise RecordError(ALREADY_ACKNOWLEDGED, Problem.NOTE)
    problem = rules.acknowledgement_problem(
        rules.Severity(locked.severity),
        note,
        may_acknowledge=by.has_perm("titration.acknowledge_flag"),
        may_acknowledge_critical=by.has_perm("titration.acknowledge_critical_flag"),
    )
    if problem:
        raise RecordError(problem, Problem.NOTE if problem == CRITICAL_NOTE_TOO_SHORT else Problem.PERMISSION)
    _close(locked, by, timezone.now(), Flag.ClosedAs.ACKNOWLEDGED, note.strip())
    save_audited(
        locked,
        by=by,
        reason=locked.acknowledgement_note,
        update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note", "closed_as"],
    )
    return locked


@transaction.atomic
def flags_acknowledge_info(*, patient: Patient, by: Any, note: str) -> int:
    """Acknowledge every open info flag of one patient in one action, with one note; returns how many."""
    if not by.has_perm("titration.acknowledge_flag"):
        raise RecordError(ROLE_CANNOT_ACKNOWLEDGE, Problem.PERMISSION)
    if not note.strip():
        raise RecordError(REASON_REQUIRED, Problem.NOTE)
    flags = list(
        Flag.objects.select_for_update().filter(
            patient=patient, acknowledged_at__isnull=True, severity=rules.Severity.INFO
        )
    )
    now = timezone.now()
    for flag in flags:
        _close(flag, by, now, Flag.ClosedAs.ACKNOWLEDGED, note.strip())
    if flags:
        bulk_update_with_history(
            flags,
            Flag,
            ["acknowledged_at", "acknowledged_by", "acknowledgement_note", "closed_as"],
            default_user=by,
            default_change_reason=note.strip(),
        )
    return len(flags)


ROLE_CANNOT_COMMENT = "Your role cannot comment on flags."


@transaction.atomic
def flag_comment_add(*, flag: Flag, by: Any, text: str) -> FlagComment:
    """A comment on any flag, by either role; it leaves the flag open."""
    if not by.has_perm("titration.add_flagcomment"):
        raise RecordError(ROLE_CANNOT_COMMENT, Problem.PERMISSION)
    if not text.strip():
        raise RecordError(COMMENT_REQUIRED, Problem.NOTE)
    return create_audited(FlagComment, by=by, flag=flag, text=text.strip(), written_by=by)


def check_day(*, patient: Patient, day: datetime.date) -> None:
    """A clinical record's date: not in the future, not before the patient was born."""
    problem = rules.check_record_day(day, today=clinic_today(patient.clinic), born=patient.date_of_birth)
    if problem:
        raise RecordError(problem, Problem.DAY)


def checkin_check(*, patient: Patient, checked_on: datetime.date) -> None:
    check_day(patient=patient, day=checked_on)
    if CheckIn.objects.live().filter(patient=patient, checked_on=checked_on).exists():
        raise RecordError(DUPLICATE_CHECKIN_DAY, Problem.DAY)


def checkin_record(
    *,
    patient: Patient,
    by: Any,
    checked_on: datetime.date,
    pain_score: int,
    sleep_quality: int | None = None,
    pgic: int | None = None,
    notes: str = "",
    side_effects: Sequence[tuple[str, str, str]] = (),
) -> tuple[CheckIn, list[Flag]]:
    """Store a check-in with its side effects ((kind, severity, description) triples).

    A severe side effect raises a warning flag in the same queue as the dose flags. The patient's writes are
    serialised (``_lock``), so that a later check-in has a larger id (see ``outcome_store``).
    """
    checkin_check(patient=patient, checked_on=checked_on)
    try:
        with transaction.atomic():
            _lock(patient)
            checkin = create_audited(
                CheckIn,
                by=by,
                patient=patient,
                checked_on=checked_on,
                pain_score=pain_score,
                sleep_quality=sleep_quality,
                pgic=pgic,
                notes=notes,
                recorded_by=by,
            )
            effects = bulk_create_audited(
                [
                    SideEffect(checkin=checkin, kind=kind, severity=severity, description=description)
                    for kind, severity, description in side_effects
                ],
                by=by,
            )
            findings = [rules.side_effect_finding(effect.label, effect.severity, checked_on) for effect in effects]
            flags = bulk_create_audited(
                [
                    Flag(patient=patient, checkin=checkin, kind=f.kind, severity=f.severity, message=f.message)
                    for f in findings
                    if f is not None
                ],
                by=by,
            )
    except IntegrityError as exc:
        if "unique" not in str(exc).lower():
            raise
        raise RecordError(DUPLICATE_CHECKIN_DAY, Problem.DAY) from exc
    return checkin, flags


@transaction.atomic
def checkin_void(*, checkin: CheckIn, by: Any, reason: str) -> CheckIn:
    """Void a wrong check-in: it stays in the chart with who, when and why; its open flags close."""
    voided = record_void(record=checkin, by=by, reason=reason)
    flags = list(Flag.objects.select_for_update().filter(checkin=checkin, acknowledged_at__isnull=True))
    now = timezone.now()
    for flag in flags:
        _close(flag, by, now, Flag.ClosedAs.ENTRY_VOIDED, VOIDED_NOTE)
    if flags:
        bulk_update_with_history(
            flags,
            Flag,
            ["acknowledged_at", "acknowledged_by", "acknowledgement_note", "closed_as"],
            default_user=by,
            default_change_reason=VOIDED_NOTE,
        )
    return voided


@transaction.atomic
def record_void(*, record: Voidable, by: Any, reason: str) -> Voidable:
    """Void a dose entry or check-in; voiding twice keeps the first void."""
    if not reason.strip():
        raise RecordError(REASON_REQUIRED, Problem.REASON)
    locked: Voidable = type(record)._default_manager.select_for_update().get(pk=record.pk)
    if locked.voided_at is not None:
        raise RecordError(ALREADY_VOIDED, Problem.REASON)
    locked.voided_at = timezone.now()
    locked.voided_by = by
    locked.void_reason = reason.strip()
    save_audited(locked, by=by, reason=locked.void_reason, update_fields=["voided_at", "voided_by", "void_reason"])
    outcome_store.mark_stale([locked.patient_id])
    return locked
