"""Pure dose rules: parsing, limits, plans, and the one assessment of a dose.

Plain functions of plain values (``Decimal``, ``date``): no ORM, no request, so every rule is
tested on its edges directly. Every rule is listed, with its threshold, severity, message and source, in
``docs/clinical-rules.md``. Numbers come from the clinical reference ("Recording doses safely", "Low dose
naltrexone (LDN) in chronic pain", "Restarting and holding"):

* LDN range 0.5–4.5 mg once daily. Outside it is a *soft limit*: allowed only with a confirmation
  and a reason, and flagged.
* Hard limits, never overridable: a dose of 0 mg or less, or above 50 mg (the full naltrexone dose).
* A dose >= 10x or <= 1/10 of a reference dose is almost always a decimal slip: critical (ISMP).
* Doses are written with a leading zero and no trailing zero (ISMP): ``0.5 mg``, ``3 mg``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum, IntEnum, StrEnum

LDN_MIN_MG = Decimal("0.5")
LDN_MAX_MG = Decimal("4.5")
HARD_MAX_MG = Decimal("50")
DEFAULT_MAX_STEP_MG = Decimal("1.5")
TENFOLD = Decimal("10")
MAX_DECIMAL_PLACES = 2

# Plan sanity limits (clinical reference, "Titration": liquid allows 0.1–0.5 mg steps, the largest common
# protocol step is 1.5 mg every 7–14 days; 1 mg/mL is the usual liquid strength).
PLAN_STEP_MIN_MG = Decimal("0.1")
PLAN_STEP_MAX_MG = Decimal("1.5")
PLAN_INTERVAL_MIN_DAYS = 3
PLAN_INTERVAL_MAX_DAYS = 90
CONCENTRATION_MIN_MG_PER_ML = Decimal("0.1")
CONCENTRATION_MAX_MG_PER_ML = Decimal("10")
PLAN_START_MAX_DAYS_BACK = 365

NOT_A_NUMBER = "Enter the dose as a number of mg, for example 1.5."
DECIMAL_COMMA = "Use a decimal point, not a comma: write 1.5, not 1,5."
NOT_POSITIVE = "The dose must be more than 0 mg."
TOO_MANY_PLACES = "Give the dose with at most 2 decimal places."
ABOVE_HARD_MAX = "No LDN dose can be above 50 mg (the full naltrexone dose). Check the number."
FUTURE_DAY = "The date cannot be in the future."
BEFORE_BIRTH = "The date cannot be before the patient's date of birth."
DUPLICATE_DAY = "A dose is already recorded for this day. Void it first if it is wrong, then record the correct one."
DOSE_REQUIRED = NOT_A_NUMBER
OVERRIDE_REASON_REQUIRED = "Give the reason for recording this dose (it is outside the LDN range or a likely slip)."

_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class DoseError(ValueError):
    """Text that is not a dose at all (not a plain number)."""


def parse_dose(raw: str) -> Decimal:
    """Read a dose typed by a clinician, in mg: only parsing; whether it can be a dose is ``assess_dose``'s.

    Raises DoseError with a message for the form.
    """
    text = raw.strip().lower().removesuffix("mg").strip()
    if not text:
        raise DoseError(NOT_A_NUMBER)
    if "," in text:
        # 1,5 may mean 1.5 or 15: a tenfold ambiguity, so never guess.
        raise DoseError(DECIMAL_COMMA)
    if not _PLAIN_NUMBER.fullmatch(text):
        # Only plain digits and one decimal point: Decimal() would also read "1_5" as 15 and "1e1" as 10.
        raise DoseError(NOT_A_NUMBER)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise DoseError(NOT_A_NUMBER) from None


_VOLUME = re.compile(r"^(?P<number>.*?)\s*ml$")


def is_volume(raw: str) -> bool:
    """Whether the text is a volume ("3 mL", "3ml"), which the mg field must never read as mg."""
    return bool(_VOLUME.match(raw.strip().lower()))


def parse_volume(raw: str) -> Decimal:
    """Read a volume in mL ("3", "3 mL", "0.5ml"); only parsing, like ``parse_dose``. Raises DoseError."""
    text = raw.strip().lower()
    match = _VOLUME.match(text)
    text = match.group("number").strip() if match else text
    if "," in text:
        raise DoseError("Use a decimal point, not a comma: write 2.5, not 2,5.")
    if not text or not _PLAIN_NUMBER.fullmatch(text):
        raise DoseError(NOT_A_VOLUME)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise DoseError(NOT_A_VOLUME) from None


def hard_limit_problem(dose: Decimal) -> str | None:
    """Why no confirmation can allow ``dose`` (0 mg or less, above 50 mg, more than 2 decimals), or None."""
    if dose <= 0:
        return NOT_POSITIVE
    if dose > HARD_MAX_MG:
        return ABOVE_HARD_MAX
    exponent = dose.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        return TOO_MANY_PLACES
    return None


def format_dose(dose: Decimal | None) -> str:
    """``0.5 mg``, ``1.5 mg``, ``3 mg``: leading zero, no trailing zeros (ISMP)."""
    if dose is None:
        return "—"
    return f"{format_number(dose)} mg"


def format_number(dose: Decimal) -> str:
    return format(dose.normalize(), "f")


def out_of_range_message(dose: Decimal) -> str | None:
    """The warning for a dose outside 0.5–4.5 mg, or None when it is inside (the bounds included)."""
    if dose < LDN_MIN_MG:
        return f"{format_dose(dose)} is below the LDN range of 0.5–4.5 mg."
    if dose > LDN_MAX_MG:
        return f"{format_dose(dose)} is above the LDN range of 0.5–4.5 mg."
    return None


# --- plans -------------------------------------------------------------------------------------------

PRESETS: dict[str, dict[str, object]] = {
    # The common protocols of the clinical reference ("Titration").
    "low_slow": {
        "label": "Start low, go slow: 0.5 mg, +0.5 mg every 7 days, to 4.5 mg",
        "starting_dose_mg": Decimal("0.5"),
        "step_mg": Decimal("0.5"),
        "step_interval_days": 7,
        "target_dose_mg": Decimal("4.5"),
    },
    "standard": {
        "label": "1.5 mg, +1.5 mg every 14 days, to 4.5 mg",
        "starting_dose_mg": Decimal("1.5"),
        "step_mg": Decimal("1.5"),
        "step_interval_days": 14,
        "target_dose_mg": Decimal("4.5"),
    },
    "weekly_1mg": {
        "label": "1 mg, +1 mg weekly, to 4.5 mg (hold at the best-tolerated dose)",
        "starting_dose_mg": Decimal("1"),
        "step_mg": Decimal("1"),
        "step_interval_days": 7,
        "target_dose_mg": Decimal("4.5"),
    },
}
PRESET_FIELDS = ("starting_dose_mg", "step_mg", "step_interval_days", "target_dose_mg")


class PlanState(StrEnum):
    """What the prescriber has the patient doing; set with a reason and audited."""

    TITRATING = "titrating"
    HOLDING = "holding"  # at the current dose: holding at the best-tolerated dose is an intended outcome
    PAUSED = "paused"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        return {"titrating": "Titrating", "holding": "Holding at the current dose", "paused": "Paused"}.get(
            self.value, "Stopped"
        )


@dataclass(frozen=True)
class Schedule:
    """The numbers of a titration plan that fix its calendar (the plan as written, not as followed)."""

    start_date: datetime.date
    starting_dose_mg: Decimal
    step_mg: Decimal
    step_interval_days: int
    target_dose_mg: Decimal


def scheduled_dose(schedule: Schedule, day: datetime.date) -> Decimal | None:
    """The plan's calendar dose for ``day`` (None before it starts), as if the patient kept every step.

    Pages and checks use the patient-paced :func:`titration.course.expected_dose` instead; this calendar
    only describes the plan as written.
    """
    if day < schedule.start_date:
        return None
    steps = (day - schedule.start_date).days // schedule.step_interval_days
    if schedule.target_dose_mg >= schedule.starting_dose_mg:
        return min(schedule.starting_dose_mg + steps * schedule.step_mg, schedule.target_dose_mg)
    return max(schedule.starting_dose_mg - steps * schedule.step_mg, schedule.target_dose_mg)


@dataclass(frozen=True)
class PlanTerms:
    """A plan as the rules see it: its numbers, the days it was in force, and its states over time."""

    plan_id: int | None
    start_date: datetime.date
    starting_dose_mg: Decimal
    step_mg: Decimal
    step_interval_days: int
    target_dose_mg: Decimal
    last_day: datetime.date | None = None  # the day it was ended; None while active
    states: tuple[tuple[datetime.date, PlanState], ...] = ()  # (effective from, state), in order
    formulation: str = ""  # "" when unknown: no formulation note is derived
    set_on: datetime.date | None = None  # the day the prescriber set it
    supply_change: str = ""  # how its formulation or concentration differs from the plan before it

    def covers(self, day: datetime.date) -> bool:
        return self.start_date <= day and (self.last_day is None or day <= self.last_day)

    def state_on(self, day: datetime.date) -> PlanState:
        state = PlanState.TITRATING
        for since, value in self.states:
            if since <= day:
                state = value
        return state

    def toward_target(self, dose: Decimal) -> Decimal:
        """One plan step from ``dose`` toward the target, never past it."""
        if self.target_dose_mg >= self.starting_dose_mg:
            return min(dose + self.step_mg, self.target_dose_mg)
        return max(dose - self.step_mg, self.target_dose_mg)

    def beyond(self, dose: Decimal, level: Decimal) -> bool:
        """Whether ``dose`` is further along the plan's direction than ``level``."""
        return dose > level if self.target_dose_mg >= self.starting_dose_mg else dose < level

    def on_path(self, dose: Decimal) -> bool:
        low, high = sorted((self.starting_dose_mg, self.target_dose_mg))
        return low <= dose <= high


