"""Generate a realistic data set into a benchmark database of its own, fast (COPY, no ORM per row).

Every clinic has a prescriber and a staff member; every patient a plan from the presets of the plan form
(some change plan once), daily dose entries with missed days, gaps, the odd deviation and very rare tenfold
slips, weekly check-ins with pain scores and occasional side effects, and the flags that history raises,
computed with ``titration.rules.dose_findings``, the rules of the dose service.

Besides the ``--patients`` regular patients, clinic 1 gets reference patients to measure against (exactly
30 days and exactly 5 years of history), and every clinic a pool of patients whose entries stop 90 days
ago, whose free days the benchmark fills with new doses.
"""

from __future__ import annotations

import datetime
import functools
import os
import queue
import random
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from titration import rules

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "ldn_bench"
DATABASE_PREFIX = "ldn_bench"
# Bench-only accounts on a throw-away database; never used anywhere else.
BENCH_PASSWORD = "bench-only-password-2026"  # noqa: S105
REFERENCE_30_DAYS = "BENCH-30D"
REFERENCE_5_YEARS = "BENCH-5Y"
SAVE_POOL = "BENCH-SAVE"
REFERENCE_COUNT = 3
SAVE_POOL_FREE_DAYS = 90
BATCH_PATIENTS = 100

# Per day of a patient's history (chosen so that about 1% of days carry a flag).
P_GAP_START = 0.003  # a run of 2-10 days with nothing recorded
P_SKIP = 0.02  # one day with nothing recorded
P_MISSED = 0.015  # recorded as missed
P_DEVIATE = 0.008  # an in-range dose other than the scheduled one
P_OUT_OF_RANGE = 0.0002  # a deliberate dose above 4.5 mg, confirmed with a reason
P_SLIP = 0.000001  # a tenfold decimal slip
RESTART_AFTER_GAP_DAYS = 7  # the clinic setting's default
P_PLAN_CHANGE = 0.25
P_CHECKIN = 0.85
OPEN_FLAG_DAYS = 30
P_OLD_FLAG_OPEN = 0.03

