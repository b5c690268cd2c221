"""Entering doses day by day: the diary grid (a week or two of a patient's diary in one page) and the facts
of each day that the dose form shows (the last dose, the expected dose and why).

The grid is a formset of the dose form's parsing, one form per open day; saving goes through
``services.dose_record`` row by row, in date order, in one transaction: each row is assessed exactly as the
dose form would assess it, and the flags come out as one-by-one entries would give them. Nothing is kept
unless every row is accepted.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.db import transaction
from django.forms import BaseFormSet, formset_factory

from patients.models import Patient

from . import course, rules, selectors, services
from .forms import DoseEntryForm
from .models import DoseEntry, DoseStatus, Formulation, TitrationPlan

DIARY_MAX_DAYS = 14
DIARY_DEFAULT_DAYS = 7
# How many days back the dose form knows the expected dose of, for its pre-fill when the date changes.
DOSE_FORM_DAYS = DIARY_MAX_DAYS

BAD_START = "Give the first day as a date, for example 2026-11-28."
START_IN_FUTURE = "The diary cannot start in the future."
START_BEFORE_BIRTH = "The diary cannot start before the patient's date of birth."
TOO_MANY_DAYS = f"The diary shows at most {DIARY_MAX_DAYS} days at a time."
TOO_FEW_DAYS = "The diary shows at least 1 day."
REACHES_FUTURE = "The diary cannot reach a day in the future: choose fewer days or an earlier start."
DIARY_CHANGED = (
    "The diary changed since it was opened (a day was logged or voided meanwhile): check the days and save again."
)
NOTHING_TO_SAVE = "Nothing to save: give a dose, or mark the day missed, for at least one day."
ROWS_REFUSED = "Nothing was saved. Correct or confirm the days marked below, then save again."


# --- the expected dose and why -----------------------------------------------------------------------


def expected_note(context: rules.DoseContext) -> str:
    """Why the engine expects this dose (``course``): the plan's next step, the current step, a restart…"""
    plan, expected, previous = context.plan, context.expected, context.previous
    if plan is None:
        return "no plan in force"
    if expected is None:
        return f"the plan is {context.state.label.lower()}"
    if context.restart_gap_days is not None:
        return f"the plan's starting dose again after {context.restart_gap_days} days without a dose"
    if context.state == rules.PlanState.HOLDING:
        return "holding at the current dose"
    if previous is None:
        return "the plan's starting dose"
    if expected == previous:
        return "the target dose" if expected == plan.target_dose_mg else "the current step"
    if plan.on_path(previous) and plan.toward_target(previous) == expected:
        return "the plan's next step"
    return "the plan's dose"


def expected_text(day: datetime.date, today: datetime.date, context: rules.DoseContext) -> str:
    """The expected dose's label: "Expected today: 2 mg — the plan's next step", "Expected on 28 Nov 2026: …"."""
    when = "today" if day == today else f"on {day:%-d %b %Y}"
    if context.expected is None:
        return f"No dose expected {when} — {expected_note(context)}."
    return f"Expected {when}: {rules.format_dose(context.expected)} — {expected_note(context)}."


@dataclass(frozen=True)
class DayFacts:
    day: datetime.date
    expected: Decimal | None
    text: str
    logged: bool

    def as_json(self) -> dict[str, object]:
        dose = None if self.expected is None else rules.format_number(self.expected)
        return {"expected": dose, "text": self.text, "logged": self.logged}


@dataclass(frozen=True)
class DoseFormFacts:
    """What the dose form shows around the dose: the last accepted dose and the expected dose of recent days."""

    plan: TitrationPlan | None
    today: datetime.date
    last_day: datetime.date | None
    last_dose: Decimal | None
    days: dict[datetime.date, DayFacts] = field(default_factory=dict)

    @property
    def expected_today(self) -> Decimal | None:
        return self.days[self.today].expected

    @property
    def today_text(self) -> str:
        return self.days[self.today].text

    @property
    def last_dose_text(self) -> str:
        """The last accepted taken dose (never a likely slip): "Last dose: 1.5 mg on 28 Nov 2026, 2 days ago"."""
        if self.last_day is None or self.last_dose is None:
            return "Last dose: none taken yet."
        ago = (self.today - self.last_day).days
        since = {0: "today", 1: "yesterday"}.get(ago, f"{ago} days ago")
        return f"Last dose: {rules.format_dose(self.last_dose)} on {self.last_day:%-d %b %Y}, {since}."

    def by_day_json(self) -> dict[str, dict[str, object]]:
        """For the dose form's script (``json_script``): each recent day's expected dose and its label."""
        return {day.isoformat(): facts.as_json() for day, facts in sorted(self.days.items())}