PLAN_DOSE_OUT_OF_RANGE = (
    "A plan's doses must be within the LDN range of 0.5–4.5 mg. Record a single dose outside it on the dose "
    "form, with a confirmation and reason."
)
PLAN_STARTS_BEFORE_BIRTH = "The plan cannot start before the patient's date of birth."
FIXED_DOSE_TARGET = "With a step of 0 mg the plan holds one dose: make the target equal to the starting dose."
FUTURE_START_WITH_ACTIVE_PLAN = (
    "The patient has an active plan, and saving replaces it today: start the new plan today or earlier, or "
    "change it on the day it should start."
)
STEP_OUTSIDE_LIMITS = "The step must be between 0.1 mg and 1.5 mg (0 mg for a fixed dose)."
LARGE_STEP_NEEDS_CONFIRMATION = (
    "A step above 1.5 mg is larger than any common LDN protocol: tick “confirm” and give the reason to save it."
)
INTERVAL_OUTSIDE_LIMITS = "Days between steps must be between 3 and 90."
LIQUID_NEEDS_CONCENTRATION = "Give the oral liquid's concentration in mg/mL (1 mg/mL is the most common)."
CONCENTRATION_OUTSIDE_LIMITS = "The concentration must be between 0.1 and 10 mg/mL (1 mg/mL is the most common)."
START_TOO_FAR_BACK = "The plan cannot start more than a year ago."
START_TOO_FAR_AHEAD = "The plan cannot start more than a year from today."


