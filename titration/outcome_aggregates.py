"""The clinic outcomes page's measures, aggregated in SQL: a fixed number of queries and rows per patient.

``clinic_outcomes.patient_outcomes`` reads every dose and check-in and runs the pure functions of ``measures``
on each patient: the definition, used by the research export and the tests. This module gives the same
figures for the page without reading the history into Python: the database reduces each patient's doses to
a dozen numbers (first dose, first day at target, days at target, days taken, gaps, restarts…) and the
check-ins to a few rows, in four queries whatever the clinic's size. A test compares both on a varied
generated clinic.

Days are compared as day numbers (days since 2000-01-01) so that the SQL reads the same on PostgreSQL and
SQLite. A dose is packed with its day in one integer (day * 10,000 + dose in hundredths of a mg, at most
5,000) so that one ``MIN``/``MAX`` gives the dose of the first or the last day.
"""

from __future__ import annotations

import contextlib
import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from patients.models import Diagnosis, Patient

from . import measures, outcome_store, rules
from .clinic_outcomes import CUSTOM, SIDE_EFFECT_WEEKS, Filters, PatientOutcome, matches
from .models import CheckIn, DoseEntry, DoseStatus, StopReason
from .outcomes import BASELINE_MAX_DAYS_BEFORE, ResponseClass

EPOCH = datetime.date(2000, 1, 1)
PACK = 10_000  # day * PACK + dose in hundredths of a mg (≤ 5,000: the hard maximum is 50 mg)


