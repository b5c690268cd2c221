"""Generate a realistic data set into a benchmark database of its own, fast (COPY, no ORM per row).

Every clinic has a prescriber and a staff member, and two lead prescribers belong to two and to all clinics;
every patient has a plan from the presets of the plan form (some change plan once), daily dose entries with
missed days, gaps, the odd deviation and very rare tenfold slips, weekly check-ins with pain scores and
occasional side effects, the flags that history raises (computed with ``titration.rules.dose_findings``, the
rules of the dose service), and the audit history of every record (django-simple-history's tables).

Besides the ``--patients`` regular patients, clinic 1 gets reference patients to measure against (exactly
30 days and exactly 5 years of history), and every clinic a pool of patients whose entries stop 90 days
ago, whose free days the benchmark fills with new doses.

The parts live in ``bench.datagen``; this module is their public face.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterable

from .datagen import driver
from .datagen.database import (
    DATABASE_PREFIX,
    DEFAULT_DATABASE,
    DEFAULT_SERVER_URL,
    PROJECT_DIR,
    BenchDatabaseError,
    GenerateConfig,
    check_database_name,
    database_url,
    drop_database,
    row_counts,
)
from .datagen.patients import REFERENCE_5_YEARS, REFERENCE_30_DAYS, SAVE_POOL, SAVE_POOL_FREE_DAYS, PatientSpec
from .datagen.people import BENCH_PASSWORD, Clinic, bench_username, lead_clinic_counts

__all__ = [
    "BENCH_PASSWORD",
    "DATABASE_PREFIX",
    "DEFAULT_DATABASE",
    "DEFAULT_SERVER_URL",
    "PROJECT_DIR",
    "REFERENCE_5_YEARS",
    "REFERENCE_30_DAYS",
    "SAVE_POOL",
    "SAVE_POOL_FREE_DAYS",
    "BenchDatabaseError",
    "GenerateConfig",
    "bench_username",
    "check_database_name",
    "database_url",
    "drop_database",
    "generate",
    "lead_clinic_counts",
    "row_counts",
]


def _patient_plan(
    config: GenerateConfig, clinics: list[Clinic], today: datetime.date, rng: random.Random
) -> Iterable[tuple[PatientSpec, str, str, str]]:
    """Every patient to generate; ``bench.outcomes`` replaces it to stretch every history to five years."""
    return driver.default_patient_plan(config, clinics, today, rng)


def generate(config: GenerateConfig, *, log: Callable[[str], None] = print) -> dict[str, int]:
    """Drop, create, migrate and fill the benchmark database. Returns the row counts per table."""
    # Looked up when called, so that a replaced ``_patient_plan`` is the one used.
    return driver.generate(config, log=log, patient_plan=lambda *args: _patient_plan(*args))
