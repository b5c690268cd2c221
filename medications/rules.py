"""The medication rules: the opioid matcher, the contraindication to LDN and the patient safety warnings.

Plain functions of plain values (no ORM, no request). Source: the clinical reference, "Medications and
contraindications" — naltrexone is an opioid antagonist, so a current opioid is the one true contraindication;
pregnancy, breastfeeding, hepatic impairment, a known hypersensitivity and age under 18 are warnings for the
prescriber, never silent blocks.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

NOT_CHECKED = "not checked against the opioid list"

# The critical flag of the issue, naming both drugs; the titration app raises it while a plan is active.
OPIOID_WHILE_LDN_ACTIVE = (
    "{drug} (opioid) is recorded as current while LDN is active: naltrexone blocks opioid analgesia and can "
    "precipitate withdrawal."
)
# The same fact on the medication list, which does not know whether a plan is active.
OPIOID_CONTRAINDICATES_LDN = (
    "{drug} (opioid) is recorded as current: naltrexone blocks opioid analgesia and can precipitate withdrawal, "
    "so it contraindicates LDN."
)

# Dates of a medication entry.
START_IN_FUTURE = "The start date cannot be in the future."
START_BEFORE_BIRTH = "The start date cannot be before the patient's date of birth."
STOP_BEFORE_START = "The stop date cannot be before the start date."
STOP_IN_FUTURE = "The stop date cannot be in the future: end the entry on the day it stops."

# Safety warnings: each says why, in one sentence.
PREGNANCY_WARNING = (
    "Pregnant: review before setting or changing LDN, because data on naltrexone in pregnancy come only from "
    "small case series."
)
BREASTFEEDING_WARNING = (
    "Breastfeeding: review before setting or changing LDN, because data on naltrexone in breastfeeding come only "
    "from small case series."
)
HEPATIC_WARNING = (
    "{level} hepatic impairment: naltrexone is metabolised in the liver and its label advises caution, so review "
    "the dose."
)
HYPERSENSITIVITY_WARNING = (
    "Known naltrexone hypersensitivity: setting a plan needs a confirmation with a reason, because the reaction "
    "may recur."
)
PAEDIATRIC_WARNING = "Paediatric patient: check the dose against a paediatric protocol."

ADULT_AGE_YEARS = 18
HEPATIC_LEVELS_THAT_WARN = frozenset({"moderate", "severe"})

# The longest run of words of a name that one reference name may span ("tylenol with codeine 3").
_MAX_WORDS = 4
_WORD = re.compile(r"[a-z]+|[0-9]+")


@dataclass(frozen=True)
class OpioidReference:
    """One ingredient of the opioid reference list with its names (ingredient first, then brands and aliases)."""

    ingredient: str
    atc_code: str
    is_contraindication: bool
    reason: str = ""
    aliases: tuple[str, ...] = ()
    pk: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.ingredient, *self.aliases)

    @property
    def label(self) -> str:
        return self.ingredient[:1].upper() + self.ingredient[1:]


@dataclass(frozen=True)
class OpioidMatch:
    """A medication name recognised on the reference list, and the reference name it matched."""

    reference: OpioidReference
    matched_name: str

    @property
    def ingredient(self) -> str:
        return self.reference.ingredient

    @property
    def is_contraindication(self) -> bool:
        return self.reference.is_contraindication

    @property
    def status(self) -> str:
        return opioid_status(self)


@dataclass(frozen=True)
class Contraindication:
    """A current opioid, with the medication names it was recorded under and the critical message."""

    ingredient: str
    recorded_as: tuple[str, ...]
    message: str


@lru_cache(maxsize=4096)
def name_words(text: str) -> tuple[str, ...]:
    """Lower-case words and numbers of a name, accents and punctuation dropped: "Co-codamol 30/500" →
    ("co", "codamol", "30", "500"); letters and digits split ("tramadol50mg" → "tramadol", "50", "mg")."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return tuple(_WORD.findall(folded))


def _key(name: str) -> str:
    return "".join(name_words(name))


def _contains(words: Sequence[str], key: str) -> bool:
    """Whether consecutive whole words of the name spell ``key`` ("co codamol" and "cocodamol" both spell
    "cocodamol"); whole words only, so "codeine" is not found inside "dihydrocodeine"."""
    for start in range(len(words)):
        joined = ""
        for word in words[start : start + _MAX_WORDS]:
            joined += word
            if joined == key:
                return True
            if len(joined) >= len(key):
                break
    return False


def match_opioid(name: str, references: Iterable[OpioidReference]) -> OpioidMatch | None:
    """The reference whose ingredient or brand name appears in ``name``, or None when it is not on the list.

    Case-insensitive, tolerant of strengths ("tramadol 50 mg"), punctuation and spacing ("co-codamol 30/500",
    "Co codamol"). When several names appear, the longest wins ("dihydro codeine" is dihydrocodeine, not codeine).
    """
    words = name_words(name)
    if not words:
        return None
    best: OpioidMatch | None = None
    best_length = 0
    for reference in references:
        for candidate in reference.names:
            key = _key(candidate)
            if len(key) > best_length and _contains(words, key):
                best, best_length = OpioidMatch(reference=reference, matched_name=candidate), len(key)
    return best