def _day(column: str) -> str:
    """SQL for the day number of a date column (days since ``EPOCH``), on either database."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '2000-01-01')"
    return f"CAST(julianday({column}) - julianday('2000-01-01') AS INTEGER)"


@overload
def _date(number: int) -> datetime.date: ...
@overload
def _date(number: int | None) -> datetime.date | None: ...
def _date(number: int | None) -> datetime.date | None:
    return None if number is None else EPOCH + datetime.timedelta(days=number)


@overload
def _dose(centi: int) -> Decimal: ...
@overload
def _dose(centi: int | None) -> Decimal | None: ...
def _dose(centi: int | None) -> Decimal | None:
    return None if centi is None else Decimal(int(centi)).scaleb(-2)


def _unpack(packed: int | None) -> tuple[int | None, Decimal | None]:
    if packed is None:
        return None, None
    day, centi = divmod(int(packed), PACK)
    return day, _dose(centi)


# The selected patients with their clinic's restart gap, the protocol of their first plan, the target of their
# current plan, and the stop (day, coded reason) when the current plan's last state is "stopped" — as in
# ``clinic_outcomes._outcome``.
_COURSES = """
chosen AS (
    SELECT p.id, p.sex, p.date_of_birth, c.restart_after_gap_days AS gap_days
    FROM patients_patient p JOIN patients_clinic c ON c.id = p.clinic_id
    WHERE p.id IN ({patients})
),
ranked_plans AS (
    SELECT pl.id, pl.patient_id, pl.preset, pl.target_dose_mg,
        ROW_NUMBER() OVER (PARTITION BY pl.patient_id ORDER BY pl.start_date, pl.created_at, pl.id) AS first_n,
        ROW_NUMBER() OVER (
            PARTITION BY pl.patient_id
            ORDER BY pl.is_active DESC, pl.start_date DESC, pl.created_at DESC, pl.id DESC
        ) AS current_n
    FROM titration_titrationplan pl WHERE pl.patient_id IN (SELECT id FROM chosen)
),
ranked_states AS (
    SELECT s.plan_id, s.state, s.stop_reason, s.effective_on,
        ROW_NUMBER() OVER (PARTITION BY s.plan_id ORDER BY s.effective_on DESC, s.changed_at DESC, s.id DESC) AS n
    FROM titration_planstatechange s WHERE s.patient_id IN (SELECT id FROM chosen)
),
courses AS (
    SELECT ch.id AS patient_id, ch.sex, ch.date_of_birth, ch.gap_days,
        fp.id AS first_plan, fp.preset, cp.target_dose_mg AS target,
        st.effective_on AS stopped_on, st.stop_reason,
        (SELECT MIN(e.taken_on) FROM titration_doseentry e
            WHERE e.patient_id = ch.id AND e.voided_at IS NULL AND e.status = %(taken)s) AS first_dose,
        (SELECT MAX(e.taken_on) FROM titration_doseentry e
            WHERE e.patient_id = ch.id AND e.voided_at IS NULL) AS last_entry,
        (SELECT MAX(k.checked_on) FROM titration_checkin k
            WHERE k.patient_id = ch.id AND k.voided_at IS NULL) AS last_checkin,
        EXISTS (SELECT 1 FROM titration_doseentry e
            WHERE e.patient_id = ch.id AND e.voided_at IS NULL AND e.taken_on = %(today)s) AS entry_today
    FROM chosen ch
    LEFT JOIN ranked_plans fp ON fp.patient_id = ch.id AND fp.first_n = 1
    LEFT JOIN ranked_plans cp ON cp.patient_id = ch.id AND cp.current_n = 1
    LEFT JOIN ranked_states st ON st.plan_id = cp.id AND st.n = 1 AND st.state = %(stopped)s
),
ends AS (
    SELECT co.*, CASE
        WHEN co.stopped_on IS NOT NULL AND {stopped_on} - 1 < {base_end} THEN {stopped_on} - 1
        ELSE {base_end} END AS end_day
    FROM (SELECT c2.*, CASE WHEN c2.entry_today THEN %(today_day)s ELSE %(today_day)s - 1 END AS base_end
          FROM courses c2) co
)
"""

# Each live taken dose with its day number, its dose in hundredths, whether it is at (or above) its plan's
# target (an entry without a plan: the plan in force that day, else the first plan) and the days without a
# taken dose since the previous one. Reduced at once to one row per patient.
_DOSES = """
WITH {courses},
taken AS (
    SELECT e.patient_id, {day} AS day, CAST(ROUND(e.dose_mg * 100) AS INTEGER) AS centi,
        CASE WHEN e.dose_mg >= COALESCE(
            pl.target_dose_mg,
            (SELECT f.target_dose_mg FROM titration_titrationplan f
                WHERE f.patient_id = e.patient_id AND f.start_date <= e.taken_on
                ORDER BY f.start_date DESC, f.created_at DESC, f.id DESC LIMIT 1),
            (SELECT f.target_dose_mg FROM ranked_plans f WHERE f.patient_id = e.patient_id AND f.first_n = 1)
        ) THEN 1 ELSE 0 END AS at_target
    FROM titration_doseentry e
    LEFT JOIN ranked_plans pl ON pl.id = e.plan_id AND pl.patient_id = e.patient_id
    WHERE e.voided_at IS NULL AND e.status = %(taken)s AND e.patient_id IN (SELECT id FROM chosen)
),
gapped AS (
    SELECT t.*, t.day - LAG(t.day) OVER (PARTITION BY t.patient_id ORDER BY t.day) - 1 AS gap FROM taken t
),
reduced AS (
    SELECT g.patient_id,
        MAX(g.centi) AS highest,
        MAX(g.day * {pack} + g.centi) AS last_packed,
        MIN(CASE WHEN g.at_target = 1 THEN g.day * {pack} + g.centi END) AS reached_packed,
        SUM(CASE WHEN g.at_target = 1 AND g.day <= n.end_day THEN 1 ELSE 0 END) AS days_at_target,
        SUM(CASE WHEN g.day <= n.end_day THEN 1 ELSE 0 END) AS days_taken,
        MIN(CASE WHEN g.day <= n.end_day THEN g.day END) AS first_counted,
        MAX(CASE WHEN g.day <= n.end_day THEN g.day END) AS last_counted,
        SUM(CASE WHEN g.day <= n.end_day AND g.gap > 0 THEN 1 ELSE 0 END) AS gaps,
        SUM(CASE WHEN g.day <= n.end_day AND g.gap >= n.gap_days THEN 1 ELSE 0 END) AS restarts,
        MAX(CASE WHEN g.day <= n.end_day THEN g.gap END) AS longest
    FROM gapped g JOIN ends n ON n.patient_id = g.patient_id
    GROUP BY g.patient_id
)
SELECT n.patient_id, n.sex, n.date_of_birth, n.first_plan, n.preset, n.target, n.stopped_on, n.stop_reason,
    n.first_dose, n.last_entry, n.last_checkin, n.end_day,
    r.highest, r.last_packed, r.reached_packed, r.days_at_target, r.days_taken, r.first_counted, r.last_counted,
    r.gaps, r.restarts, r.longest
