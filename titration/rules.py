"""Pure dose rules: parsing, limits, the scheduled dose of a plan, and the flags a dose raises.

Plain functions of plain values (``Decimal``, ``date``): no ORM, no request, so every rule is
tested on its edges directly. Numbers come from the clinical reference ("Recording doses safely",
"Low dose naltrexone (LDN) in chronic pain"):

* LDN range 0.5–4.5 mg once daily. Outside it is a *soft limit*: allowed only with a confirmation
  and a reason, and flagged.
* Hard limits, never overridable: a dose of 0 mg or less, or above 50 mg (the full naltrexone dose).
* A dose >= 10x or <= 1/10 of the previous one is almost always a decimal slip: critical flag (ISMP).
* Doses are written with a leading zero and no trailing zero (ISMP): ``0.5 mg``, ``3 mg``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum

LDN_MIN_MG = Decimal("0.5")
LDN_MAX_MG = Decimal("4.5")
HARD_MAX_MG = Decimal("50")
DEFAULT_MAX_STEP_MG = Decimal("1.5")
TENFOLD = Decimal("10")
MAX_DECIMAL_PLACES = 2

NOT_A_NUMBER = "Enter the dose as a number of mg, for example 1.5."
DECIMAL_COMMA = "Use a decimal point, not a comma: write 1.5, not 1,5."
NOT_POSITIVE = "The dose must be more than 0 mg."
TOO_MANY_PLACES = "Give the dose with at most 2 decimal places."
ABOVE_HARD_MAX = "No LDN dose can be above 50 mg (the full naltrexone dose). Check the number."


_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class DoseError(ValueError):
    """A dose that can never be stored (hard limit or unreadable)."""


def parse_dose(raw: str) -> Decimal:
    """Read a dose typed by a clinician, in mg. Raises DoseError with a message for the form."""
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
        dose = Decimal(text)
    except InvalidOperation:
        raise DoseError(NOT_A_NUMBER) from None
    check_hard_limits(dose)
    return dose


def check_hard_limits(dose: Decimal) -> None:
    """Raise DoseError for a dose no confirmation can allow."""
    if dose <= 0:
        raise DoseError(NOT_POSITIVE)
    if dose > HARD_MAX_MG:
        raise DoseError(ABOVE_HARD_MAX)
    exponent = dose.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise DoseError(TOO_MANY_PLACES)


def format_dose(dose: Decimal | None) -> str:
    """``0.5 mg``, ``1.5 mg``, ``3 mg``: leading zero, no trailing zeros (ISMP)."""
    if dose is None:
        return "—"
    text = format(dose.normalize(), "f")
    return f"{text} mg"


def out_of_range_message(dose: Decimal) -> str | None:
    """The warning for a dose outside 0.5–4.5 mg, or None when it is inside (the bounds included)."""
    if dose < LDN_MIN_MG:
        return f"{format_dose(dose)} is below the LDN range of 0.5–4.5 mg."
    if dose > LDN_MAX_MG:
        return f"{format_dose(dose)} is above the LDN range of 0.5–4.5 mg."
    return None


@dataclass(frozen=True)
class Schedule:
    """The numbers of a titration plan that fix the scheduled dose of each day."""

    start_date: datetime.date
    starting_dose_mg: Decimal
    step_mg: Decimal
    step_interval_days: int
    target_dose_mg: Decimal


def scheduled_dose(schedule: Schedule, day: datetime.date) -> Decimal | None:
    """The plan's dose for ``day``: None before the plan starts.

    The dose moves by one step every ``step_interval_days`` towards the target and then holds
    there (a plan may also step down, when its target is below its start).
    """
    if day < schedule.start_date:
        return None
    steps = (day - schedule.start_date).days // schedule.step_interval_days
    if schedule.target_dose_mg >= schedule.starting_dose_mg:
        return min(schedule.starting_dose_mg + steps * schedule.step_mg, schedule.target_dose_mg)
    return max(schedule.starting_dose_mg - steps * schedule.step_mg, schedule.target_dose_mg)


def next_step(schedule: Schedule, day: datetime.date) -> tuple[datetime.date, Decimal] | None:
    """The first date after ``day`` on which the scheduled dose changes, and that dose; None at target."""
    current = scheduled_dose(schedule, day)
    if current is None:
        return schedule.start_date, schedule.starting_dose_mg
    if current == schedule.target_dose_mg or schedule.step_mg == 0:
        return None
    steps_done = (day - schedule.start_date).days // schedule.step_interval_days
    step_day = schedule.start_date + datetime.timedelta(days=(steps_done + 1) * schedule.step_interval_days)
    dose = scheduled_dose(schedule, step_day)
    return (step_day, dose) if dose is not None else None


def steps_up_on(schedule: Schedule, day: datetime.date) -> bool:
    """Whether ``day`` is a step-up day of the plan (its scheduled dose is higher than the day before)."""
    today = scheduled_dose(schedule, day)
    yesterday = scheduled_dose(schedule, day - datetime.timedelta(days=1))
    return today is not None and yesterday is not None and today > yesterday


class FlagKind(StrEnum):
    OUT_OF_RANGE = "out_of_range"
    TENFOLD_CHANGE = "tenfold_change"
    STEP_TOO_LARGE = "step_too_large"
    OFF_SCHEDULE = "off_schedule"
    SEVERE_SIDE_EFFECT = "severe_side_effect"


class Severity(IntEnum):
    """Ordered so that the queue can sort critical first."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30


