"""``python -m bench.outcomes``: time /outcomes/ on a clinic of 1,000 patients with 5 years of history each.

Generates the data set with the benchmark generator (one clinic, every regular patient's history stretched to
five years), then requests the page in-process as the clinic's prescriber and prints the median and spread
of the response time and the number of SQL queries. Prints numbers; asserts nothing.

    .venv/bin/python -m bench.outcomes --database ldn_bench_outcomes            # generate, then time
    .venv/bin/python -m bench.outcomes --database ldn_bench_outcomes --skip-generate --profile
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import generate as bench_generate
from .__main__ import collectstatic, configure_django

FIVE_YEARS_DAYS = 5 * 365 + 1
PATHS = ("/outcomes/", "/outcomes/?period=12m")


def _five_year_plan(original: Any) -> Any:
    """The generator's patient plan with every history at least five years long (ending where it ended)."""

    def plan(*args: Any, **kwargs: Any) -> Iterator[tuple[Any, ...]]:
        for spec, *rest in original(*args, **kwargs):
            start = min(spec.start, spec.end - FIVE_YEARS_DAYS + 1)
            yield (dataclasses.replace(spec, start=start), *rest)

    return plan


def generate(args: argparse.Namespace) -> None:
    config = bench_generate.GenerateConfig(
        database=args.database,
        server_url=args.server_url,
        clinics=1,
        patients=args.patients,
        save_pool=0,
        seed=args.seed,
        progress=False,
    )
    original = bench_generate._patient_plan
    bench_generate._patient_plan = _five_year_plan(original)
    try:
        counts = bench_generate.generate(config)
    finally:
        bench_generate._patient_plan = original
    for table, n in sorted(counts.items()):
        print(f"{table:32} {n:>12,}")


def measure(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from titration import clinic_outcomes, outcome_figures, outcome_store
    from titration.models import OutcomeFigures

    user = get_user_model().objects.get(username=bench_generate.bench_username("prescriber", 1))
    client = Client()
    client.force_login(user)
    patients = clinic_outcomes.selected_patients(user, clinic_outcomes.Filters())
    some_patient = patients.order_by("pk").values_list("pk", flat=True).first()
    for label, prepare in (
        ("cold: every patient's figures rebuilt", lambda: OutcomeFigures.objects.all().delete()),
        ("one patient's figures out of date", lambda: outcome_store.mark_stale([some_patient] if some_patient else [])),
    ):
        prepare()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(PATHS[0])
            elapsed = (time.perf_counter() - started) * 1000
        print(f"{PATHS[0]} {label}: {elapsed:.0f} ms, {len(captured)} queries")
    for path in PATHS:
        times, queries = [], 0
        for run in range(args.warmup + args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                sys.exit(f"{path}: HTTP {response.status_code}")
            if run >= args.warmup:
                times.append(elapsed)
                queries = len(captured)
        print(
            f"{path:28} median {statistics.median(times):7.0f} ms  min {min(times):7.0f} ms  "
            f"max {max(times):7.0f} ms  {queries} queries  ({args.repeat} requests)"
        )
    if args.definition:
        # The page as it was: every dose and check-in read into Python, the pure measures run on each patient.
        times = []
        for _ in range(args.definition):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                outcome_figures.figures(clinic_outcomes.patient_outcomes(user, clinic_outcomes.Filters()))
                times.append((time.perf_counter() - started) * 1000)
        print(
            f"{'per-patient pure measures':28} median {statistics.median(times):7.0f} ms  "
            f"{len(captured)} queries  ({args.definition} runs, without the template)"
        )
    if args.profile:
        from pyinstrument import Profiler

        with Profiler() as profiler:
            client.get(PATHS[0])
        profiler.print(show_all=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outcomes", description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="ldn_bench_outcomes", help="must start with ldn_bench")
    parser.add_argument("--server-url", default=os.environ.get("BENCH_SERVER_URL", bench_generate.DEFAULT_SERVER_URL))
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the database from an earlier run")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--definition", type=int, default=0, metavar="N", help="also time the per-patient pure measures N times"
    )
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of one request")
    args = parser.parse_args(argv)
    env = configure_django(bench_generate.database_url(args.server_url, args.database))
    collectstatic(env)
    if not args.skip_generate:
        generate(args)
    measure(args)


if __name__ == "__main__":
    main()