GIVEN_NAMES = [
    "Ada",
    "Aisha",
    "Alan",
    "Alice",
    "Amara",
    "Anna",
    "Ben",
    "Bilal",
    "Carla",
    "Chen",
    "Chloe",
    "Dana",
    "David",
    "Elena",
    "Emma",
    "Farah",
    "Femi",
    "Grace",
    "Hana",
    "Harry",
    "Helen",
    "Ibrahim",
    "Isla",
    "Jack",
    "James",
    "Jin",
    "Kai",
    "Kenji",
    "Laura",
    "Leo",
    "Lina",
    "Lucy",
    "Maria",
    "Mateo",
    "Maya",
    "Mei",
    "Mohammed",
    "Nadia",
    "Noah",
    "Nora",
    "Olu",
    "Omar",
    "Oscar",
    "Priya",
    "Rosa",
    "Ruth",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Tom",
    "Uma",
    "Victor",
    "Wei",
    "Yara",
    "Zoe",
]
FAMILY_NAMES = [
    "Abbott",
    "Adeyemi",
    "Ahmed",
    "Alvarez",
    "Anderson",
    "Bailey",
    "Baker",
    "Barnes",
    "Bell",
    "Berg",
    "Brown",
    "Byron",
    "Campbell",
    "Carter",
    "Chen",
    "Clarke",
    "Cole",
    "Cooper",
    "Davies",
    "Dixon",
    "Edwards",
    "Evans",
    "Fischer",
    "Fletcher",
    "Garcia",
    "Gibson",
    "Gordon",
    "Graham",
    "Green",
    "Hall",
    "Harris",
    "Hayes",
    "Hughes",
    "Hussain",
    "Jackson",
    "James",
    "Jensen",
    "Johnson",
    "Jones",
    "Kaur",
    "Kelly",
    "Khan",
    "Kim",
    "King",
    "Knight",
    "Lee",
    "Lewis",
    "Lopez",
    "Marsh",
    "Martin",
    "Mason",
    "McAllister",
    "Mills",
    "Mitchell",
    "Moore",
    "Morgan",
    "Murphy",
    "Nair",
    "Nguyen",
    "Novak",
    "Okafor",
    "Owen",
    "Palmer",
    "Parker",
    "Patel",
    "Perez",
    "Phillips",
    "Price",
    "Rahman",
    "Reid",
    "Richards",
    "Roberts",
    "Robinson",
    "Rossi",
    "Russell",
    "Sato",
    "Scott",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Stewart",
    "Taylor",
    "Thomas",
    "Thompson",
    "Turner",
    "Walker",
    "Ward",
    "Watson",
    "White",
    "Whitfield",
    "Williams",
    "Wilson",
    "Wood",
    "Wright",
    "Young",
]
EFFECT_KINDS = (
    ("vivid_dreams", "Vivid dreams", 40),
    ("insomnia", "Insomnia", 25),
    ("headache", "Headache", 15),
    ("nausea", "Nausea / GI discomfort", 10),
    ("anxiety", "Anxiety or irritability", 5),
    ("fatigue", "Fatigue", 5),
)
FLAG_TABLE_COLUMNS = (
    "id",
    "patient_id",
    "dose_entry_id",
    "checkin_id",
    "kind",
    "severity",
    "message",
    "created_at",
    "acknowledged_at",
    "acknowledged_by_id",
    "acknowledgement_note",
    "closed_as",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "titration_titrationplan": (
        "id",
        "patient_id",
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
        "is_active",
        "created_by_id",
        "created_at",
        "ended_at",
        "ended_by_id",
    ),
    "titration_doseentry": (
        "id",
        "patient_id",
        "taken_on",
        "dose_mg",
        "formulation",
        "status",
        "notes",
        "plan_id",
        "scheduled_dose_mg",
        "override_reason",
        "recorded_by_id",
        "recorded_at",
        "voided_at",
        "voided_by_id",
        "void_reason",
    ),
    "titration_checkin": (
        "id",
        "patient_id",
        "checked_on",
        "pain_score",
        "sleep_quality",
        "notes",
        "recorded_by_id",
        "recorded_at",
        "voided_at",
        "voided_by_id",
        "void_reason",
    ),
    "titration_sideeffect": ("id", "checkin_id", "kind", "severity", "description"),
    "titration_flag": FLAG_TABLE_COLUMNS,
}
# Parents before children, so that a reader never sees an entry before its plan (foreign keys are not
# checked during the load: the generator makes them consistent itself).
TABLE_ORDER = tuple(COLUMNS)
NULL = r"\N"


class BenchDatabaseError(ValueError):
    """A database the benchmark must not touch."""


def check_database_name(name: str) -> str:
    """The name, if it is a benchmark database (``ldn_bench…``); anything else is refused."""
    if not name.startswith(DATABASE_PREFIX) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise BenchDatabaseError(
            f"Refusing to use the database {name!r}: the benchmark only drops and fills databases whose "
            f"name starts with {DATABASE_PREFIX!r} (lower-case letters, digits and _)."
        )
    return name


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{check_database_name(name)}"


@dataclass(frozen=True)
class GenerateConfig:
    database: str = DEFAULT_DATABASE
    server_url: str = DEFAULT_SERVER_URL
    clinics: int = 10
    patients: int = 10_000
    save_pool: int = 20  # per clinic
    seed: int = 2026
    today: datetime.date | None = None
    progress: bool = True

    @property
    def url(self) -> str:
        return database_url(self.server_url, self.database)