class PlanPart(StrEnum):
    """The part of a plan a problem is about (the plan's own attribute names)."""

    START = "start_date"
    STARTING_DOSE = "starting_dose_mg"
    STEP = "step_mg"
    STEP_CONFIRMATION = "step_confirmation"
    INTERVAL = "step_interval_days"
    TARGET = "target_dose_mg"
    CONCENTRATION = "liquid_concentration_mg_per_ml"


@dataclass(frozen=True)
class PlanDraft:
    """A plan as entered, before it is saved; None where a number is missing."""

    start_date: datetime.date | None
    starting_dose_mg: Decimal | None
    step_mg: Decimal | None
    step_interval_days: int | None
    target_dose_mg: Decimal | None
    liquid: bool = False
    concentration_mg_per_ml: Decimal | None = None
    large_step_confirmed: bool = False  # a step above 1.5 mg confirmed with a reason


def plan_problems(
    draft: PlanDraft, *, today: datetime.date, born: datetime.date, replaces_a_plan: bool
) -> list[tuple[PlanPart, str]]:
    """Why a plan cannot be saved as entered: the plan sanity limits (clinical reference, "Titration").

    Doses within the LDN range 0.5–4.5 mg; a step of 0.1–1.5 mg (liquid allows 0.1 mg steps; 1.5 mg is the
    largest common protocol step), or 0 for a fixed dose, a larger one (to 4.5 mg) only confirmed with a
    reason; 3–90 days between steps; a liquid of 0.1–10 mg/mL (1 mg/mL is usual); a start at most a year
    back or ahead, not before birth, and not in the future while it replaces an active plan.
    """
    problems: list[tuple[PlanPart, str]] = []
    for part, dose in ((PlanPart.STARTING_DOSE, draft.starting_dose_mg), (PlanPart.TARGET, draft.target_dose_mg)):
        if dose is not None and out_of_range_message(dose):
            problems.append((part, PLAN_DOSE_OUT_OF_RANGE))
    step = draft.step_mg
    if step is not None and (step < 0 or 0 < step < PLAN_STEP_MIN_MG or step > LDN_MAX_MG):
        problems.append((PlanPart.STEP, STEP_OUTSIDE_LIMITS))
    elif step is not None and step > PLAN_STEP_MAX_MG and not draft.large_step_confirmed:
        problems.append((PlanPart.STEP_CONFIRMATION, LARGE_STEP_NEEDS_CONFIRMATION))
    starting, target = draft.starting_dose_mg, draft.target_dose_mg
    if step == 0 and starting is not None and target is not None and starting != target:
        problems.append((PlanPart.TARGET, FIXED_DOSE_TARGET))
    interval = draft.step_interval_days
    if interval is not None and not PLAN_INTERVAL_MIN_DAYS <= interval <= PLAN_INTERVAL_MAX_DAYS:
        problems.append((PlanPart.INTERVAL, INTERVAL_OUTSIDE_LIMITS))
    start = draft.start_date
    if start is not None:
        if start < born:
            problems.append((PlanPart.START, PLAN_STARTS_BEFORE_BIRTH))
        elif start < today - datetime.timedelta(days=PLAN_START_MAX_DAYS_BACK):
            problems.append((PlanPart.START, START_TOO_FAR_BACK))
        if start > today + datetime.timedelta(days=PLAN_START_MAX_DAYS_BACK):
            problems.append((PlanPart.START, START_TOO_FAR_AHEAD))
        elif start > today and replaces_a_plan:
            # Saving ends the current plan now: a later start would leave the patient without a plan.
            problems.append((PlanPart.START, FUTURE_START_WITH_ACTIVE_PLAN))
    if draft.liquid:
        concentration = draft.concentration_mg_per_ml
        if not concentration or concentration <= 0:
            problems.append((PlanPart.CONCENTRATION, LIQUID_NEEDS_CONCENTRATION))
        elif not CONCENTRATION_MIN_MG_PER_ML <= concentration <= CONCENTRATION_MAX_MG_PER_ML:
            problems.append((PlanPart.CONCENTRATION, CONCENTRATION_OUTSIDE_LIMITS))
    return problems


