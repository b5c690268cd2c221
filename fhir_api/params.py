"""The search parameters the API understands, read strictly: anything else is a 400 with an OperationOutcome.

FHIR lets a server ignore parameters it does not know, but then a client that filters by one gets more than
it asked for without noticing; here it is told instead.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.http import QueryDict

from .scopes import RESOURCE_TYPES
from .sources import DateFilter

DEFAULT_COUNT = 50
MAX_COUNT = 1000
JSON_FORMATS = {"json", "application/json", "application/fhir+json"}

PATIENT = ("reference", "The patient: Patient/<id> or <id>")
# Every search parameter of each type: (FHIR type, what it matches). The CapabilityStatement lists them.
SEARCH_PARAMS: dict[str, dict[str, tuple[str, str]]] = {
    "Patient": {
        "_id": ("token", "The patient's id"),
        "identifier": ("token", "The MRN, as <system>|<MRN> or <MRN> alone (any letter case)"),
    },
    "Condition": {"patient": PATIENT, "date": ("date", "The day of diagnosis")},
    "MedicationRequest": {"patient": PATIENT, "date": ("date", "The plan's start date")},
    "MedicationAdministration": {
        "patient": PATIENT,
        "date": ("date", "The day of the dose"),
        "effective-time": ("date", "The day of the dose (as date)"),
    },
    "MedicationStatement": {
        "patient": PATIENT,
        "date": ("date", "The day the medication was started"),
        "effective": ("date", "The day the medication was started (as date)"),
    },
    "Observation": {"patient": PATIENT, "date": ("date", "The day of the check-in")},
    "DetectedIssue": {
        "patient": PATIENT,
        "date": ("date", "When the flag was raised"),
        "identified": ("date", "When the flag was raised (as date)"),
    },
    "Provenance": {
        "patient": PATIENT,
        "date": ("date", "When the change was recorded"),
        "recorded": ("date", "When the change was recorded (as date)"),
    },
}
EVERYTHING_PARAMS: dict[str, tuple[str, str]] = {
    "start": ("date", "Only records of this day or later (records without a date are always included)"),
    "end": ("date", "Only records of this day or earlier"),
    "_type": ("string", "Only these resource types, separated by commas"),
}
PAGING = {"_count", "_offset", "_format"}

_DATE = re.compile(r"(eq|ge|le|gt|lt)?([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_REFERENCE = re.compile(r"(?:Patient/)?([0-9]{1,18})")


class BadRequest(Exception):
    """A search the API cannot run as asked: 400, with the message in an OperationOutcome."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Search:
    patient_id: int | None = None
    identifier: tuple[str | None, str] | None = None
    dates: list[DateFilter] = field(default_factory=list)
    types: tuple[str, ...] = RESOURCE_TYPES
    offset: int = 0
    count: int = DEFAULT_COUNT


def parse_date(raw: str, prefix: str | None = None) -> DateFilter:
    """``ge2024-03``, ``le2024-03-31``, ``2024``: a prefix (eq by default) and a year, month or day."""
    match = _DATE.fullmatch(raw)
    if not match:
        raise BadRequest(
            f"Cannot read the date {raw!r}: give a year, month or day (2024, 2024-03 or 2024-03-01), "
            "with an optional prefix eq, ge, le, gt or lt."
        )
    given_prefix, year, month, day = match.groups()
    try:
        if day:
            first = last = datetime.date(int(year), int(month), int(day))
        elif month:
            first = datetime.date(int(year), int(month), 1)
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        else:
            first, last = datetime.date(int(year), 1, 1), datetime.date(int(year), 12, 31)
    except ValueError:
        raise BadRequest(f"There is no such date: {raw!r}.") from None
    return DateFilter(prefix or given_prefix or "eq", first, last)


def _one(query: QueryDict, name: str) -> str:
    values = query.getlist(name)
    if len(values) != 1 or not values[0].strip():
        raise BadRequest(f"Give {name} once, with a value.")
    return values[0].strip()


def _integer(query: QueryDict, name: str, default: int, maximum: int | None = None) -> int:
    if name not in query:
        return default
    raw = _one(query, name)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise BadRequest(f"{name} must be a whole number of 0 or more.")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise BadRequest(f"{name} can be at most {maximum}.")
    return value


def _unknown(query: QueryDict, allowed: Sequence[str], resource_type: str) -> None:
    unknown = sorted(set(query) - set(allowed) - PAGING)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise BadRequest(
            f"Unknown search parameter {', '.join(unknown)} for {resource_type}. "
            f"Supported: {known}, _count (at most {MAX_COUNT})."
        )


def _paging(query: QueryDict, search: Search) -> Search:
    if "_format" in query and _one(query, "_format") not in JSON_FORMATS:
        raise BadRequest("This server answers in JSON only (_format=json).")
    search.count = _integer(query, "_count", DEFAULT_COUNT, MAX_COUNT)
    search.offset = _integer(query, "_offset", 0)
    return search


def patient_reference(raw: str) -> int:
    match = _REFERENCE.fullmatch(raw)
    if not match:
        raise BadRequest(f"Cannot read the patient {raw!r}: give Patient/<id> or <id>.")
    return int(match.group(1))


def parse_search(resource_type: str, query: QueryDict) -> Search:
    allowed = SEARCH_PARAMS[resource_type]
    _unknown(query, list(allowed), resource_type)
    search = _paging(query, Search())
    if "patient" in query:
        search.patient_id = patient_reference(_one(query, "patient"))
    if "_id" in query:
        search.patient_id = patient_reference(_one(query, "_id"))
    if "identifier" in query:
        system, bar, value = _one(query, "identifier").rpartition("|")
        search.identifier = (system if bar else None, value)
    for name, (kind, _) in allowed.items():
        if kind == "date":
            search.dates += [parse_date(raw.strip()) for raw in query.getlist(name)]
    return search


def parse_everything(query: QueryDict) -> Search:
    _unknown(query, list(EVERYTHING_PARAMS), "Patient/$everything")
    search = _paging(query, Search())
    if "start" in query:
        search.dates.append(parse_date(_one(query, "start"), prefix="ge"))
    if "end" in query:
        search.dates.append(parse_date(_one(query, "end"), prefix="le"))
    if "_type" in query:
        types = tuple(name.strip() for name in _one(query, "_type").split(",") if name.strip())
        unknown = [name for name in types if name not in RESOURCE_TYPES]
        if unknown or not types:
            raise BadRequest(f"Unknown resource type in _type: {', '.join(unknown) or '(none)'}.")
        search.types = tuple(name for name in RESOURCE_TYPES if name in types)
    return search