FROM ends n LEFT JOIN reduced r ON r.patient_id = n.patient_id
"""

# Check-ins from the first dose on: per patient, the weeks since the first dose (week 13 on as one) and the
# doses (the last taken on or before the day) that had a check-in, and whether one of them had a side effect.
_CHECKINS = """
WITH {courses},
seen AS (
    SELECT k.patient_id,
        CASE WHEN ({checked} - {first}) / 7 + 1 > {weeks} THEN {weeks} + 1
             ELSE ({checked} - {first}) / 7 + 1 END AS week,
        (SELECT CAST(ROUND(e.dose_mg * 100) AS INTEGER) FROM titration_doseentry e
            WHERE e.patient_id = k.patient_id AND e.voided_at IS NULL AND e.status = %(taken)s
                AND e.taken_on <= k.checked_on
            ORDER BY e.taken_on DESC LIMIT 1) AS centi,
        CASE WHEN EXISTS (SELECT 1 FROM titration_sideeffect s WHERE s.checkin_id = k.id) THEN 1 ELSE 0 END AS hit
    FROM titration_checkin k JOIN courses c ON c.patient_id = k.patient_id
    WHERE k.voided_at IS NULL AND c.first_dose IS NOT NULL AND k.checked_on >= c.first_dose
)
SELECT patient_id, 'week', week, MAX(hit) FROM seen GROUP BY patient_id, week
UNION ALL
SELECT patient_id, 'dose', centi, MAX(hit) FROM seen GROUP BY patient_id, centi
"""

# The check-ins the response at 12 weeks can depend on: from 30 days before the first dose (an older one is
# never the baseline) through day 84, for the patients 12 weeks past their first dose.
_READINGS = """
WITH {courses}
SELECT k.patient_id, k.checked_on, k.pain_score, k.pgic
FROM titration_checkin k JOIN courses c ON c.patient_id = k.patient_id
WHERE k.voided_at IS NULL AND c.first_dose IS NOT NULL
    AND {checked} BETWEEN {first} - {before} AND {first} + {after}
    AND {first} + {after} <= %(today_day)s
"""


def _sql(template: str, patients_sql: str) -> str:
    courses = _COURSES.format(
        patients=patients_sql,
        stopped_on=_day("co.stopped_on"),
        base_end="co.base_end",
    ).strip()
    return template.format(
        courses=courses,
        day=_day("e.taken_on"),
        pack=PACK,
        checked=_day("k.checked_on"),
        first=_day("c.first_dose"),
        weeks=SIDE_EFFECT_WEEKS,
        before=BASELINE_MAX_DAYS_BEFORE,
        after=measures.RESPONSE_AT_DAYS,
    )


@contextlib.contextmanager
def _planned() -> Iterator[None]:
    """One transaction for the reads, without PostgreSQL's JIT compilation in it.

    The planner's cost estimate of the dose aggregate switches JIT on, and compiling took longer than the
    query itself (10 s against 20 s on the bench data set). ``SET LOCAL`` ends with the transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def _run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _params(today: datetime.date, **more: Any) -> dict[str, Any]:
    return {
        "taken": DoseStatus.TAKEN,
        "stopped": rules.PlanState.STOPPED,
        "today": today,
        "today_day": (today - EPOCH).days,
        **more,
    }


def _as_date(value: Any) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])


def _as_day(value: Any) -> datetime.date:
    """A date from a NOT NULL column (a reading's day, a date of birth)."""
    day = _as_date(value)
    if day is None:
        raise ValueError("A date from a NOT NULL column is missing.")
    return day