def plan_in_force(plans: Sequence[PlanTerms], day: datetime.date) -> PlanTerms | None:
    """The plan that applied on ``day``: the latest (in the order given) whose span covers it.

    A backfilled dose is checked against the plan of its own date, not the current one.
    """
    covering = [plan for plan in plans if plan.covers(day)]
    return covering[-1] if covering else None


# --- flags -------------------------------------------------------------------------------------------


class FlagKind(StrEnum):
    OUT_OF_RANGE = "out_of_range"
    TENFOLD_CHANGE = "tenfold_change"
    STEP_TOO_LARGE = "step_too_large"
    RESTART_HIGH = "restart_high"
    OFF_SCHEDULE = "off_schedule"
    ADHERENCE = "adherence"
    SEVERE_SIDE_EFFECT = "severe_side_effect"
    CONTRAINDICATION = "contraindication"
    SUPPLY_CHANGED = "supply_changed"
    FORMULATION_MISMATCH = "formulation_mismatch"
    TAKEN_WHILE_OFF = "taken_while_off"

    @property
    def label(self) -> str:
        return FLAG_KIND_LABELS[self]


FLAG_KIND_LABELS = {
    FlagKind.OUT_OF_RANGE: "Outside LDN range",
    FlagKind.TENFOLD_CHANGE: "Tenfold change",
    FlagKind.STEP_TOO_LARGE: "Step too large",
    FlagKind.RESTART_HIGH: "Restart above starting dose",
    FlagKind.OFF_SCHEDULE: "Differs from plan",
    FlagKind.ADHERENCE: "Missed doses",
    FlagKind.SEVERE_SIDE_EFFECT: "Severe side effect",
    FlagKind.CONTRAINDICATION: "Contraindicated medication",
    FlagKind.SUPPLY_CHANGED: "Formulation or concentration changed",
    FlagKind.FORMULATION_MISMATCH: "Formulation differs from plan",
    FlagKind.TAKEN_WHILE_OFF: "Taken while paused or stopped",
}


