"""The files the import reads: the import template and the app's own CSV export, as CSV or XLSX.

Reading only: cells become typed rows (:class:`Row`) or a per-row message. Whether a dose or a day may be
recorded is decided later by the titration rules, exactly as for the forms. The columns of both formats are
mapped here and nowhere else, so a renamed export column is changed in one place (a test checks the mapping
against ``titration.export.HEADER``).
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models

from patients.csv_stream import csv_cell
from patients.models import Patient
from titration import rules
from titration.forms import CheckInForm, DoseEntryForm
from titration.models import DoseStatus, DosingTime, Formulation, SideEffect

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000

TEMPLATE = "template"
EXPORT = "export"

# The import template: column → what it holds. The order is the template's.
TEMPLATE_COLUMNS: dict[str, str] = {
    "mrn": "The patient's medical record number (matched within the clinic, whatever the letter case).",
    "given_name": "For a new patient (an MRN the clinic does not have yet).",
    "family_name": "For a new patient; if given for a known MRN, it must match the record.",
    "date_of_birth": "YYYY-MM-DD. For a new patient; if given for a known MRN, it must match the record.",
    "sex": "Optional: female, male, other or unknown.",
    "conditions": "For a new patient: condition names or ICD-10-CM codes, separated by ';' (Fibromyalgia; M79.7).",
    "date": "The day of the dose and check-in, YYYY-MM-DD (one row per patient and day).",
    "dose_mg": "The dose taken, in mg with a decimal point (1.5). Empty with status 'missed' for a missed dose.",
    "dose_ml": (
        "Optional, for an oral liquid: the volume taken in mL (3), converted to mg at the concentration of the "
        "patient's liquid plan that day, as on the dose form. With dose_mg as well, the two must agree."
    ),
    "status": "Optional: taken (the default when a dose is given) or missed.",
    "formulation": "Optional: capsule, liquid, sublingual or other (the plan's when empty).",
    "time_of_day": "Optional: when the dose was taken: bedtime, morning or other (the plan's dosing time when empty).",
    "pain_score": "Optional: pain that day, a whole number 0–10.",
    "sleep_quality": "Optional: sleep quality that day, a whole number 0–10.",
    "side_effects": "Optional: 'Insomnia (mild); Vivid dreams (severe)'.",
    "notes": "Optional text.",
    "override_reason": "Optional: why a dose outside 0.5–4.5 mg or a likely slip is right (or give it in the preview).",
}
TEMPLATE_REQUIRED = ("mrn", "date", "dose_mg")
# Other spellings of a template column that a clinic's own spreadsheet may use.
ALIASES = {
    "dose": "dose_mg",
    "dose_(mg)": "dose_mg",
    "dose_(ml)": "dose_ml",
    "volume_ml": "dose_ml",
    "time_taken": "time_of_day",
    "pain": "pain_score",
    "dob": "date_of_birth",
    "day": "date",
}

# The app's own CSV export (titration.export.HEADER): its column, as ``_header_name`` normalises it → the import's
# field. Older exports spelled some columns differently; both are read. An export is recognised by the
# EXPORT_SIGNATURE columns (and has no "mrn" column: one patient per file, named in the rows above the header).
EXPORT_COLUMNS: dict[str, str] = {
    "record": "record",
    "date": "date",
    "dose_(mg)": "dose_mg",
    "dose_mg": "dose_mg",
    "dose_(ml)": "dose_ml",
    "dose_ml": "dose_ml",
    "time_of_day": "time_of_day",
    "status": "status",
    "formulation": "formulation",
    "pain_(0–10)": "pain_score",
    "pain_score": "pain_score",
    "sleep_quality_(0–10)": "sleep_quality",
    "sleep_quality": "sleep_quality",
    "side_effects": "side_effects",
    "notes": "notes",
    "out_of_range_reason": "override_reason",
    "override_reason": "override_reason",
    "voided": "voided",
}
EXPORT_SIGNATURE = ("record", "date", "voided", "recorded_by")
EXPORT_PREAMBLE_ROWS = 10  # the export names the patient in a few rows above its header
EXPORT_DOSE, EXPORT_CHECKIN = "dose", "checkin"  # the Record column, lower-cased, without "-"

DATE_FORM = "YYYY-MM-DD"
NOT_UTF8 = (
    "The file is not UTF-8 text (byte {byte} at position {position} cannot be read). "
    "Save it as “CSV UTF-8” and upload it again."
)
NOT_XLSX = "The file is not an XLSX workbook that can be read. Save it as .xlsx or as CSV UTF-8."
UNKNOWN_TYPE = "Upload a .csv or .xlsx file."
TOO_BIG = "The file is larger than 20 MB. Split it into smaller files."
TOO_MANY_ROWS = "The file has more than 200,000 rows. Split it into smaller files."
EMPTY_FILE = "The file has no header row."
NO_ROWS = "The file has a header row but no data rows."
MISSING_COLUMNS = "The file has no {columns} column{s}. The template's columns are: {expected}."
EXPORT_NEEDS_MRN = (
    "This is the app's own export of one patient, which carries no MRN: give the patient's MRN on the upload form."
)
NOT_A_DATE = "{raw} is not a date in YYYY-MM-DD form."
FORMULA = "The {column} cell holds a formula ({raw}): enter the value itself. Formulas are never run."
NOTHING_TO_IMPORT = "The row has neither a dose, a missed dose nor a pain score."
MRN_REQUIRED = "The row has no MRN."
MRN_TOO_LONG = "The MRN is longer than 32 characters."
UNKNOWN_STATUS = "{raw} is not a status: write taken or missed."
UNKNOWN_TIME_OF_DAY = "{raw} is not a time of day: write bedtime, morning or other."
TAKEN_WITHOUT_DOSE = "The status is taken but the dose_mg and dose_ml cells are empty."
UNKNOWN_FORMULATION = "{raw} is not a formulation: write capsule, liquid, sublingual or other."
UNKNOWN_SEX = "{raw} is not a sex: write female, male, other or unknown."
BAD_SIDE_EFFECT = "{raw} is not a side effect with its severity, for example 'Insomnia (mild)'."
SIDE_EFFECT_TWICE = "{label} is listed twice."
VOIDED_IN_EXPORT = "Voided in the export: not imported."
UNKNOWN_RECORD = "{raw} is not a record type of the export (dose or checkin)."


class ImportFileError(ValueError):
    """A problem with the whole file (encoding, type, size, columns): nothing in it can be read."""


@dataclass(frozen=True)
class PatientDetails:
    given_name: str = ""
    family_name: str = ""
    date_of_birth: datetime.date | None = None
    sex: str = ""
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class DosePart:
    taken: bool
    dose: Decimal | None
    formulation: str = ""
    notes: str = ""
    override_reason: str = ""
    dose_ml: Decimal | None = None  # a liquid dose as measured, converted at the plan's concentration
    time_of_day: str = ""  # "" takes the plan's dosing time
    ml_in_mg_field: Decimal | None = None  # "3 mL" in the dose_mg cell: refused with the conversion, as on the form


@dataclass(frozen=True)
class CheckInPart:
    pain_score: int
    sleep_quality: int | None = None
    side_effects: tuple[tuple[str, str, str], ...] = ()  # (kind, severity, description), as checkin_record takes
    notes: str = ""


@dataclass
class Row:
    """One data row of the file: a patient's day, with a dose, a check-in or both."""

    number: int  # as the spreadsheet numbers it: the header is row 1
    mrn: str = ""
    patient: PatientDetails = field(default_factory=PatientDetails)
    day: datetime.date | None = None
    dose: DosePart | None = None
    checkin: CheckInPart | None = None
    error: str = ""  # refused while reading
    skipped: str = ""  # left out on purpose (a voided record of an export)