def _patients_sql(patients: QuerySet[Patient], params: dict[str, Any]) -> str:
    """The SQL of ``patients``' ids, its positional parameters moved into ``params`` as named ones."""
    inner, inner_params = patients.values("pk").query.sql_with_params()
    names = [f"p{n}" for n in range(len(inner_params))]
    params.update(zip(names, inner_params, strict=True))
    return inner.replace("%%", "%%%%") % tuple(f"%({name})s" for name in names)


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# The dose query's columns that do not depend on today: what ``OutcomeFigures`` keeps of each patient.
_KEPT = (
    "first_plan",
    "preset",
    "target",
    "stopped_on",
    "stop_reason",
    "first_dose",
    "last_entry",
    "last_checkin",
    "highest",
    "last_packed",
    "reached_packed",
    "days_at_target",
    "days_taken",
    "first_counted",
    "last_counted",
    "gaps",
    "restarts",
    "longest",
)
# Reduced as on a day after every record, the dose sums end only at the stop; the reader ends them at today.
_NO_END = datetime.date(9000, 1, 1)


def patient_figures(patients: QuerySet[Patient]) -> dict[int, dict[str, Any]]:
    """What ``OutcomeFigures`` keeps of each of ``patients``, in three queries: the reduced doses (as on a day
    after every record), the check-ins' weeks and doses with whether one had a side effect, and the best
    response over the check-in days with the first day of a ≥30% reduction and its dose."""
    params = _params(_NO_END)
    patients_sql = _patients_sql(patients, params)
    with _planned():
        checkin_rows = _run(_sql(_CHECKINS, patients_sql), params)
        dose_rows = _rows(_sql(_DOSES, patients_sql), params)
        readings = _readings_with_dose(patients)
    figures: dict[int, dict[str, Any]] = {
        row["patient_id"]: {name: _plain(name, row[name]) for name in _KEPT}
        | {"weeks": {}, "doses": {}, "version": outcome_store.FIGURES_VERSION}
        for row in dose_rows
    }
    for patient_id, kind, value, hit in checkin_rows:
        if value is not None and patient_id in figures:
            figures[patient_id]["weeks" if kind == "week" else "doses"][str(int(value))] = bool(hit)
    for patient_id, kept in figures.items():
        # As ``measures.response_summary`` assesses it: through the stop, else through every check-in.
        read = readings[patient_id]
        best, first_meaningful = measures.best_on_checkin_days(
            [reading for reading, _ in read],
            first_dose=_as_date(kept["first_dose"]),
            through=_as_date(kept["stopped_on"]),
        )
        dose = next((dose for reading, dose in read if reading.day == first_meaningful), None)
        kept["best"] = best.value
        kept["first_meaningful"] = first_meaningful.isoformat() if first_meaningful else None
        kept["dose_at_meaningful"] = None if dose is None else str(dose)
    return figures


def _readings_with_dose(patients: QuerySet[Patient]) -> dict[int, list[tuple[measures.Reading, Decimal | None]]]:
    """Each live check-in of ``patients`` with the dose taken on its day or last before it (one query)."""
    dose_then = (
        DoseEntry.objects.live()
        .filter(patient=OuterRef("patient"), status=DoseStatus.TAKEN, taken_on__lte=OuterRef("checked_on"))
        .order_by("-taken_on")
        .values("dose_mg")[:1]
    )
    rows = (
        CheckIn.objects.live()
        .filter(patient__in=patients.values("pk"))
        .annotate(dose_then=Subquery(dose_then))
        .values_list("patient_id", "checked_on", "pain_score", "pgic", "dose_then")
    )
    readings: dict[int, list[tuple[measures.Reading, Decimal | None]]] = defaultdict(list)
    for patient_id, day, pain, pgic, dose in rows:
        readings[patient_id].append((measures.Reading(day, pain, pgic), dose))
    return readings


def _week_12_readings(patients_sql: str, params: dict[str, Any]) -> dict[int, list[measures.Reading]]:
    """The check-ins the 12-week response can depend on (``_READINGS``), by patient."""
    readings: dict[int, list[measures.Reading]] = defaultdict(list)
    for patient_id, day, pain, pgic in _run(_sql(_READINGS, patients_sql), params):
        readings[patient_id].append(measures.Reading(_as_day(day), pain, pgic))
    return readings