class Severity(IntEnum):
    """Ordered so that the queue can sort critical first."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30

    @property
    def label(self) -> str:
        return self.name.capitalize()


@dataclass(frozen=True)
class Finding:
    kind: FlagKind
    severity: Severity
    message: str


SEVERE_SIDE_EFFECT_SEVERITY = "severe"
CRITICAL_NOTE_MIN_WORDS = 3
CRITICAL_NEEDS_PRESCRIBER = "Only a prescriber can acknowledge a critical flag."
CRITICAL_NOTE_TOO_SHORT = "Acknowledging a critical flag needs a note of at least a few words: what was checked."
ROLE_CANNOT_ACKNOWLEDGE = "Your role cannot acknowledge flags."
# The worklist's "no dose taken for a week": a week without LDN usually means restarting low (clinical
# reference, "Restarting and holding"), so the clinic calls before that happens.
STALE_AFTER_DAYS = 7


def side_effect_finding(label: str, severity: str, day: datetime.date) -> Finding | None:
    """A severe side effect reported at a check-in is a warning (clinical reference, "Side effects": usually
    mild and transient, so a severe one deserves a look); mild and moderate ones raise nothing."""
    if severity != SEVERE_SIDE_EFFECT_SEVERITY:
        return None
    return Finding(
        FlagKind.SEVERE_SIDE_EFFECT,
        Severity.WARNING,
        f"Severe {label.lower()} reported at the check-in of {day:%-d %b %Y}.",
    )


def acknowledgement_problem(
    severity: Severity, note: str, *, may_acknowledge: bool, may_acknowledge_critical: bool
) -> str | None:
    """Why a flag cannot be closed as acknowledged, or None. A critical flag: prescribers only, with a note of
    at least a few words saying what was checked (few, specific alerts that explain themselves: clinical
    reference, "Alert fatigue"); info and warning flags: either role, any note."""
    if severity == Severity.CRITICAL:
        if not may_acknowledge_critical:
            return CRITICAL_NEEDS_PRESCRIBER
        if len(note.split()) < CRITICAL_NOTE_MIN_WORDS:
            return CRITICAL_NOTE_TOO_SHORT
        return None
    return None if may_acknowledge else ROLE_CANNOT_ACKNOWLEDGE


@dataclass(frozen=True)
class DoseContext:
    """The facts around one day that the assessment needs, all plain values."""

    plan: PlanTerms | None = None
    state: PlanState = PlanState.TITRATING
    expected: Decimal | None = None  # the patient-paced expected dose of the day
    previous: Decimal | None = None  # the previous accepted taken dose
    days_since_previous: int | None = None
    is_first: bool = True  # no accepted taken dose before this day
    restart_gap_days: int | None = None  # set when this day restarts the plan after a gap


def _tenfold(dose: Decimal, reference: Decimal) -> bool:
    return reference > 0 and (dose >= reference * TENFOLD or dose * TENFOLD <= reference)


def slip_candidates(dose: Decimal) -> list[Decimal]:
    """What a decimal slip may have meant: the dose moved by one or two decimal places, within 0.05–4.5 mg."""
    candidates = []
    for factor in (Decimal("0.01"), Decimal("0.1"), Decimal("10"), Decimal("100")):
        value = (dose * factor).normalize()
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if LDN_MIN_MG / TENFOLD <= value <= LDN_MAX_MG and places <= MAX_DECIMAL_PLACES:
            candidates.append(value)
    return sorted(candidates)


def _did_you_mean(dose: Decimal) -> str:
    candidates = slip_candidates(dose)
    if not candidates:
        return "check for a decimal slip"
    return "did you mean " + " or ".join(format_number(c) for c in candidates) + " mg?"


def _slip(dose: Decimal, reference: Decimal, what: str) -> Finding:
    direction = "above" if dose > reference else "below"
    return Finding(
        FlagKind.TENFOLD_CHANGE,
        Severity.CRITICAL,
        f"{format_dose(dose)} is ten times or more {direction} {what} of {format_dose(reference)}: "
        f"{_did_you_mean(dose)}",
    )


def dose_findings(dose: Decimal, context: DoseContext) -> list[Finding]:
    """The findings of a taken dose, most severe first. The rule table of ``docs/clinical-rules.md``:

    * >= 10x or <= 1/10 of the previous accepted dose, of the expected dose of the day, or (first dose) of
      the plan's starting dose: critical (ISMP, a likely decimal slip);
    * outside 0.5–4.5 mg: warning (soft limit; stored only after a confirmation with a reason);
    * restarting after a gap above the plan's starting dose: warning (LDN protocols: restart low);
    * a first dose more than one plan step above the starting dose: warning;
    * a step up from the previous accepted dose larger than the plan's step (1.5 mg without a plan): warning;
    * different from the expected dose while titrating, and nothing else explains it: info (runs of these
      become one flag; holding at the best-tolerated dose is intended, so never while holding);
    * taken while the plan is paused or stopped: warning (runs of these become one flag).
    """
    findings: list[Finding] = []
    plan = context.plan
    references: list[tuple[Decimal, str]] = []
    if context.previous is not None:
        references.append((context.previous, "the previous dose"))
    if context.is_first and plan is not None:
        references.append((plan.starting_dose_mg, "the plan's starting dose"))
    if context.expected is not None:
        references.append((context.expected, "the expected dose for the day"))
    slip = next((_slip(dose, ref, what) for ref, what in references if _tenfold(dose, ref)), None)
    if slip:
        findings.append(slip)
    range_message = out_of_range_message(dose)
    if range_message:
        findings.append(Finding(FlagKind.OUT_OF_RANGE, Severity.WARNING, range_message))
    if slip is None:
        findings.extend(_step_findings(dose, context))
    off = taken_while_off_finding(dose, context)
    if off:
        findings.append(off)
    if (
        not findings
        and plan is not None
        and context.state == PlanState.TITRATING
        and context.expected is not None
        and dose != context.expected
    ):
        findings.append(
            Finding(
                FlagKind.OFF_SCHEDULE,
                Severity.INFO,
                f"{format_dose(dose)} differs from the expected {format_dose(context.expected)} for this day.",
            )
        )
    return sorted(findings, key=lambda f: f.severity, reverse=True)


def taken_while_off_finding(dose: Decimal, context: DoseContext) -> Finding | None:
    """A dose taken on a day the prescriber had paused or stopped the plan is a warning: LDN is often paused
    for a reason that makes it unsafe (opioids before surgery: clinical reference, "Medications and
    contraindications"), and a restart belongs in the plan (restart low: "Restarting and holding")."""
    if context.plan is None or context.state not in (PlanState.PAUSED, PlanState.STOPPED):
        return None
    return Finding(
        FlagKind.TAKEN_WHILE_OFF,
        Severity.WARNING,
        f"{format_dose(dose)} taken while the plan is {context.state.value}. If the patient has restarted, "
        "resume the plan; otherwise check why.",
    )


def _step_findings(dose: Decimal, context: DoseContext) -> list[Finding]:
    plan = context.plan
    if plan is not None and context.restart_gap_days is not None and dose > plan.starting_dose_mg:
        return [
            Finding(
                FlagKind.RESTART_HIGH,
                Severity.WARNING,
                f"Restarting after a {context.restart_gap_days}-day gap at {format_dose(dose)}; the plan restarts "
                f"at {format_dose(plan.starting_dose_mg)}.",
            )
        ]
    if context.is_first:
        if plan is not None and plan.step_mg > 0 and dose - plan.starting_dose_mg > plan.step_mg:
            return [
                Finding(
                    FlagKind.STEP_TOO_LARGE,
                    Severity.WARNING,
                    f"A first dose of {format_dose(dose)} is more than one step above the plan's starting dose "
                    f"of {format_dose(plan.starting_dose_mg)}; the plan steps {format_dose(plan.step_mg)}.",
                )
            ]
        return []
    if context.previous is None or context.restart_gap_days is not None:
        return []
    if plan is not None and dose == plan.starting_dose_mg == context.expected:
        # The prescriber's own starting dose for a new plan is not a step the patient took on their own.
        return []
    max_step = plan.step_mg if plan is not None and plan.step_mg > 0 else DEFAULT_MAX_STEP_MG
    step = dose - context.previous
    if step > max_step:
        usual = "the plan steps" if plan is not None and plan.step_mg > 0 else "the usual largest step is"
        return [
            Finding(
                FlagKind.STEP_TOO_LARGE,
                Severity.WARNING,
                f"{format_dose(dose)} is a step of {format_dose(step)} from {format_dose(context.previous)}; "
                f"{usual} {format_dose(max_step)}.",
            )
        ]
    return []


def needs_confirmation(findings: Sequence[Finding]) -> list[Finding]:
    """The findings a prescriber must confirm with a reason before the dose is stored."""
    return [f for f in findings if f.kind == FlagKind.OUT_OF_RANGE or f.severity == Severity.CRITICAL]


class Outcome(Enum):
    REFUSED = "refused"
    NEEDS_CONFIRMATION = "needs confirmation"
    ACCEPTED = "accepted"


class Problem(StrEnum):
    """What is wrong with a record, so a caller can point at it without the rules knowing any form."""

    DAY = "day"
    DOSE = "dose"
    CONFIRMATION = "confirmation"
    OVERRIDE_REASON = "override reason"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str = ""
    problem: Problem | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


def check_record_day(day: datetime.date, *, today: datetime.date, born: datetime.date) -> str | None:
    """Why a clinical record cannot be dated ``day`` (not in the future, not before birth), or None."""
    if day > today:
        return FUTURE_DAY
    if day < born:
        return BEFORE_BIRTH
    return None


def assess_dose(
    *,
    dose: Decimal | None,
    day: datetime.date,
    taken: bool,
    context: DoseContext,
    today: datetime.date,
    born: datetime.date,
    day_has_entry: bool,
    confirmed: bool = False,
    override_reason: str = "",
) -> Verdict:
    """The one verdict on a dose about to be recorded: refused, needs confirmation, or accepted with findings.

    A missed dose (``taken`` false) carries no dose and is never range-checked.
    """
    day_problem = check_record_day(day, today=today, born=born)
    if day_problem:
        return Verdict(Outcome.REFUSED, day_problem, Problem.DAY)
    if day_has_entry:
        return Verdict(Outcome.REFUSED, DUPLICATE_DAY, Problem.DAY)
    if not taken:
        return Verdict(Outcome.ACCEPTED)
    if dose is None:
        return Verdict(Outcome.REFUSED, DOSE_REQUIRED, Problem.DOSE)
    hard_limit = hard_limit_problem(dose)
    if hard_limit:
        return Verdict(Outcome.REFUSED, hard_limit, Problem.DOSE)
    findings = tuple(dose_findings(dose, context))
    to_confirm = needs_confirmation(findings)
    if to_confirm and not confirmed:
        message = " ".join(f.message for f in to_confirm)
        return Verdict(Outcome.NEEDS_CONFIRMATION, message, Problem.CONFIRMATION, findings)
    if to_confirm and not override_reason.strip():
        return Verdict(Outcome.NEEDS_CONFIRMATION, OVERRIDE_REASON_REQUIRED, Problem.OVERRIDE_REASON, findings)
    return Verdict(Outcome.ACCEPTED, findings=findings)


# --- contraindications and safety warnings (medications) ----------------------------------------------


def contraindication_findings(opioid_messages: Sequence[str], state: PlanState | None) -> list[Finding]:
    """A critical finding per contraindicating opioid current while LDN is active (a plan titrating or
    holding): naltrexone blocks opioid analgesia and can precipitate withdrawal (clinical reference,
    "Medications and contraindications"). ``state`` is None without an active plan; a paused or stopped plan
    gives nothing. The messages, naming both drugs, come from ``medications.rules``."""
    if state not in (PlanState.TITRATING, PlanState.HOLDING):
        return []
    return [Finding(FlagKind.CONTRAINDICATION, Severity.CRITICAL, message) for message in opioid_messages]


OPIOID_NEEDS_CONFIRMATION = (
    "An opioid is recorded as current: setting an LDN plan needs a confirmation with the reason (for example a "
    "planned washout), and raises a critical flag."
)
OPIOID_REASON_REQUIRED = (
    "Give the reason for setting a plan while an opioid is current (for example a planned washout)."
)
HYPERSENSITIVITY_REASON_REQUIRED = (
    "Known naltrexone hypersensitivity: tick the confirmation and give the reason to set a plan."
)


# --- liquid doses ------------------------------------------------------------------------------------

# Clinical reference, "Liquid doses": mg = mL times mg/mL; an oral syringe reads to 0.1 mL. A volume above 20 mL
# is no LDN dose at any usual strength (20 mL of 0.1 mg/mL is 2 mg): clinic policy, a likely unit error.
LIQUID_MAX_ML = Decimal("20")
ML_PLACES = 2
NOT_A_VOLUME = "Enter the volume as a number of mL, for example 3."
VOLUME_NOT_POSITIVE = "The volume must be more than 0 mL."
VOLUME_ABOVE_MAX = "A liquid dose cannot be more than 20 mL: check the volume (an oral syringe holds a few mL)."
VOLUME_TOO_MANY_PLACES = "Give the volume with at most 2 decimal places (an oral syringe reads to 0.1 mL)."
ML_BUT_NOT_LIQUID = (
    "This plan is not an oral liquid: enter the dose in mg in the mg field, not in mL (the mL field is for liquid "
    "plans only)."
)
ML_WITHOUT_PLAN = "There is no plan with a liquid concentration for this day: enter the dose in mg, not in mL."
ML_AND_MG_DISAGREE = "The mL and mg fields disagree: {ml} mL of {conc} mg/mL is {mg}, not {given}. Clear one of them."


def format_concentration(concentration: Decimal) -> str:
    return f"{format_number(concentration)} mg/mL"


def format_volume(volume: Decimal) -> str:
    return f"{format_number(volume)} mL"


def ml_in_mg_field_message(volume: Decimal, concentration: Decimal | None) -> str:
    """A volume typed in the mg field ("3 mL"): never read as 3 mg."""
    if concentration is None:
        return ML_BUT_NOT_LIQUID
    mg = (volume * concentration).normalize()
    return (
        f"This plan is a {format_concentration(concentration)} liquid: enter {format_number(volume)} mL in the mL "
        f"field (= {format_dose(mg)})"
    )


@dataclass(frozen=True)
class LiquidDose:
    """A liquid dose as measured (``volume_ml``) and as every rule sees it (``dose_mg``)."""

    dose_mg: Decimal
    volume_ml: Decimal
    concentration_mg_per_ml: Decimal
    exact_mg: Decimal  # volume times concentration before rounding to 2 decimals

    @property
    def rounded(self) -> bool:
        return self.exact_mg != self.dose_mg

    @property
    def working(self) -> str:
        """The conversion as shown to the clinician: "3 mL of 0.5 mg/mL = 1.5 mg" (and the rounding, if any)."""
        text = f"{format_volume(self.volume_ml)} of {format_concentration(self.concentration_mg_per_ml)} = "
        if self.rounded:
            return text + f"{format_dose(self.exact_mg)}, rounded to {format_dose(self.dose_mg)}"
        return text + format_dose(self.dose_mg)


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def liquid_dose(volume_ml: Decimal, concentration: Decimal | None) -> LiquidDose:
    """Convert a measured volume at the plan's concentration (clinical reference, "Liquid doses").

    Refused (DoseError): no liquid concentration, 0 mL or less, more than 20 mL, or a volume that makes the mg
    need more than 2 decimal places (2.345 mL of 1 mg/mL: no syringe measures that). When only the
    concentration brings extra decimals (1.5 mL of 0.33 mg/mL = 0.495 mg), the mg is rounded to 2 decimals
    and the rounding is shown.
    """
    if concentration is None or concentration <= 0:
        raise DoseError(ML_BUT_NOT_LIQUID)
    if volume_ml <= 0:
        raise DoseError(VOLUME_NOT_POSITIVE)
    if volume_ml > LIQUID_MAX_ML:
        raise DoseError(VOLUME_ABOVE_MAX)
    exact = volume_ml * concentration
    if _places(volume_ml) > ML_PLACES and _places(exact) <= MAX_DECIMAL_PLACES:
        raise DoseError(VOLUME_TOO_MANY_PLACES)
    if _places(volume_ml) > ML_PLACES:
        raise DoseError(
            f"{format_volume(volume_ml)} of {format_concentration(concentration)} is {format_dose(exact)}, which "
            "needs more than 2 decimal places of mg: an oral syringe reads to 0.1 mL, so check the volume."
        )
    dose = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if dose <= 0:
        raise DoseError(NOT_POSITIVE)
    return LiquidDose(dose_mg=dose, volume_ml=volume_ml, concentration_mg_per_ml=concentration, exact_mg=exact)


def resolve_liquid_dose(
    *, dose_mg: Decimal | None, volume_ml: Decimal | None, concentration: Decimal | None
) -> LiquidDose | None:
    """The liquid dose of a dose form: None when only mg was given. Raises DoseError when mL was given for a
    plan that is not a liquid, or when mL and mg are both given and disagree."""
    if volume_ml is None:
        return None
    if concentration is None:
        raise DoseError(ML_BUT_NOT_LIQUID)
    liquid = liquid_dose(volume_ml, concentration)
    if dose_mg is not None and dose_mg != liquid.dose_mg:
        raise DoseError(
            ML_AND_MG_DISAGREE.format(
                ml=format_number(liquid.volume_ml),
                conc=format_number(concentration),
                mg=format_dose(liquid.dose_mg),
                given=format_dose(dose_mg),
            )
        )
    return liquid


def format_entry_dose(
    dose_mg: Decimal | None, volume_ml: Decimal | None = None, concentration: Decimal | None = None
) -> str:
    """A dose as shown on every surface: "1.5 mg", or a liquid one as "1.5 mg (3 mL of 0.5 mg/mL)"."""
    if dose_mg is None or volume_ml is None or concentration is None:
        return format_dose(dose_mg)
    return f"{format_dose(dose_mg)} ({format_volume(volume_ml)} of {format_concentration(concentration)})"


# --- formulation and concentration between plans ----------------------------------------------------

FORMULATION_NAMES = {
    "capsule": "compounded capsule",
    "liquid": "oral liquid",
    "sublingual": "sublingual drops",
    "other": "other formulation",
}


def _supply_name(formulation: str, concentration: Decimal | None) -> str:
    name = FORMULATION_NAMES.get(formulation, formulation)
    return f"{name} of {format_concentration(concentration)}" if concentration else name


def _ratio_words(ratio: Decimal) -> str:
    if ratio == 2:
        return "double the dose"
    if ratio == Decimal("0.5"):
        return "half the dose"
    return f"{format_number(ratio.quantize(Decimal('0.01')))} times the dose"


def supply_change_note(previous: tuple[str, Decimal | None] | None, current: tuple[str, Decimal | None]) -> str:
    """How a plan's formulation or concentration differs from the plan before it, or "" (clinical reference,
    "Liquid doses": a new strength silently halves or doubles the dose if the patient keeps the same mL).

    Each is (formulation, concentration mg/mL or None).
    """
    if previous is None:
        return ""
    (old_form, old_conc), (new_form, new_conc) = previous, current
    if old_form == new_form == "liquid" and old_conc and new_conc and old_conc != new_conc:
        return (
            f"concentration changed from {format_concentration(old_conc)} to {format_concentration(new_conc)}: "
            f"the same mL is now {_ratio_words(new_conc / old_conc)}"
        )
    if old_form != new_form:
        note = f"formulation changed from {_supply_name(old_form, old_conc)} to {_supply_name(new_form, new_conc)}"
        if new_form == "liquid":
            return note + ": doses are now measured in mL"
        return note
    return ""


def supply_change_finding(note: str) -> Finding:
    """The info note on the first dose after a change of formulation or concentration."""
    return Finding(FlagKind.SUPPLY_CHANGED, Severity.INFO, f"First dose since the plan's {note}.")


def formulation_mismatch_finding(
    *, entry_formulation: str, plan_formulation: str, day: datetime.date, plan_changed_on: Sequence[datetime.date]
) -> Finding | None:
    """A dose recorded in another formulation than the plan's: an info note (the patient may have an old
    supply, or the entry may be wrong), unless the plan changed that day (the switch-over day)."""
    if not entry_formulation or not plan_formulation or entry_formulation == plan_formulation:
        return None
    if day in plan_changed_on:
        return None
    return Finding(
        FlagKind.FORMULATION_MISMATCH,
        Severity.INFO,
        f"Recorded as {FORMULATION_NAMES.get(entry_formulation, entry_formulation)}, but the plan is "
        f"{FORMULATION_NAMES.get(plan_formulation, plan_formulation)}.",
    )