@dataclass(frozen=True)
class Finding:
    kind: FlagKind
    severity: Severity
    message: str


def evaluate_dose(
    dose: Decimal,
    *,
    previous_dose: Decimal | None,
    plan_step_mg: Decimal | None,
    scheduled_mg: Decimal | None,
) -> list[Finding]:
    """The flags a taken dose raises, most severe first.

    * outside 0.5–4.5 mg: warning (stored only after a confirmation with a reason);
    * >= 10x or <= 1/10 of the previous dose: critical, a likely decimal slip;
    * otherwise, a step up from the previous dose larger than the plan's step (1.5 mg without a
      plan): warning;
    * different from the plan's scheduled dose: info (a deliberate hold is common), and only when no other
      flag already explains the dose (alert fatigue: few, specific flags).
    """
    findings: list[Finding] = []
    if previous_dose is not None and previous_dose > 0:
        if dose >= previous_dose * TENFOLD or dose * TENFOLD <= previous_dose:
            findings.append(
                Finding(
                    FlagKind.TENFOLD_CHANGE,
                    Severity.CRITICAL,
                    f"{format_dose(dose)} is ten times or more {'above' if dose > previous_dose else 'below'} "
                    f"the previous dose of {format_dose(previous_dose)}: check for a decimal slip.",
                )
            )
        else:
            max_step = plan_step_mg if plan_step_mg else DEFAULT_MAX_STEP_MG
            if dose - previous_dose > max_step:
                findings.append(
                    Finding(
                        FlagKind.STEP_TOO_LARGE,
                        Severity.WARNING,
                        f"Step up of {format_dose(dose - previous_dose)} from {format_dose(previous_dose)} "
                        f"is larger than the {'plan' if plan_step_mg else 'usual'} step of {format_dose(max_step)}.",
                    )
                )
    range_message = out_of_range_message(dose)
    if range_message:
        findings.append(Finding(FlagKind.OUT_OF_RANGE, Severity.WARNING, range_message))
    if scheduled_mg is not None and dose != scheduled_mg and not findings:
        findings.append(
            Finding(
                FlagKind.OFF_SCHEDULE,
                Severity.INFO,
                f"{format_dose(dose)} differs from the plan's scheduled {format_dose(scheduled_mg)} for this day.",
            )
        )
    return sorted(findings, key=lambda f: f.severity, reverse=True)