def _live_readings(patients: QuerySet[Patient]) -> dict[int, list[measures.Reading]]:
    readings: dict[int, list[measures.Reading]] = defaultdict(list)
    rows = CheckIn.objects.live().filter(patient__in=patients.values("pk"))
    for patient_id, day, pain, pgic in rows.values_list("patient_id", "checked_on", "pain_score", "pgic"):
        readings[patient_id].append(measures.Reading(day, pain, pgic))
    return readings


def _response(
    outcome: PatientOutcome, figures: dict[str, Any], readings: list[measures.Reading], *, today: datetime.date
) -> measures.ResponseSummary:
    """``measures.response_summary`` from the kept best response and the check-ins of the last days."""
    assessed_on = outcome.stopped_on or today
    ordered = sorted((r for r in readings if r.day <= assessed_on), key=lambda r: r.day)
    first = outcome.first_dose
    latest, responder = measures.response_on(ordered, first_dose=first, on=assessed_on)
    dose = figures["dose_at_meaningful"]
    return measures.ResponseSummary(
        best=measures.better(latest, ResponseClass(figures["best"])),
        latest=latest,
        first_meaningful_on=_as_date(figures["first_meaningful"]),
        dose_at_meaningful=None if dose is None else Decimal(dose),
        responder=responder,
        latest_pgic=measures.pgic_in_window(ordered, first_dose=first, on=assessed_on) if first else None,
    )