@dataclass
class Counts:
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def recreate_database(config: GenerateConfig) -> None:
    """Drop and create the benchmark database (only one named ``ldn_bench…``)."""
    name = check_database_name(config.database)
    with psycopg.connect(f"{config.server_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(config: GenerateConfig) -> None:
    name = check_database_name(config.database)
    with psycopg.connect(f"{config.server_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(config: GenerateConfig) -> None:
    """``manage.py migrate`` against the benchmark database, through DATABASE_URL."""
    env = {**os.environ, "DATABASE_URL": config.url, "DJANGO_SETTINGS_MODULE": "ldn_tracker.settings", "DEBUG": "1"}
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(PROJECT_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        env=env,
        cwd=PROJECT_DIR,
        timeout=600,
    )


# --- the history of one patient -------------------------------------------------------------------


@functools.lru_cache(maxsize=100_000)
def _findings(
    dose: Decimal, previous: Decimal | None, step: Decimal | None, scheduled: Decimal | None
) -> tuple[rules.Finding, ...]:
    # The space of (dose, previous, step, scheduled) is small: the rules run once per distinct case.
    plan = (
        rules.PlanTerms(None, datetime.date.min, rules.LDN_MIN_MG, step, 7, rules.LDN_MAX_MG)
        if step is not None
        else None
    )
    context = rules.DoseContext(plan=plan, expected=scheduled, previous=previous, is_first=previous is None)
    return tuple(rules.dose_findings(dose, context))


def _text(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


@dataclass
class Plan:
    id: int
    start: int  # ordinal day
    schedule: rules.Schedule
    steps: list[Decimal]  # scheduled dose after k steps, until the target
    formulation: str
    ended: int | None = None  # ordinal day the plan was replaced

    def scheduled(self, day: int) -> Decimal:
        k = (day - self.start) // self.schedule.step_interval_days
        return self.steps[k] if k < len(self.steps) else self.steps[-1]


def _plan_steps(schedule: rules.Schedule) -> list[Decimal]:
    steps: list[Decimal] = []
    k = 0
    while True:
        day = schedule.start_date + datetime.timedelta(days=k * schedule.step_interval_days)
        dose = rules.scheduled_dose(schedule, day)
        assert dose is not None  # noqa: S101 - on or after the start by construction
        steps.append(dose)
        if dose == schedule.target_dose_mg or schedule.step_mg == 0 or k > 100:
            return steps
        k += 1


@dataclass
class Ids:
    next: dict[str, int]

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


@dataclass
class Clinic:
    id: int
    prescriber_id: int
    staff_id: int


@dataclass
class PatientSpec:
    id: int
    clinic: Clinic
    start: int
    end: int
    born: datetime.date
    regular: bool = True  # False: a clean reference history without gaps or deviations
    active: bool = True


class HistoryWriter:
    """Turns patients into COPY text, one list of lines per table."""

    def __init__(self, ids: Ids, today: datetime.date) -> None:
        self.ids = ids
        self.today = today.toordinal()
        self.lines: dict[str, list[str]] = {table: [] for table in TABLE_ORDER}
        self._iso: dict[int, str] = {}
        from titration.forms import PRESETS  # the plan form's presets (needs Django set up)

        self.presets: dict[str, dict[str, Any]] = PRESETS

    def iso(self, day: int) -> str:
        text = self._iso.get(day)
        if text is None:
            text = self._iso[day] = datetime.date.fromordinal(day).isoformat()
        return text

    def take(self) -> dict[str, str]:
        chunks = {table: "".join(lines) for table, lines in self.lines.items() if lines}
        self.lines = {table: [] for table in TABLE_ORDER}
        return chunks

    def row(self, table: str, *values: Any) -> None:
        self.lines[table].append("\t".join(_text(v) for v in values) + "\n")

    def _plan(
        self, rng: random.Random, patient: PatientSpec, start: int, preset: str, numbers: dict[str, Any], fmt: str
    ) -> Plan:
        schedule = rules.Schedule(
            start_date=datetime.date.fromordinal(start),
            starting_dose_mg=numbers["starting_dose_mg"],
            step_mg=numbers["step_mg"],
            step_interval_days=numbers["step_interval_days"],
            target_dose_mg=numbers["target_dose_mg"],
        )
        return Plan(self.ids.take("titration_titrationplan"), start, schedule, _plan_steps(schedule), fmt)

    def _write_plans(self, patient: PatientSpec, plans: list[tuple[Plan, str]]) -> None:
        for plan, preset in plans:
            s = plan.schedule
            concentration = "1" if plan.formulation == "liquid" else None
            ended_at = f"{self.iso(plan.ended)} 09:00:00+00" if plan.ended is not None else None
            self.row(
                "titration_titrationplan",
                plan.id,
                patient.id,
                preset,
                self.iso(plan.start),
                s.starting_dose_mg,
                s.step_mg,
                s.step_interval_days,
                s.target_dose_mg,
                plan.formulation,
                concentration,
                "bedtime",
                "",
                plan.ended is None,
                patient.clinic.prescriber_id,
                f"{self.iso(plan.start)} 09:00:00+00",
                ended_at,
                patient.clinic.prescriber_id if plan.ended is not None else None,
            )

    def _flag(
        self,
        rng: random.Random,
        patient: PatientSpec,
        day: int,
        created_at: str,
        kind: str,
        severity: int,
        message: str,
        *,
        dose_entry: int | None = None,
        checkin: int | None = None,
        acknowledged: bool | None = None,
        voided: bool = False,
    ) -> None:
        if acknowledged is None:
            acknowledged = self.today - day > OPEN_FLAG_DAYS and rng.random() > P_OLD_FLAG_OPEN
        acknowledged = acknowledged or voided
        ack_at = f"{self.iso(min(day + rng.randint(1, 3), self.today))} 10:30:00+00" if acknowledged else None
        # A closed flag says how: acknowledged by a clinician, or closed with its voided entry.
        closed_as = "entry_voided" if voided else ("acknowledged" if acknowledged else "")
        self.row(
            "titration_flag",
            self.ids.take("titration_flag"),
            patient.id,
            dose_entry,
            checkin,
            kind,
            severity,
            message,
            created_at,
            ack_at,
            patient.clinic.prescriber_id if acknowledged else None,
            ("Entry voided." if voided else "Reviewed at the clinic.") if acknowledged else "",
            closed_as,
        )

    def patient(self, rng: random.Random, patient: PatientSpec) -> None:
        """Plans, daily doses, weekly check-ins and their flags, for one patient."""
        span = patient.end - patient.start + 1
        preset_name = rng.choices(("low_slow", "standard", "weekly_1mg"), weights=(50, 30, 20))[0]
        numbers = dict(self.presets[preset_name])
        if not patient.regular:
            preset_name, numbers = "low_slow", dict(self.presets["low_slow"])
        elif rng.random() < 0.2:
            numbers["target_dose_mg"] = rng.choice((Decimal("3"), Decimal("3.5"), Decimal("4")))
        fmt = "capsule"
        if patient.regular:
            fmt = rng.choices(("capsule", "liquid", "sublingual"), weights=(80, 15, 5))[0]
        first = self._plan(rng, patient, patient.start, preset_name, numbers, fmt)
        plans: list[tuple[Plan, str]] = [(first, preset_name)]
        if patient.regular and span >= 150 and rng.random() < P_PLAN_CHANGE:
            change = patient.start + rng.randint(60, span - 30)
            first.ended = change
            current = first.scheduled(change)
            start_dose = max(rules.LDN_MIN_MG, current - Decimal("0.5"))
            target = rng.choice((Decimal("3"), Decimal("3.5"), Decimal("4"), Decimal("4.5")))
            custom = {
                "starting_dose_mg": start_dose,
                "step_mg": Decimal("0.5"),
                "step_interval_days": 14,
                "target_dose_mg": max(target, start_dose),
            }
            plans.append((self._plan(rng, patient, change, "", custom, rng.choice((fmt, "liquid"))), ""))
        self._write_plans(patient, plans)
        self._doses(rng, patient, [plan for plan, _ in plans])
        self._checkins(rng, patient)

    def _doses(self, rng: random.Random, patient: PatientSpec, plans: list[Plan]) -> None:
        prescriber = patient.clinic.prescriber_id
        previous: Decimal | None = None
        gap = 0
        regular = patient.regular
        random_ = rng.random
        for day in range(patient.start, patient.end + 1):
            if gap:
                gap -= 1
                continue
            plan = plans[-1] if len(plans) > 1 and day >= plans[-1].start else plans[0]
            scheduled = plan.scheduled(day)
            iso = self.iso(day)
            recorded_at = f"{iso} 20:{int(random_() * 60):02d}:00+00"
            r = random_() if regular else 1.0
            if r < P_GAP_START:
                gap = rng.randint(1, 9)
                continue
            if r < P_GAP_START + P_SKIP:
                continue
            if r < P_GAP_START + P_SKIP + P_MISSED:
                self.lines["titration_doseentry"].append(
                    # A missed dose carries no dose (it is never counted as taken).
                    f"{self.ids.take('titration_doseentry')}\t{patient.id}\t{iso}\t{NULL}\t{plan.formulation}"
                    f"\tmissed\t\t{plan.id}\t{scheduled}\t\t{prescriber}\t{recorded_at}\t{NULL}\t{NULL}\t\n"
                )
                continue
            dose = scheduled
            slip = False
            r -= P_GAP_START + P_SKIP + P_MISSED
            if r < P_SLIP:
                slip = True
                dose = scheduled * 10 if scheduled * 10 <= rules.HARD_MAX_MG else scheduled / 10
                dose = dose.quantize(Decimal("0.01")).normalize()
            elif r < P_SLIP + P_OUT_OF_RANGE:
                dose = Decimal("6")
            elif r < P_SLIP + P_OUT_OF_RANGE + P_DEVIATE:
                dose = _deviation(rng, scheduled, plan.schedule.step_mg)
            if slip and random_() < 0.5:
                # Voided the next morning with a reason; the right dose recorded for the same day.
                self._dose(rng, patient, plan, day, dose, scheduled, previous, recorded_at, voided=True)
                self._dose(rng, patient, plan, day, scheduled, scheduled, previous, f"{self.iso(day + 1)} 09:15:00+00")
                previous = scheduled
                continue
            self._dose(rng, patient, plan, day, dose, scheduled, previous, recorded_at)
            previous = dose

    def _dose(
        self,
        rng: random.Random,
        patient: PatientSpec,
        plan: Plan,
        day: int,
        dose: Decimal,
        scheduled: Decimal,
        previous: Decimal | None,
        recorded_at: str,
        *,
        voided: bool = False,
    ) -> None:
        entry_id = self.ids.take("titration_doseentry")
        findings = _findings(dose, previous, plan.schedule.step_mg, scheduled)
        out_of_range = rules.out_of_range_message(dose) is not None
        prescriber = patient.clinic.prescriber_id
        override = "Confirmed with the patient." if out_of_range else ""
        if voided:
            void = f"{self.iso(day + 1)} 09:10:00+00\t{prescriber}\tDecimal slip: wrong dose entered."
        else:
            void = f"{NULL}\t{NULL}\t"
        # Formatted by hand: this line runs millions of times.
        self.lines["titration_doseentry"].append(
            f"{entry_id}\t{patient.id}\t{self.iso(day)}\t{dose}\t{plan.formulation}\ttaken\t\t{plan.id}"
            f"\t{scheduled}\t{override}\t{prescriber}\t{recorded_at}\t{void}\n"
        )
        for finding in findings:
            self._flag(
                rng,
                patient,
                day,
                recorded_at,
                finding.kind.value,
                int(finding.severity),
                finding.message,
                dose_entry=entry_id,
                voided=voided,
            )

    def _checkins(self, rng: random.Random, patient: PatientSpec) -> None:
        baseline = rng.randint(5, 9)
        relief = rng.choices((0.55, 0.35, 0.1), weights=(30, 30, 40))[0]
        sleep = rng.randint(3, 6)
        day = patient.start
        while day <= patient.end:
            weeks_in = (day - patient.start) / 90
            if day == patient.start or not patient.regular or rng.random() < P_CHECKIN:
                progress = min(1.0, weeks_in)
                pain = round(baseline * (1 - relief * progress) + rng.uniform(-1, 1))
                pain = max(0, min(10, pain))
                checkin_id = self.ids.take("titration_checkin")
                iso = self.iso(day)
                recorded_at = f"{iso} 11:{rng.randint(0, 59):02d}:00+00"
                self.row(
                    "titration_checkin",
                    checkin_id,
                    patient.id,
                    iso,
                    pain,
                    min(10, sleep + round(3 * progress * relief) + rng.randint(0, 1)),
                    "",
                    patient.clinic.staff_id,
                    recorded_at,
                    None,
                    None,
                    "",
                )
                early = day - patient.start < 60
                if patient.regular and rng.random() < (0.2 if early else 0.04):
                    self._side_effect(rng, patient, day, checkin_id, recorded_at)
            day += 7

    def _side_effect(self, rng: random.Random, patient: PatientSpec, day: int, checkin_id: int, at: str) -> None:
        kind, label, _ = rng.choices(EFFECT_KINDS, weights=[w for _, _, w in EFFECT_KINDS])[0]
        severity = rng.choices(("mild", "moderate", "severe"), weights=(75, 22, 3))[0]
        self.row("titration_sideeffect", self.ids.take("titration_sideeffect"), checkin_id, kind, severity, "")
        if severity == "severe":
            when = datetime.date.fromordinal(day)
            message = f"Severe {label.lower()} reported at the check-in of {when:%-d %b %Y}."
            self._flag(rng, patient, day, at, rules.FlagKind.SEVERE_SIDE_EFFECT.value, 20, message, checkin=checkin_id)


def _deviation(rng: random.Random, scheduled: Decimal, step: Decimal) -> Decimal:
    """An in-range dose other than the scheduled one: a hold at the last step, half a dose, a bit more."""
    choice = rng.random()
    if choice < 0.5:
        dose = scheduled - step if scheduled - step >= rules.LDN_MIN_MG else scheduled + Decimal("0.5")
    elif choice < 0.8:
        dose = (scheduled / 2).quantize(Decimal("0.01")).normalize()
        if dose < rules.LDN_MIN_MG:
            dose = Decimal("1")
    else:
        dose = (
            scheduled + Decimal("0.5") if scheduled + Decimal("0.5") <= rules.LDN_MAX_MG else scheduled - Decimal("0.5")
        )
    return dose


# --- the load -------------------------------------------------------------------------------------


def _copy(conn: psycopg.Connection[Any], table: str, text: str) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), columns)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(text)


def _copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


class _Writer(threading.Thread):
    """COPYs the batches the generator hands over, so that generating and loading overlap on two cores."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.batches: queue.Queue[dict[str, str] | None] = queue.Queue(maxsize=3)
        self.url = url
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url) as conn:
                _prepare_session(conn)
                while (batch := self.batches.get()) is not None:
                    for table in TABLE_ORDER:
                        if table in batch:
                            _copy(conn, table, batch[table])
                    conn.commit()
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            while self.batches.get() is not None:
                pass

    def put(self, batch: dict[str, str]) -> None:
        if self.error is not None:
            raise RuntimeError("loading the benchmark data failed") from self.error
        self.batches.put(batch)


def _prepare_session(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET synchronous_commit = off")
    try:
        # Skip the per-row foreign key triggers (superuser only); the generator keeps the keys consistent.
        conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        conn.execute("SET synchronous_commit = off")


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="patient", desc="Generating", dynamic_ncols=True)


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _seed_people(conn: psycopg.Connection[Any], config: GenerateConfig, today: datetime.date) -> list[Clinic]:
    """Clinics, their prescriber and staff member (with memberships and groups)."""
    from django.contrib.auth.hashers import make_password

    groups = dict(conn.execute("SELECT name, id FROM auth_group").fetchall())
    password = make_password(BENCH_PASSWORD)
    joined = datetime.datetime.combine(
        _years_before(today, 6), datetime.time(9), tzinfo=datetime.UTC
    )  # before every history
    clinics: list[Clinic] = []
    from patients.models import DEFAULT_DAY_BOUNDARY, default_time_zone  # after django.setup()

    users, memberships, user_groups, clinic_rows = [], [], [], []
    for index in range(1, config.clinics + 1):
        clinic = Clinic(id=index, prescriber_id=2 * index - 1, staff_id=2 * index)
        clinics.append(clinic)
        clinic_rows.append(
            (
                index,
                f"Bench Clinic {index:02d}",
                joined,
                False,
                RESTART_AFTER_GAP_DAYS,
                "",
                default_time_zone(),
                DEFAULT_DAY_BOUNDARY,
            )
        )
        for user_id, role, group in (
            (clinic.prescriber_id, "prescriber", "Prescribers"),
            (clinic.staff_id, "staff", "Clinic staff"),
        ):
            username = bench_username(role, index)
            users.append(
                (user_id, password, False, username, role.capitalize(), f"Clinic {index:02d}", "", False, True, joined)
            )
            memberships.append((user_id, user_id, index, joined))
            user_groups.append((user_id, user_id, groups[group]))
    _copy_rows(
        conn,
        "patients_clinic",
        (
            "id",
            "name",
            "created_at",
            "require_two_factor_for_prescribers",
            "restart_after_gap_days",
            "phone",
            "time_zone",
            "day_boundary",
        ),
        clinic_rows,
    )
    _copy_rows(
        conn,
        "auth_user",
        (
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ),
        users,
    )
    _copy_rows(conn, "patients_membership", ("id", "user_id", "clinic_id", "created_at"), memberships)
    _copy_rows(conn, "auth_user_groups", ("id", "user_id", "group_id"), user_groups)
    return clinics


def bench_username(role: str, clinic_index: int) -> str:
    return f"bench.{role}.{clinic_index:02d}"


def _patient_plan(
    config: GenerateConfig, clinics: list[Clinic], today: datetime.date, rng: random.Random
) -> Iterator[tuple[PatientSpec, str, str, str]]:
    """(spec, MRN, given name, family name) of every patient: regular, then reference, then the save pools."""
    today_ord = today.toordinal()
    next_id = 1
    for n in range(config.patients):
        clinic = clinics[n % len(clinics)]
        length = 365 + int(1461 * rng.random() ** 3)
        active = rng.random() < 0.9
        end = today_ord if active else today_ord - rng.randint(30, 300)
        born = datetime.date(rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28))
        spec = PatientSpec(next_id, clinic, end - length + 1, end, born, active=active)
        mrn = f"M{clinic.id:02d}-{n // len(clinics) + 1:06d}"
        yield spec, mrn, rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        next_id += 1
    five_years = _years_before(today, 5).toordinal()
    for k in range(1, REFERENCE_COUNT + 1):
        born = datetime.date(1975, 5, k)
        yield (
            PatientSpec(next_id, clinics[0], today_ord - 29, today_ord, born, regular=False),
            f"{REFERENCE_30_DAYS}-{k}",
            "Month",
            f"Reference{k}",
        )
        next_id += 1
        yield (
            PatientSpec(next_id, clinics[0], five_years, today_ord, born),
            f"{REFERENCE_5_YEARS}-{k}",
            "Lustrum",
            (f"Whitfield{k}"),
        )
        next_id += 1
    for clinic in clinics:
        for k in range(1, config.save_pool + 1):
            born = datetime.date(1980, 1, 1 + k % 28)
            spec = PatientSpec(next_id, clinic, five_years, today_ord - SAVE_POOL_FREE_DAYS, born)
            yield spec, f"{SAVE_POOL}-{clinic.id:02d}-{k:03d}", "Pool", f"Saver{k}"
            next_id += 1


def generate(config: GenerateConfig, *, log: Callable[[str], None] = print) -> dict[str, int]:
    """Drop, create, migrate and fill the benchmark database. Returns the row counts per table."""
    from django.utils import timezone

    check_database_name(config.database)
    today = config.today or timezone.localdate()
    rng = random.Random(config.seed)  # noqa: S311 - made-up data, not secrets
    log(f"Creating the database {config.database} and migrating it")
    recreate_database(config)
    migrate(config)
    conditions: list[int]
    with psycopg.connect(config.url) as conn:
        _prepare_session(conn)
        conditions = [row[0] for row in conn.execute("SELECT id FROM patients_condition ORDER BY id").fetchall()]
        clinics = _seed_people(conn, config, today)
        specs = list(_patient_plan(config, clinics, today, rng))
        patient_rows, diagnosis_rows = [], []
        diagnosis_id = 1
        for spec, mrn, given, family in specs:
            created = datetime.datetime.combine(
                datetime.date.fromordinal(spec.start), datetime.time(9), tzinfo=datetime.UTC
            )
            sex = rng.choice(("female", "female", "male", "other", ""))
            patient_rows.append(
                (
                    spec.id,
                    spec.clinic.id,
                    mrn,
                    given,
                    family,
                    spec.born,
                    sex,
                    spec.clinic.prescriber_id,
                    spec.active,
                    "",
                    created,
                    created,
                )
            )
            for condition in rng.sample(conditions, k=1 if rng.random() < 0.8 else 2):
                diagnosed = max(spec.born, datetime.date.fromordinal(spec.start - rng.randint(30, 3000)))
                diagnosis_rows.append((diagnosis_id, spec.id, condition, diagnosed))
                diagnosis_id += 1
        _copy_rows(
            conn,
            "patients_patient",
            (
                "id",
                "clinic_id",
                "mrn",
                "given_name",
                "family_name",
                "date_of_birth",
                "sex",
                "prescriber_id",
                "is_active",
                "notes",
                "created_at",
                "updated_at",
            ),
            patient_rows,
        )
        _copy_rows(conn, "patients_diagnosis", ("id", "patient_id", "condition_id", "diagnosed_on"), diagnosis_rows)
        conn.commit()

    indexes = _drop_secondary_indexes(config.url)
    counts = Counts()
    ids = Ids(dict.fromkeys(TABLE_ORDER, 1))
    history = HistoryWriter(ids, today)
    writer = _Writer(config.url)
    writer.start()
    bar = _progress(len(specs), config.progress)
    try:
        for n, (spec, _, _, _) in enumerate(specs, start=1):
            history.patient(random.Random(config.seed * 1_000_003 + spec.id), spec)  # noqa: S311
            if n % BATCH_PATIENTS == 0 or n == len(specs):
                batch = history.take()
                for table, text in batch.items():
                    counts.add(table, text.count("\n"))
                writer.put(batch)
                bar.update(BATCH_PATIENTS if n % BATCH_PATIENTS == 0 else n % BATCH_PATIENTS)
                bar.set_postfix_str(f"{counts.rows.get('titration_doseentry', 0):,} doses")
    finally:
        writer.batches.put(None)
        writer.join()
        bar.close()
    if writer.error is not None:
        raise RuntimeError("loading the benchmark data failed") from writer.error
    log(f"Building {len(indexes)} indexes, resetting sequences, analysing the tables (VACUUM ANALYZE)")
    _finish(config.url, indexes)
    return row_counts(config.url)


def _drop_secondary_indexes(url: str) -> list[str]:
    """Drop the history tables' indexes other than primary keys; returns their definitions to rebuild.

    Filling the tables first and indexing them afterwards is several times faster than keeping seven
    indexes of the dose table up to date row by row.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            ORDER BY i.indexname
            """,
            (list(TABLE_ORDER),),
        ).fetchall()
        for name, _ in rows:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _, definition in rows]


def _finish(url: str, indexes: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for definition in indexes:
            conn.execute(definition)
        tables = [
            "auth_user",
            "auth_user_groups",
            "patients_clinic",
            "patients_membership",
            "patients_patient",
            "patients_diagnosis",
            *TABLE_ORDER,
        ]
        for table in tables:
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false) FROM {}"
                ).format(sql.Literal(table), sql.Identifier(table))
            )
        conn.execute("VACUUM (ANALYZE)")


BENCH_TABLES = {
    "clinics": "patients_clinic",
    "users": "auth_user",
    "patients": "patients_patient",
    "plans": "titration_titrationplan",
    "dose entries": "titration_doseentry",
    "check-ins": "titration_checkin",
    "side effects": "titration_sideeffect",
    "flags": "titration_flag",
}


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {
            label: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]  # type: ignore[index]
            for label, table in BENCH_TABLES.items()
        }
        counts["open flags"] = conn.execute(
            "SELECT count(*) FROM titration_flag WHERE acknowledged_at IS NULL"
        ).fetchone()[0]  # type: ignore[index]
        counts["critical flags"] = conn.execute("SELECT count(*) FROM titration_flag WHERE severity = 30").fetchone()[0]  # type: ignore[index]
        counts["days with a flag"] = conn.execute(
            "SELECT count(DISTINCT dose_entry_id) FROM titration_flag WHERE dose_entry_id IS NOT NULL"
        ).fetchone()[0]  # type: ignore[index]
    return counts