@dataclass
class Parsed:
    format: str
    rows: list[Row]


# --- reading cells ------------------------------------------------------------------------------------


def _header_name(value: Any) -> str:
    name = re.sub(r"[\s\-]+", "_", str(value or "").replace("\ufeff", "").strip().lower())
    return ALIASES.get(name, name)


def is_export_header(names: list[str]) -> bool:
    return set(EXPORT_SIGNATURE) <= set(names) and "mrn" not in names


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(NOT_UTF8.format(byte=f"0x{data[exc.start]:02X}", position=exc.start)) from None


def _csv_records(data: bytes) -> Iterator[list[Any]]:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    # A spreadsheet in a comma-decimal locale saves CSV with semicolons.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_records(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        # data_only=False: a formula cell reads as its formula text, never as a value a spreadsheet computed.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(NOT_XLSX) from exc
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def records(data: bytes, file_name: str) -> Iterator[list[Any]]:
    """The rows of cells of a CSV or XLSX file, the header first."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(TOO_BIG)
    name = file_name.lower()
    if name.endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return _xlsx_records(data)
    if name.endswith((".csv", ".txt")) or not name.rpartition(".")[1]:
        return _csv_records(data)
    raise ImportFileError(UNKNOWN_TYPE)


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("=")


def _text(value: Any) -> str:
    """A cell as text: dates in YYYY-MM-DD form, whole numbers without a decimal part."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def unneutralise(text: str) -> str:
    """The text as it was before the export neutralised it against formulas (``patients.csv_stream``).

    The export puts a ``'`` before text that a spreadsheet would run; taking it off is right exactly when
    writing the result again gives the exported cell back.
    """
    candidate = re.sub(r"(^|[,;\t\r\n])'", r"\1", text)
    return candidate if candidate != text and csv_cell(candidate) == text else text


