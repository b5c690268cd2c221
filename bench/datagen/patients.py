"""Who the patients are: regular patients spread over the clinics, reference patients with exactly 30 days
and exactly 5 years of history, and per clinic a pool whose last 90 days are free for the doses the benchmark
saves."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass

from .batch import Batch
from .people import Clinic
from .tables import tables

REFERENCE_30_DAYS = "BENCH-30D"
REFERENCE_5_YEARS = "BENCH-5Y"
SAVE_POOL = "BENCH-SAVE"
REFERENCE_COUNT = 3
SAVE_POOL_FREE_DAYS = 90


def _words(text: str) -> list[str]:
    return text.split()


GIVEN_NAMES = _words(
    "Ada Aisha Alan Alice Amara Anna Ben Bilal Carla Chen Chloe Dana David Elena Emma Farah Femi Grace Hana Harry "
    "Helen Ibrahim Isla Jack James Jin Kai Kenji Laura Leo Lina Lucy Maria Mateo Maya Mei Mohammed Nadia Noah Nora "
    "Olu Omar Oscar Priya Rosa Ruth Sam Sara Sofia Tariq Tom Uma Victor Wei Yara Zoe"
)
FAMILY_NAMES = _words(
    "Abbott Adeyemi Ahmed Alvarez Anderson Bailey Baker Barnes Bell Berg Brown Byron Campbell Carter Chen Clarke "
    "Cole Cooper Davies Dixon Edwards Evans Fischer Fletcher Garcia Gibson Gordon Graham Green Hall Harris Hayes "
    "Hughes Hussain Jackson James Jensen Johnson Jones Kaur Kelly Khan Kim King Knight Lee Lewis Lopez Marsh Martin "
    "Mason McAllister Mills Mitchell Moore Morgan Murphy Nair Nguyen Novak Okafor Owen Palmer Parker Patel Perez "
    "Phillips Price Rahman Reid Richards Roberts Robinson Rossi Russell Sato Scott Shah Silva Singh Smith Stewart "
    "Taylor Thomas Thompson Turner Walker Ward Watson White Whitfield Williams Wilson Wood Wright Young"
)


@dataclass
class PatientSpec:
    id: int
    clinic: Clinic
    start: int  # ordinal day of the first record
    end: int  # ordinal day of the last record
    born: datetime.date
    regular: bool = True  # False: a clean reference history without gaps or deviations
    active: bool = True


def years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def patient_specs(
    patients: int, save_pool: int, clinics: list[Clinic], today: datetime.date, rng: random.Random
) -> Iterator[tuple[PatientSpec, str, str, str]]:
    """(spec, MRN, given name, family name) of every patient: regular, then reference, then the save pools."""
    today_ord = today.toordinal()
    next_id = 1
    for n in range(patients):
        clinic = clinics[n % len(clinics)]
        length = 365 + int(1461 * rng.random() ** 3)  # more short histories than long ones
        active = rng.random() < 0.9
        end = today_ord if active else today_ord - rng.randint(30, 300)
        born = datetime.date(rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28))
        spec = PatientSpec(next_id, clinic, end - length + 1, end, born, active=active)
        mrn = f"M{clinic.id:02d}-{n // len(clinics) + 1:06d}"
        yield spec, mrn, rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        next_id += 1
    five_years = years_before(today, 5).toordinal()
    for k in range(1, REFERENCE_COUNT + 1):
        born = datetime.date(1975, 5, k)
        month = PatientSpec(next_id, clinics[0], today_ord - 29, today_ord, born, regular=False)
        yield month, f"{REFERENCE_30_DAYS}-{k}", "Month", f"Reference{k}"
        lustrum = PatientSpec(next_id + 1, clinics[0], five_years, today_ord, born)
        yield lustrum, f"{REFERENCE_5_YEARS}-{k}", "Lustrum", f"Whitfield{k}"
        next_id += 2
    for clinic in clinics:
        for k in range(1, save_pool + 1):
            born = datetime.date(1980, 1, 1 + k % 28)
            spec = PatientSpec(next_id, clinic, five_years, today_ord - SAVE_POOL_FREE_DAYS, born)
            yield spec, f"{SAVE_POOL}-{clinic.id:02d}-{k:03d}", "Pool", f"Saver{k}"
            next_id += 1


def write_patients(
    batch: Batch, specs: list[tuple[PatientSpec, str, str, str]], conditions: list[int], rng: random.Random
) -> None:
    """The patients and their diagnoses, each with its audit row, registered by the clinic's prescriber."""
    t = tables()
    for spec, mrn, given, family in specs:
        day = datetime.date.fromordinal(spec.start)
        created = datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC)
        sex = rng.choice(("female", "female", "male", "other", ""))
        by = spec.clinic.prescriber_id
        values = (spec.id, spec.clinic.id, mrn, given, family, spec.born, sex, by, spec.active, created, created)
        batch.add(t.patient, values, created, by)
        for condition in rng.sample(conditions, k=1 if rng.random() < 0.8 else 2):
            diagnosed = max(spec.born, datetime.date.fromordinal(spec.start - rng.randint(30, 3000)))
            diagnosis = (batch.ids.take(t.diagnosis.record.name), spec.id, condition, diagnosed)
            batch.add(t.diagnosis, diagnosis, created, by)
