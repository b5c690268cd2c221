"""``python -m bench``: generate the data set, time every page in-process, load-test it, write the report."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .generate import (
    DEFAULT_DATABASE,
    DEFAULT_SERVER_URL,
    PROJECT_DIR,
    BenchDatabaseError,
    GenerateConfig,
    check_database_name,
    database_url,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the LDN Titration Tracker on a generated data set in a database of its own.",
    )
    data = parser.add_argument_group("data set")
    data.add_argument("--database", default=DEFAULT_DATABASE, help="must start with ldn_bench (default: %(default)s)")
    data.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_SERVER_URL", DEFAULT_SERVER_URL),
        help="PostgreSQL server, without a database name (default: BENCH_SERVER_URL or %(default)s)",
    )
    data.add_argument("--clinics", type=int, default=10)
    data.add_argument("--patients", type=int, default=10_000, help="regular patients, spread over the clinics")
    data.add_argument("--save-pool", type=int, default=20, help="patients per clinic whose free days take new doses")
    data.add_argument("--seed", type=int, default=2026)
    data.add_argument("--skip-generate", action="store_true", help="reuse the database from an earlier run")
    timing = parser.add_argument_group("in-process timings")
    timing.add_argument("--repeat", type=int, default=30, help="timed requests per page (default: %(default)s)")
    timing.add_argument("--warmup", type=int, default=3)
    timing.add_argument("--skip-measure", action="store_true")
    load = parser.add_argument_group("load test")
    load.add_argument("--users", type=int, default=50)
    load.add_argument("--seconds", type=int, default=60)
    load.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    load.add_argument("--think-min", type=float, default=2.0, help="seconds between a user's requests, at least")
    load.add_argument("--think-max", type=float, default=8.0, help="seconds between a user's requests, at most")
    load.add_argument(
        "--steps",
        default="1,2,4,8,16,32",
        help="user counts without think time, stepped up to find the saturation point (default: %(default)s)",
    )
    load.add_argument("--step-seconds", type=int, default=15, help="measured seconds per step (default: %(default)s)")
    load.add_argument("--skip-load", action="store_true")
    output = parser.add_argument_group("output")
    output.add_argument("--json", type=Path, default=PROJECT_DIR / "bench-results.json", help="raw results")
    output.add_argument("--baseline", type=Path, help="results of an earlier run, shown as 'before' columns")
    output.add_argument(
        "--report", type=Path, default=PROJECT_DIR / "docs" / "performance.md", help="markdown report to update"
    )
    output.add_argument("--no-report", action="store_true", help="do not touch the markdown report")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def configure_django(url: str) -> dict[str, str]:
    """Point this process (and the servers it starts) at the benchmark database with the bench settings."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # A fresh key per run, shared by this process and every gunicorn worker (sessions are signed with it).
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    return dict(os.environ)


def _static_is_current() -> bool:
    """Whether the collected static files are newer than every source file (collecting takes a while)."""
    from django.conf import settings

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for source in settings.STATICFILES_DIRS:
        folder = Path(str(source[1] if isinstance(source, tuple) else source))
        if any(path.stat().st_mtime > built for path in folder.rglob("*") if path.is_file()):
            return False
    return True


def collectstatic(env: dict[str, str]) -> None:
    if _static_is_current():
        return
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(PROJECT_DIR / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
        check=True,
        cwd=PROJECT_DIR,
        env=env,
        timeout=600,
    )


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_database_name(args.database)
    except BenchDatabaseError as exc:
        print(exc, file=sys.stderr)
        return 2
    url = database_url(args.server_url, args.database)
    env = configure_django(url)
    from .generate import generate, row_counts
    from .report import machine_info, write

    started = time.monotonic()
    if not args.skip_generate:
        config = GenerateConfig(
            database=args.database,
            server_url=args.server_url,
            clinics=args.clinics,
            patients=args.patients,
            save_pool=args.save_pool,
            seed=args.seed,
            progress=not args.no_progress,
        )
        generate(config, log=log)
        log(f"Generated in {time.monotonic() - started:.0f} s")
    results: dict[str, Any] = {
        "machine": machine_info(server_version()),
        "dataset": row_counts(url),
        "generate_seconds": None if args.skip_generate else round(time.monotonic() - started),
    }
    log("Data set: " + ", ".join(f"{n:,} {label}" for label, n in results["dataset"].items()))
    log("Collecting static files (hashed names, as in production)")
    collectstatic(env)
    if not args.skip_measure:
        from .measure import measure

        log(f"Timing pages in-process, side by side ({args.repeat} rounds of one request per page)")
        results["pages"] = [row.as_dict() for row in measure(repeat=args.repeat, warmup=args.warmup, log=log)]
        floor = results["pages"][0]["median_ms"] or 1
        for row in results["pages"]:
            memory = f"  peak {row['peak_kib']:,.0f} KiB" if row.get("peak_kib") else ""
            log(
                f"  {row['page']:<46} median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                f"CPU {row['cpu_ms']:7.1f} ms  {row['queries']:3} queries  {row['median_ms'] / floor:5.2f}x floor"
                f"{memory}"
            )
        # Kept even if the load test fails later: the timings took minutes.
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if not args.skip_load:
        from django.db import connections

        from .load import LoadConfig, run_load

        connections.close_all()
        log("Load test")
        results["load"] = run_load(
            env,
            LoadConfig(
                users=args.users,
                seconds=args.seconds,
                workers=args.workers,
                think_min=args.think_min,
                think_max=args.think_max,
                steps=tuple(int(n) for n in args.steps.split(",")),
                step_seconds=args.step_seconds,
            ),
            log=log,
        )
        load = results["load"]
        log(
            f"  {load['requests']:,} requests, {load['rps']} requests/s, p50 {load['p50_ms']} ms, "
            f"p95 {load['p95_ms']} ms, p99 {load['p99_ms']} ms, {load['failures']} errors"
        )
    results["machine"]["load_after"] = f"{os.getloadavg()[0]:.2f}"
    from .targets import checks

    log("Targets:")
    for check in checks(results):
        verdict = "" if check.met is None else ("met" if check.met else "MISSED")
        log(f"  {check.target:<78} {check.measured:<48} {verdict}")
    args.json.write_text(json.dumps(results, indent=2, default=str))
    log(f"Raw results: {args.json}")
    if not args.no_report:
        baseline = json.loads(args.baseline.read_text()) if args.baseline else None
        write(args.report, results, baseline)
        log(f"Report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