def match_medication(name: str, active_ingredient: str, references: Sequence[OpioidReference]) -> OpioidMatch | None:
    """Match a recorded medication by its name, else by its active ingredient."""
    return match_opioid(name, references) or match_opioid(active_ingredient, references)


def opioid_status(match: OpioidMatch | None) -> str:
    """How the medication list describes an entry's place on the opioid list."""
    if match is None:
        return NOT_CHECKED
    if match.is_contraindication:
        return f"opioid ({match.ingredient}): contraindicated with LDN"
    return f"{match.ingredient}: not a contraindication"


def is_current(*, start_date: datetime.date, stop_date: datetime.date | None, voided: bool, on: datetime.date) -> bool:
    """Whether an entry is current on ``on``: started, not yet stopped (the stop date is the first day without
    it, so an entry ended today is no longer current today), and not voided."""
    return not voided and start_date <= on and (stop_date is None or on < stop_date)


def start_date_problem(start: datetime.date, *, today: datetime.date, born: datetime.date) -> str | None:
    if start > today:
        return START_IN_FUTURE
    if start < born:
        return START_BEFORE_BIRTH
    return None


def stop_date_problem(stop: datetime.date, *, start: datetime.date, today: datetime.date) -> str | None:
    if stop < start:
        return STOP_BEFORE_START
    if stop > today:
        return STOP_IN_FUTURE
    return None


def opioid_contraindications(
    current: Iterable[tuple[str, OpioidMatch | None]], *, template: str = OPIOID_WHILE_LDN_ACTIVE
) -> list[Contraindication]:
    """The contraindicating opioids among the current medications, given as (recorded name, match) pairs.

    One per ingredient, in the order first recorded; loperamide and unmatched names give none. The message is
    the critical one of the clinical reference: naltrexone blocks opioid analgesia and can precipitate
    withdrawal.
    """
    found: dict[str, tuple[OpioidMatch, list[str]]] = {}
    for recorded_name, match in current:
        if match is None or not match.is_contraindication:
            continue
        found.setdefault(match.ingredient, (match, []))[1].append(recorded_name)
    return [
        Contraindication(
            ingredient=ingredient,
            recorded_as=tuple(names),
            message=template.format(drug=match.reference.label),
        )
        for ingredient, (match, names) in found.items()
    ]


class SafetyWarningKind(StrEnum):
    PREGNANCY = "pregnancy"
    BREASTFEEDING = "breastfeeding"
    HEPATIC = "hepatic"
    HYPERSENSITIVITY = "hypersensitivity"
    PAEDIATRIC = "paediatric"


@dataclass(frozen=True)
class SafetyValues:
    """The facts of a patient's safety profile, as plain values."""

    pregnant: bool = False
    breastfeeding: bool = False
    hepatic_impairment: str = "none"
    naltrexone_hypersensitivity: bool = False


@dataclass(frozen=True)
class SafetyWarning:
    """A warning for the prescriber; ``needs_confirmation`` when setting a plan must be confirmed with a reason."""

    kind: SafetyWarningKind
    message: str
    needs_confirmation: bool = False
    severity: str = "warning"


def safety_warnings(profile_values: SafetyValues | None, age_years: int | None) -> list[SafetyWarning]:
    """The warnings that apply to a patient, most pressing first; never a block.

    Clinical reference, "Medications and contraindications": pregnancy and breastfeeding have few data (small
    case series) and are for review; naltrexone is metabolised in the liver, so moderate or severe hepatic
    impairment warrants caution; under 18 the dose is checked against a paediatric protocol (paediatric Crohn's
    disease: 0.1 mg/kg, at most 4.5 mg). A known hypersensitivity needs a confirmation to set a plan.
    ``profile_values`` is None when no profile is recorded: only the age can warn then.
    """
    warnings: list[SafetyWarning] = []
    values = profile_values or SafetyValues()
    if values.naltrexone_hypersensitivity:
        warnings.append(
            SafetyWarning(SafetyWarningKind.HYPERSENSITIVITY, HYPERSENSITIVITY_WARNING, needs_confirmation=True)
        )
    if values.pregnant:
        warnings.append(SafetyWarning(SafetyWarningKind.PREGNANCY, PREGNANCY_WARNING))
    if values.breastfeeding:
        warnings.append(SafetyWarning(SafetyWarningKind.BREASTFEEDING, BREASTFEEDING_WARNING))
    if values.hepatic_impairment in HEPATIC_LEVELS_THAT_WARN:
        level = values.hepatic_impairment.capitalize()
        warnings.append(SafetyWarning(SafetyWarningKind.HEPATIC, HEPATIC_WARNING.format(level=level)))
    if age_years is not None and age_years < ADULT_AGE_YEARS:
        warnings.append(SafetyWarning(SafetyWarningKind.PAEDIATRIC, PAEDIATRIC_WARNING))
    return warnings
