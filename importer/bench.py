"""Time ``import_doses`` on a generated file, its dry run then its commit: ``python -m importer.bench --rows 100000``.

Needs a migrated database (DATABASE_URL, for example a PostgreSQL one of its own). It adds one clinic and one
prescriber named after the run, so it never touches other clinics.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import random
import tempfile
import time
from pathlib import Path


def write_file(path: Path, *, rows: int, patients: int, today: datetime.date) -> None:
    """``patients`` new patients with ``rows / patients`` consecutive days each, ending yesterday: doses
    that step up 0.5 mg a week, a missed day now and then, a pain score every third day."""
    rng = random.Random(14)  # noqa: S311 - test data
    per_patient = rows // patients
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "mrn",
                "given_name",
                "family_name",
                "date_of_birth",
                "conditions",
                "date",
                "dose_mg",
                "status",
                "pain_score",
            ]
        )
        for number in range(patients):
            details = [f"BENCH-{number:05d}", "Given", f"Family{number}", "1970-01-01", "Fibromyalgia"]
            for offset in range(per_patient):
                day = today - datetime.timedelta(days=per_patient - offset)
                dose = min(0.5 + 0.5 * (offset // 7), 4.5)
                missed = rng.random() < 0.02
                pain = str(rng.randint(2, 8)) if offset % 3 == 0 else ""
                writer.writerow(
                    [*details, day.isoformat(), "" if missed else f"{dose:g}", "missed" if missed else "", pain]
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldn_tracker.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from patients.models import Clinic, clinic_today
    from patients.roles import Role
    from tests.conftest import make_user

    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    clinic = Clinic.objects.create(name=f"Import bench {stamp}")
    make_user(f"bench.import.{stamp}", Role.PRESCRIBER, clinic)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        write_file(path, rows=args.rows, patients=args.patients, today=clinic_today(clinic))
        times, cpu_times = [], []
        for commit in ([], ["--commit"]):
            started, cpu = time.perf_counter(), time.process_time()
            call_command("import_doses", str(path), "--clinic", clinic.name, "--no-progress", *commit)
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    # On a shared machine the wall time is mostly waiting for a core: the importer's own CPU time says how much
    # of it is the import's work (the database server's is not counted in it).
    for label, elapsed, cpu in zip(("dry run", "commit"), times, cpu_times, strict=True):
        print(
            f"{label}: {args.rows} rows, {args.patients} patients, {connection.vendor}: {elapsed:.1f} s "
            f"({args.rows / elapsed:,.0f} rows/s), importer CPU {cpu:.1f} s"
        )
    print(f"dry run + commit: {sum(times):.1f} s; load average {load} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