def dose_form_facts(patient: Patient, today: datetime.date) -> DoseFormFacts:
    """The last accepted dose and the expected dose of each of the last ``DOSE_FORM_DAYS`` days.

    Each day's expected dose is the one the dose form's assessment uses for that day: from the entries before
    it (a backfill sees only its own past). One read of the course, one walk.
    """
    plans = list(patient.plans.all())
    facts = selectors.course_facts(patient, plans)
    entries = sorted(facts.entries, key=lambda e: e.day)
    logged = {e.day for e in entries}
    walker = course.Course(facts.terms, facts.gap_days)
    first = today - datetime.timedelta(days=DOSE_FORM_DAYS - 1)
    days: dict[datetime.date, DayFacts] = {}
    index = 0
    for offset in range(DOSE_FORM_DAYS):
        day = first + datetime.timedelta(days=offset)
        while index < len(entries) and entries[index].day < day:
            walker.record(entries[index])
            index += 1
        context = walker.context_on(day)
        days[day] = DayFacts(day, context.expected, expected_text(day, today, context), day in logged)
    for entry in entries[index:]:
        walker.record(entry)
    last_day, last_dose = walker.previous if walker.previous else (None, None)
    plan = next((p for p in plans if p.is_active), None)
    return DoseFormFacts(plan=plan, today=today, last_day=last_day, last_dose=last_dose, days=days)


# --- the grid's days ---------------------------------------------------------------------------------


