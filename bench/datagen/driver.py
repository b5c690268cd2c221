"""Drop, create, migrate and fill the benchmark database: people and patients first, then every patient's
history generated in batches and COPYed by a second thread, then the indexes and statistics."""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from .batch import Batch, Ids
from .database import (
    GenerateConfig,
    Writer,
    check_database_name,
    copy_chunks,
    drop_secondary_indexes,
    finish,
    migrate,
    prepare_session,
    recreate_database,
    row_counts,
)
from .doses import PatientHistory
from .patients import PatientSpec, patient_specs, write_patients, years_before
from .people import Clinic, write_people
from .tables import tables

BATCH_PATIENTS = 100
PatientPlan = Callable[
    [GenerateConfig, list[Clinic], datetime.date, random.Random], Iterable[tuple[PatientSpec, str, str, str]]
]


def default_patient_plan(
    config: GenerateConfig, clinics: list[Clinic], today: datetime.date, rng: random.Random
) -> Iterable[tuple[PatientSpec, str, str, str]]:
    return patient_specs(config.patients, config.save_pool, clinics, today, rng)


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


def generate(
    config: GenerateConfig, *, log: Callable[[str], None] = print, patient_plan: PatientPlan = default_patient_plan
) -> dict[str, int]:
    """Drop, create, migrate and fill the benchmark database. Returns the row counts per table.

    ``patient_plan`` gives (spec, MRN, given name, family name) of every patient; a variant may reshape them.
    """
    from django.utils import timezone

    check_database_name(config.database)
    started = time.monotonic()
    today = config.today or timezone.localdate()
    rng = random.Random(config.seed)  # noqa: S311 - made-up data, not secrets
    log(f"Creating the database {config.database} and migrating it")
    recreate_database(config)
    migrate(config)
    t = tables()
    columns = {table.name: table.columns for table in t.all()}
    ids = Ids()
    batch = Batch(ids, today, t.all())
    # Before every history: accounts and clinics exist six years back.
    joined = datetime.datetime.combine(years_before(today, 6), datetime.time(9), tzinfo=datetime.UTC)
    with psycopg.connect(config.url) as conn:
        prepare_session(conn)
        conditions = [row[0] for row in conn.execute("SELECT id FROM patients_condition ORDER BY id").fetchall()]
        clinics = write_people(conn, batch, config.clinics, joined)
        specs = list(patient_plan(config, clinics, today, rng))
        write_patients(batch, specs, conditions, rng)
        copy_chunks(conn, columns, batch.take())
        conn.commit()

    log(f"People and patients written in {time.monotonic() - started:.0f} s")
    indexes = drop_secondary_indexes(config.url, list(columns))
    history = PatientHistory(batch)
    writer = Writer(config.url, columns)
    writer.start()
    bar = _progress(len(specs), config.progress)
    doses = 0
    try:
        for n, (spec, _, _, _) in enumerate(specs, start=1):
            history.write(random.Random(config.seed * 1_000_003 + spec.id), spec)  # noqa: S311
            if n % BATCH_PATIENTS == 0 or n == len(specs):
                chunks = batch.take()
                doses += chunks.get(t.dose.record.name, "").count("\n")
                writer.put(chunks)
                bar.update(BATCH_PATIENTS if n % BATCH_PATIENTS == 0 else n % BATCH_PATIENTS)
                bar.set_postfix_str(f"{doses:,} doses")
    finally:
        bar.close()
        writer.close()
    log(f"Histories written in {time.monotonic() - started:.0f} s")
    log(f"Building {len(indexes)} indexes, resetting sequences, analysing the tables (VACUUM ANALYZE)")
    sequences = {table.name: table.model._meta.pk.column for table in t.all()}
    finish(config.url, indexes, sequences)
    return row_counts(config.url)