def _plain(name: str, value: Any) -> Any:
    """A column's value as JSON keeps it: a date as ISO text, the target dose as text, a number as an integer."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if name == "target":
        return str(Decimal(str(value)))
    return int(value)


def _end_day(figures: dict[str, Any], today: datetime.date) -> int:
    """The last day the measures count, as the dose query's ``ends``: today with an entry today, else
    yesterday, and never after the day before a stop."""
    today_day = (today - EPOCH).days
    end = today_day if _as_date(figures["last_entry"]) == today else today_day - 1
    stopped_on = _as_date(figures["stopped_on"])
    if stopped_on is not None:
        end = min(end, (stopped_on - EPOCH).days - 1)
    return end


def clinic_outcomes(
    patients: QuerySet[Patient], filters: Filters, *, today: datetime.date, with_response: bool = False
) -> list[PatientOutcome]:
    """The measures of ``patients`` from the kept figures (rebuilt first where out of date) and the check-ins
    the 12-week response depends on. ``response`` (the research export's) only ``with_response``: it reads
    every check-in, where the clinic page reads only those around week 12."""
    outcome_store.refresh(patients)
    params = _params(today)
    patients_sql = _patients_sql(patients, params)
    stored = outcome_store.stored_figures(patients)
    with _planned():
        diagnoses = Diagnosis.objects.filter(patient__in=patients.values("pk"))
        diagnosis_rows = list(diagnoses.values_list("patient_id", "condition__name"))
        readings = _live_readings(patients) if with_response else _week_12_readings(patients_sql, params)
    conditions: dict[int, list[str]] = defaultdict(list)
    for patient_id, name in diagnosis_rows:
        conditions[patient_id].append(name)

    result = []
    for patient_id, sex, born, figures in stored:
        row = {**figures, "patient_id": patient_id, "sex": sex, "date_of_birth": born}
        row["end_day"] = _end_day(figures, today)
        outcome = _outcome(row, sorted(conditions[patient_id]), readings[patient_id], today=today)
        weeks = {int(week): hit for week, hit in figures["weeks"].items()}
        doses = {_dose(int(centi)): hit for centi, hit in figures["doses"].items()}
        outcome.checkin_weeks = set(weeks)
        outcome.side_effect_weeks = {week for week, hit in weeks.items() if hit}
        outcome.checkin_doses = set(doses)
        outcome.side_effect_doses = {dose for dose, hit in doses.items() if hit}
        if with_response:
            outcome.response = _response(outcome, figures, readings[patient_id], today=today)
        if matches(outcome, filters):
            result.append(outcome)
    return result


def _outcome(
    row: dict[str, Any], conditions: list[str], readings: list[measures.Reading], *, today: datetime.date
) -> PatientOutcome:
    first, stopped_on = _as_date(row["first_dose"]), _as_date(row["stopped_on"])
    end_day, highest, target = row["end_day"], row["highest"], row["target"]
    reached_day, reached_dose = _unpack(row["reached_packed"])
    if first is None:
        to_target = measures.TimeToTarget(None, None, None)
    elif reached_day is None:
        to_target = measures.TimeToTarget(None, None, _dose(highest))
    else:
        reached_on = _date(reached_day)
        to_target = measures.TimeToTarget((reached_on - first).days, reached_on, reached_dose)
    at_target = None
    if reached_day is not None and end_day >= reached_day:
        at_target = measures.Share(int(row["days_at_target"]), end_day - reached_day + 1)
    adherence = None
    if row["days_taken"]:
        trailing = end_day - row["last_counted"]
        adherence = measures.Adherence(
            measures.Share(int(row["days_taken"]), end_day - row["first_counted"] + 1),
            int(row["gaps"]) + (1 if trailing > 0 else 0),
            int(row["restarts"]),
            max(int(row["longest"] or 0), trailing),
        )
    response_12, responder_12 = None, False
    if first is not None and first + datetime.timedelta(days=measures.RESPONSE_AT_DAYS) <= today:
        on = first + datetime.timedelta(days=measures.RESPONSE_AT_DAYS)
        response_12, responder_12 = measures.response_on(readings, first_dose=first, on=on)
    records = [day for day in (_as_date(row["last_entry"]), _as_date(row["last_checkin"])) if day is not None]
    preset = row["preset"]
    return PatientOutcome(
        patient_id=row["patient_id"],
        sex=row["sex"],
        date_of_birth=_as_day(row["date_of_birth"]),
        conditions=conditions,
        protocol=("" if row["first_plan"] is None else preset if preset in rules.PRESETS else CUSTOM),
        first_dose=first,
        target=None if target is None else Decimal(str(target)),
        to_target=to_target,
        at_target=at_target,
        adherence=adherence,
        response=None,
        response_12_weeks=response_12,
        responder_12_weeks=responder_12,
        stopped_on=stopped_on,
        stop_reason=(row["stop_reason"] or StopReason.OTHER) if stopped_on is not None else "",
        last_record=max(records) if records else None,
        maintenance_dose=_unpack(row["last_packed"])[1],
    )


@dataclass(frozen=True)
class PatientRow:
    """The patient page's compact row: the /outcomes/ measures of one patient."""

    started: bool
    target: Decimal | None
    to_target: measures.TimeToTarget
    at_target: measures.Share | None
    adherence: measures.Adherence | None
    best_response: ResponseClass
    stopped_on: datetime.date | None


def patient_row(patient: Patient, checkins: Iterable[Any], *, today: datetime.date) -> PatientRow:
    """One patient's measures in one query; the response from ``checkins`` (with ``checked_on``, ``pain_score``
    and ``voided_at``), which the patient page has read.

    A stopped patient's response is assessed on the day of the stop, as on /outcomes/.
    """
    # One patient's rows cost too little for PostgreSQL to consider JIT: no transaction needed.
    rows = _rows(_sql(_DOSES, "%(patient)s"), _params(today, patient=patient.pk))
    outcome = _outcome(rows[0], [], [], today=today)
    # The class of the best response depends on pain alone (PGIC only makes a responder).
    readings = [measures.Reading(c.checked_on, c.pain_score) for c in checkins if c.voided_at is None]
    best, _ = measures.best_response(readings, first_dose=outcome.first_dose, today=outcome.stopped_on or today)
    return PatientRow(
        started=outcome.started,
        target=outcome.target,
        to_target=outcome.to_target,
        at_target=outcome.at_target,
        adherence=outcome.adherence,
        best_response=best,
        stopped_on=outcome.stopped_on,
    )