class DiaryRangeForm(forms.Form):
    """Which days the grid shows: ``start`` (default: the week up to today) and how many ``days`` (1–14)."""

    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": BAD_START})
    days = forms.IntegerField(
        required=False,
        error_messages={"invalid": f"Give the number of days, 1 to {DIARY_MAX_DAYS}."},
    )

    def __init__(self, *args: Any, patient: Patient, today: datetime.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient, self.today = patient, today

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if self.errors:
            return cleaned
        start: datetime.date | None = cleaned.get("start")
        days: int | None = cleaned.get("days")
        if days is not None and days > DIARY_MAX_DAYS:
            raise forms.ValidationError(TOO_MANY_DAYS)
        if days is not None and days < 1:
            raise forms.ValidationError(TOO_FEW_DAYS)
        if start is None:
            days = days or DIARY_DEFAULT_DAYS
            start = self.today - datetime.timedelta(days=days - 1)
        if start > self.today:
            raise forms.ValidationError(START_IN_FUTURE)
        if days is None:
            days = min(DIARY_DEFAULT_DAYS, (self.today - start).days + 1)
        if start + datetime.timedelta(days=days - 1) > self.today:
            raise forms.ValidationError(REACHES_FUTURE)
        if start < self.patient.date_of_birth:
            raise forms.ValidationError(START_BEFORE_BIRTH)
        cleaned["start"], cleaned["days"] = start, days
        return cleaned

    def day_list(self) -> list[datetime.date]:
        start, days = self.cleaned_data["start"], self.cleaned_data["days"]
        return [start + datetime.timedelta(days=n) for n in range(days)]


@dataclass
class DiaryDay:
    """One row of the grid: a day already logged (read-only) or open, with its expected dose."""

    day: datetime.date
    expected: Decimal | None
    note: str
    logged: course.EntryFact | None = None
    form: forms.Form | None = None

    @property
    def logged_text(self) -> str:
        if self.logged is None:
            return ""
        if not self.logged.taken:
            return "Missed"
        return f"Taken: {rules.format_dose(self.logged.dose)}"


@dataclass(frozen=True)
class Entered:
    """What a row holds: taken with a dose, or missed (``None`` for a row left empty)."""

    taken: bool
    dose: Decimal | None


def diary_days(
    patient: Patient,
    days: Sequence[datetime.date],
    entered: dict[datetime.date, Entered | None] | None = None,
) -> list[DiaryDay]:
    """Each day of the grid with the expected dose of the patient's course, the earlier rows taken as entered.

    ``entered``: the rows as typed (after a save that needs corrections); without it, every open row counts as
    taken at its expected dose, which is the grid's pre-fill.
    """
    facts = selectors.course_facts(patient)
    entries = sorted(facts.entries, key=lambda e: e.day)
    logged = {e.day: e for e in entries}
    walker = course.Course(facts.terms, facts.gap_days)
    rows = []
    index = 0
    for day in days:
        while index < len(entries) and entries[index].day < day:
            walker.record(entries[index])
            index += 1
        context = walker.context_on(day)
        row = DiaryDay(day, context.expected, expected_note(context), logged.get(day))
        rows.append(row)
        if row.logged is not None:
            continue
        if entered is None:
            typed = Entered(True, context.expected) if context.expected is not None else None
        else:
            typed = entered.get(day)
        if typed is not None and (typed.dose is not None or not typed.taken):
            walker.record(course.EntryFact(None, day, typed.taken, typed.dose if typed.taken else None))
    return rows


# --- the grid's forms --------------------------------------------------------------------------------


class DiaryRowForm(DoseEntryForm):
    """One open day of the grid: the dose form's parsing, for a day fixed by the grid.

    The formulation is the plan's (as the dose form's default). A row taken with no dose is left unlogged.
    """

    def __init__(self, *args: Any, day: datetime.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.day = day
        del self.fields["formulation"]
        self.fields["taken_on"].widget = forms.HiddenInput()
        self.fields["taken_on"].initial = day
        status = cast(forms.ChoiceField, self.fields["status"])
        status.choices = [(DoseStatus.TAKEN, "Taken"), (DoseStatus.MISSED, "Missed")]
        self.fields["dose_mg"].widget.attrs.pop("autofocus", None)
        self.fields["notes"].widget = forms.TextInput()
        label = f"{day:%-d %b %Y}"
        for name in self.fields:
            self.fields[name].widget.attrs.setdefault("aria-label", f"{self.fields[name].label} on {label}")

    def clean_taken_on(self) -> datetime.date:
        if self.cleaned_data["taken_on"] != self.day:
            raise forms.ValidationError(DIARY_CHANGED)
        return self.day

    def entered(self, concentration: Decimal | None) -> Entered | None:
        """The row as typed, for the expected doses of the rows after it; None when it logs nothing."""
        if self._raw("status") == DoseStatus.MISSED:
            return Entered(False, None)
        try:
            if self._raw("dose_ml"):
                return Entered(True, rules.liquid_dose(rules.parse_volume(self._raw("dose_ml")), concentration).dose_mg)
            return Entered(True, rules.parse_dose(self._raw("dose_mg")))
        except rules.DoseError:
            return None

    @property
    def records(self) -> bool:
        """Whether the row adds to the record: a dose given (mg or mL), or the day marked missed."""
        data = self.cleaned_data
        given = (data.get("dose_mg"), data.get("dose_ml"), data.get("ml_in_mg_field"))
        return data.get("status") == DoseStatus.MISSED or any(value is not None for value in given)

    def record_kwargs(self) -> dict[str, Any]:
        """The row for ``services.dose_record``, as the dose form passes it."""
        data = self.cleaned_data
        return {
            "taken_on": self.day,
            "dose_mg": data["dose_mg"],
            "status": data["status"],
            "notes": data["notes"],
            "override_reason": data["override_reason"],
            "confirmed": data["confirm_out_of_range"],
            "dose_ml": data.get("dose_ml"),
            "ml_in_mg_field": data.get("ml_in_mg_field"),
        }


if TYPE_CHECKING:
    _RowFormSet = BaseFormSet[DiaryRowForm]
else:  # BaseFormSet takes no type argument at run time
    _RowFormSet = BaseFormSet


class BaseDiaryFormSet(_RowFormSet):
    """One ``DiaryRowForm`` per open day, in date order; the days are the server's, never the browser's."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        patient: Patient,
        rows: list[DiaryDay],
        concentration: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        """``concentration``: the mg/mL of a liquid plan; its rows take the dose in mL, as the dose form does."""
        self.patient = patient
        self.concentration = concentration
        self.open_rows = [row for row in rows if row.logged is None]
        initial = [{"taken_on": row.day, "status": DoseStatus.TAKEN, **self._prefill(row)} for row in self.open_rows]
        super().__init__(data, initial=initial, **kwargs)

    def _prefill(self, row: DiaryDay) -> dict[str, str]:
        """The expected dose; on a liquid plan the volume that measures it, when a syringe can (0.01 mL)."""
        if row.expected is None:
            return {}
        if self.concentration:
            volume = row.expected / self.concentration
            if volume == volume.quantize(Decimal("0.01")):
                return {"dose_ml": rules.format_number(volume)}
        return {"dose_mg": rules.format_number(row.expected)}

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        kwargs["patient"] = self.patient
        if index is not None and index < len(self.open_rows):
            kwargs["day"] = self.open_rows[index].day
        else:
            kwargs["day"] = datetime.date.min  # a row the grid did not offer: refused as stale
        return kwargs

    def is_stale(self) -> bool:
        """The posted rows are not the grid's open days (a day logged or voided meanwhile, or a forged row)."""
        if not self.is_bound or not self.management_form.is_valid():
            return self.is_bound
        if self.management_form.cleaned_data["TOTAL_FORMS"] != len(self.open_rows):
            return True
        return any(
            self.data.get(f"{self.prefix}-{n}-taken_on") != row.day.isoformat() for n, row in enumerate(self.open_rows)
        )


# formset_factory makes a subclass of the formset it is given, with the factory's settings.
DiaryFormSet = cast(
    type[BaseDiaryFormSet],
    formset_factory(
        DiaryRowForm,
        formset=BaseDiaryFormSet,
        extra=0,
        max_num=DIARY_MAX_DAYS,
        absolute_max=DIARY_MAX_DAYS,
        validate_max=True,
    ),
)


def liquid_concentration(patient: Patient) -> Decimal | None:
    """The mg/mL of the patient's active plan when it is an oral liquid, else None."""
    plan = services.active_plan(patient)
    if plan is None or plan.formulation != Formulation.LIQUID:
        return None
    return plan.liquid_concentration_mg_per_ml


def attach_forms(rows: list[DiaryDay], formset: BaseDiaryFormSet) -> None:
    by_day = {form.day: form for form in formset.forms}
    for row in rows:
        row.form = by_day.get(row.day)


# --- saving ------------------------------------------------------------------------------------------


class DiaryRefused(Exception):
    """Some rows were refused or need a confirmation: nothing was saved. ``errors``: by row index."""

    def __init__(self, errors: dict[int, services.RecordError]) -> None:
        super().__init__(ROWS_REFUSED)
        self.errors = errors


def diary_record(
    *, patient: Patient, by: Any, rows: Sequence[dict[str, Any]], keep: bool = True
) -> list[tuple[DoseEntry, list[rules.Finding]]]:
    """Record a diary's days in one transaction, all or nothing.

    Each row (``services.dose_record``'s keyword arguments) goes through ``services.dose_record`` in date
    order: the one assessment, and the flags re-derived as one-by-one entries would leave them. Every row is
    tried, so that all the refusals are reported at once (a row after a refused one is assessed without it);
    if any is refused, ``DiaryRefused`` rolls every row back. ``keep=False`` assesses the rows and always rolls
    back (the grid has rows that do not parse yet: the others' refusals are shown with theirs).
    """
    order = sorted(range(len(rows)), key=lambda n: rows[n]["taken_on"])
    recorded: list[tuple[DoseEntry, list[rules.Finding]]] = []
    errors: dict[int, services.RecordError] = {}
    with transaction.atomic():
        for n in order:
            try:
                recorded.append(services.dose_record(patient=patient, by=by, **rows[n]))
            except services.RecordError as exc:
                errors[n] = exc
                if transaction.get_rollback():
                    break  # a write lost a race: the transaction takes no more queries
        if errors or not keep:
            raise DiaryRefused(errors)
    return recorded