class CellError(ValueError):
    pass


# The many rows of a file repeat the same few cells (dates, doses, scores, empty notes): a cell's text is read
# once (lru_cache keeps results, never errors, so a cell that cannot be read raises with its message each time).
CELL_CACHE = 4096


def _day(value: Any, column: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        return _day_text(value, column)
    return _day_cell(value, column)


@functools.lru_cache(maxsize=CELL_CACHE)
def _day_text(value: str, column: str) -> datetime.date:
    return _day_cell(value, column)


def _day_cell(value: Any, column: str) -> datetime.date:
    if _is_formula(value):
        raise CellError(FORMULA.format(column=column, raw=str(value).strip()))
    raw = _text(value)
    if not raw:
        raise CellError(f"The {column} cell is empty: give a date in {DATE_FORM} form.")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise CellError(NOT_A_DATE.format(raw=raw))
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise CellError(f"{raw} is not a day of the calendar.") from None


def _field(form_field: forms.Field, value: Any) -> Any:
    """A value cleaned by the form's own field, with the form's own message."""
    try:
        return _cleaned(form_field, value) if isinstance(value, str) else form_field.clean(value)
    except forms.ValidationError as exc:
        raise CellError(" ".join(exc.messages)) from None


@functools.lru_cache(maxsize=CELL_CACHE)
def _cleaned(form_field: forms.Field, value: str) -> Any:
    """The form field's value of a text (an int, a text: immutable, so one result serves every row)."""
    return form_field.clean(value)


def _number(value: Any, column: str) -> str:
    if _is_formula(value):
        raise CellError(FORMULA.format(column=column, raw=str(value).strip()))
    return _text(value)


def _dose(value: Any) -> tuple[Decimal | None, Decimal | None]:
    """The dose_mg cell as the dose form reads its mg field: (mg, None), or (None, mL) for a volume typed there
    ("3 mL"), which the titration service refuses with the conversion spelled out."""
    return _dose_text(_number(value, "dose_mg"))


@functools.lru_cache(maxsize=CELL_CACHE)
def _dose_text(raw: str) -> tuple[Decimal | None, Decimal | None]:
    if not raw:
        return None, None
    try:
        if rules.is_volume(raw):
            return None, rules.parse_volume(raw)
        return rules.parse_dose(raw), None
    except rules.DoseError as exc:
        raise CellError(f"{raw}: {exc}") from None


def _volume(value: Any) -> Decimal | None:
    """The dose_ml cell as the dose form reads its volume field (same limits and messages)."""
    raw = _number(value, "dose_ml")
    if not raw:
        return None
    try:
        return rules.parse_volume(raw)
    except rules.DoseError as exc:
        raise CellError(f"{raw}: {exc}") from None


def _choice(raw: str, choices: list[tuple[str, Any]], message: str) -> str:
    wanted = raw.strip().lower()
    for value, label in choices:
        if wanted in (str(value).lower(), str(label).lower()):
            return str(value)
    raise CellError(message.format(raw=raw))


def patient_text_limit(name: str) -> int:
    """The most characters the patients table takes in the text column ``name`` (``mrn``, ``given_name``)."""
    field = Patient._meta.get_field(name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise TypeError(f"Patient.{name} is not a text column of bounded length")
    return field.max_length


SIDE_EFFECT_PATTERN = re.compile(r"(?P<label>.+?)\s*\((?P<severity>[^()]+)\)")


def _side_effects(raw: str) -> tuple[tuple[str, str, str], ...]:
    """``Insomnia (mild); Vivid dreams (severe)``, as the export writes them; another label is "other"."""
    effects: list[tuple[str, str, str]] = []
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        match = SIDE_EFFECT_PATTERN.fullmatch(part)
        if not match:
            raise CellError(BAD_SIDE_EFFECT.format(raw=part))
        severity = _choice(match["severity"], SideEffect.Severity.choices, BAD_SIDE_EFFECT.replace("{raw}", part))
        label = match["label"].strip()
        kind = next(
            (v for v, text in SideEffect.Kind.choices if label.lower() in (v, str(text).lower()) and v != "other"),
            SideEffect.Kind.OTHER.value,
        )
        description = label[:200] if kind == SideEffect.Kind.OTHER else ""
        if any(k == kind and d == description for k, _, d in effects) or (
            kind != SideEffect.Kind.OTHER and any(k == kind for k, _, _ in effects)
        ):
            raise CellError(SIDE_EFFECT_TWICE.format(label=label))
        if kind == SideEffect.Kind.OTHER and any(k == kind for k, _, _ in effects):
            raise CellError("Only one 'other' side effect per day can be recorded.")
        effects.append((kind, severity, description))
    return tuple(effects)


DOSE_FIELDS = DoseEntryForm.base_fields
CHECKIN_FIELDS = CheckInForm.base_fields


def _score(value: Any, column: str, name: str) -> int | None:
    raw = _number(value, column)
    return _field(CHECKIN_FIELDS[name], raw) if raw else None


def _row(number: int, cell: dict[str, Any], *, mrn: str | None) -> Row:
    """Read one data row; a cell that cannot be read refuses the row with the cell's message."""
    row = Row(number=number)
    try:
        row.mrn = (mrn if mrn is not None else _text(cell.get("mrn"))).strip()
        if not row.mrn:
            raise CellError(MRN_REQUIRED)
        if len(row.mrn) > patient_text_limit("mrn"):
            raise CellError(MRN_TOO_LONG)
        row.patient = _patient(*(cell.get(name) for name in PATIENT_COLUMNS))
        row.day = _day(cell.get("date"), "date")
        notes = _field(DOSE_FIELDS["notes"], _text(cell.get("notes")))
        dose, ml_in_mg_field = _dose(cell.get("dose_mg"))
        volume = _volume(cell.get("dose_ml"))
        given = dose is not None or volume is not None or ml_in_mg_field is not None
        status_raw = _text(cell.get("status"))
        status = _choice(status_raw, DoseStatus.choices, UNKNOWN_STATUS) if status_raw else ""
        if given or status:
            taken = (status or DoseStatus.TAKEN) == DoseStatus.TAKEN
            if taken and not given:
                raise CellError(f"{TAKEN_WITHOUT_DOSE} {rules.NOT_A_NUMBER}")
            formulation_raw = _text(cell.get("formulation"))
            time_raw = _text(cell.get("time_of_day"))
            row.dose = DosePart(
                taken=taken,
                # A missed dose carries no dose, as on the form.
                dose=dose if taken else None,
                formulation=_choice(formulation_raw, Formulation.choices, UNKNOWN_FORMULATION)
                if formulation_raw
                else "",
                notes=notes,
                override_reason=_field(DOSE_FIELDS["override_reason"], _text(cell.get("override_reason"))),
                dose_ml=volume if taken else None,
                time_of_day=_choice(time_raw, DosingTime.choices, UNKNOWN_TIME_OF_DAY) if time_raw else "",
                ml_in_mg_field=ml_in_mg_field if taken else None,
            )
        pain = _score(cell.get("pain_score"), "pain_score", "pain_score")
        sleep = _score(cell.get("sleep_quality"), "sleep_quality", "sleep_quality")
        effects = _side_effects(_text(cell.get("side_effects")))
        if pain is not None:
            row.checkin = CheckInPart(pain, sleep, effects, "" if row.dose else notes)
        elif sleep is not None or effects:
            raise CellError(str(CHECKIN_FIELDS["pain_score"].error_messages["required"]))
        if row.dose is None and row.checkin is None:
            raise CellError(NOTHING_TO_IMPORT)
    except CellError as exc:
        row.error = str(exc)
    return row


PATIENT_COLUMNS = ("given_name", "family_name", "date_of_birth", "sex", "conditions")


@functools.lru_cache(maxsize=1024)
def _patient(given: Any, family: Any, born: Any, sex: Any, conditions: Any) -> PatientDetails:
    """A patient's cells, read once for the many rows of the same patient (a cell that cannot be read raises
    every time)."""
    sex_raw = _text(sex)
    return PatientDetails(
        given_name=_text(given),
        family_name=_text(family),
        date_of_birth=_day(born, "date_of_birth") if _text(born) else None,
        sex=_choice(sex_raw, Patient.Sex.choices, UNKNOWN_SEX) if sex_raw else "",
        conditions=tuple(filter(None, (c.strip() for c in _text(conditions).split(";")))),
    )


def _export_row(number: int, cell: dict[str, Any], *, mrn: str) -> Row:
    """A row of the app's own export: a dose entry or a check-in; voided ones are left out."""
    text = {name: unneutralise(_text(value)) for name, value in cell.items() if isinstance(value, str)}
    cell = {**cell, **text}
    record = _text(cell.get("record")).lower().replace("-", "")
    if _text(cell.get("voided")).lower() == "yes":
        return Row(number=number, mrn=mrn, skipped=VOIDED_IN_EXPORT)
    if record == EXPORT_DOSE:
        cell = {**cell, "pain_score": "", "sleep_quality": "", "side_effects": ""}
    elif record == EXPORT_CHECKIN:
        cell = {**cell, "dose_mg": "", "dose_ml": "", "status": "", "formulation": "", "time_of_day": ""}
        cell["override_reason"] = ""
    else:
        return Row(number=number, mrn=mrn, error=UNKNOWN_RECORD.format(raw=record or "(empty)"))
    return _row(number, cell, mrn=mrn)


def _find_header(cells: Iterator[list[Any]]) -> tuple[list[Any], int, dict[str, str], Iterator[list[Any]]]:
    """The header row, the number of the row after it, the export's preamble ("MRN" → its value), and the
    data rows.

    The template's header is its first row; the export's comes after a few rows naming the patient.
    """
    seen: list[list[Any]] = []
    for values in cells:
        seen.append(values)
        if is_export_header([_header_name(v) for v in values]):
            preamble = {_header_name(row[0]): _text(row[1]) for row in seen[:-1] if len(row) > 1}
            return values, len(seen) + 1, preamble, cells
        if len(seen) > EXPORT_PREAMBLE_ROWS:
            break
    if not seen or not any(_text(h) for h in seen[0]):
        raise ImportFileError(EMPTY_FILE)
    # Not an export: the first row is the header, and the rows read past it are data.
    return seen[0], 2, {}, itertools.chain(seen[1:], cells)


def parse(data: bytes, file_name: str, *, mrn: str = "") -> Parsed:
    """Read the whole file: the rows, each typed or refused with its message. File-level problems raise
    ImportFileError."""
    cells = records(data, file_name)
    header, first_number, preamble, cells = _find_header(cells)
    names = [_header_name(h) for h in header]
    is_export = is_export_header(names)
    if is_export:
        mrn = mrn.strip() or preamble.get("mrn", "")
        if not mrn:
            raise ImportFileError(EXPORT_NEEDS_MRN)
        positions = {EXPORT_COLUMNS[name]: i for i, name in enumerate(names) if name in EXPORT_COLUMNS}
    else:
        missing = [name for name in TEMPLATE_REQUIRED if name not in names]
        if missing:
            raise ImportFileError(
                MISSING_COLUMNS.format(
                    columns=" or ".join(f"“{m}”" for m in missing),
                    s="s" if len(missing) > 1 else "",
                    expected=", ".join(TEMPLATE_COLUMNS),
                )
            )
        positions = {name: i for i, name in enumerate(names) if name in TEMPLATE_COLUMNS}
    rows: list[Row] = []
    for number, values in enumerate(cells, start=first_number):
        if not any(_text(v) for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(TOO_MANY_ROWS)
        cell = {name: values[i] if i < len(values) else None for name, i in positions.items()}
        rows.append(_export_row(number, cell, mrn=mrn.strip()) if is_export else _row(number, cell, mrn=None))
    if not rows:
        raise ImportFileError(NO_ROWS)
    return Parsed(format=EXPORT if is_export else TEMPLATE, rows=rows)
