"""The load test: gunicorn on a free loopback port, driven by locust in headless mode, both stopped after.

Bounded in time: locust stops itself after the measured window (with a hard ``--run-time`` behind it), the
locust process has a timeout, and gunicorn is always terminated (then killed) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .generate import BENCH_PASSWORD, PROJECT_DIR, bench_username
from .measure import NAME_FRAGMENT, derive_positions, save_slots

HOST = "127.0.0.1"
SATURATION_P95_MS = 500


@dataclass(frozen=True)
class LoadConfig:
    users: int = 50
    seconds: int = 60
    workers: int = 2 * (os.cpu_count() or 1) + 1
    think_min: float = 2.0
    think_max: float = 8.0
    sign_in_timeout: int = 240
    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # users without think time, for the saturation point
    step_seconds: int = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL built here
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not answer within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL to the process group it leads (it was started in a session of its own)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, log: Path) -> Iterator[str]:
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "ldn_tracker.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--error-logfile",
        str(log),
    ]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn with fixed arguments
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=output, start_new_session=True
        )
    try:
        base = f"http://{HOST}:{port}"
        wait_until_up(f"{base}/accounts/login/", timeout=60)
        yield base
    finally:
        stop_process(process)


def load_fixture(users: int, *, seed: int = 7) -> dict[str, Any]:
    """What the locust users need: accounts, patients and searches per clinic, free days to save doses on."""
    from django.db.models import Count

    from patients.models import Clinic, Patient

    rng = random.Random(seed)  # noqa: S311 - picks sample patients, not secrets
    clinics = list(Clinic.objects.filter(name__startswith="Bench Clinic").annotate(n=Count("patients")).order_by("pk"))
    accounts: dict[str, list[dict[str, Any]]] = {"prescriber": [], "staff": []}
    patients: dict[str, list[int]] = {}
    searches: dict[str, list[str]] = {}
    slots: dict[str, list[dict[str, str]]] = {}
    per_clinic_saves = max(50, 10 * users // max(1, len(clinics)))
    for index, clinic in enumerate(clinics, start=1):
        for role in accounts:
            accounts[role].append(
                {"username": bench_username(role, index), "password": BENCH_PASSWORD, "clinic": index}
            )
        rows = list(Patient.objects.filter(clinic=clinic).values_list("pk", "mrn", "family_name"))
        sample = rng.sample(rows, k=min(500, len(rows)))
        patients[str(index)] = [pk for pk, _, _ in sample]
        searches[str(index)] = [mrn for _, mrn, _ in sample[:20]] + [family[:4].lower() for _, _, family in sample[:20]]
        searches[str(index)].append(NAME_FRAGMENT)
        slots[str(index)] = [
            {
                "patient": str(slot.patient_id),
                "day": slot.day.isoformat(),
                "dose": format(slot.dose.normalize(), "f"),
                "formulation": slot.formulation,
            }
            for slot in save_slots(index, per_clinic_saves)
        ]
    # As for the in-process saves: the patients the saves go to get the stored course positions the app's own
    # writes keep (the generator writes none), or each first save would re-derive a whole history.
    derive_positions({int(slot["patient"]) for clinic_slots in slots.values() for slot in clinic_slots})
    return {"accounts": accounts, "patients": patients, "searches": searches, "save_slots": slots}


def _locust(base: str, work: Path, fixture: dict[str, Any], run: LocustRun, *, sign_in_timeout: int) -> dict[str, Any]:
    """One headless locust run against ``base``; locust's summary of the measured window."""
    config = {**fixture, **asdict(run), "sign_in_timeout": sign_in_timeout}
    (work / "config.json").write_text(json.dumps(config))
    result = work / "result.json"
    result.unlink(missing_ok=True)
    hard_limit = sign_in_timeout + run.seconds + 30
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(Path(__file__).with_name("locustfile.py")),
        *run.classes,
        "--headless",
        "--host",
        base,
        "--users",
        str(run.users),
        "--spawn-rate",
        str(run.users),
        "--run-time",
        f"{hard_limit}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "BENCH_LOAD_CONFIG": str(work / "config.json"), "BENCH_LOAD_RESULT": str(result)}
    with (work / "locust.log").open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and locustfile
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=output, start_new_session=True
        )
        try:
            process.wait(timeout=hard_limit + 60)
        finally:
            stop_process(process)
    if not result.exists():
        tail = (work / "locust.log").read_text(errors="replace")[-3000:]
        server = (work / "gunicorn.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the load test produced no result.\nlocust:\n{tail}\ngunicorn:\n{server}")
    summary: dict[str, Any] = json.loads(result.read_text())
    return summary


@dataclass(frozen=True)
class LocustRun:
    users: int
    seconds: int
    think_min: float
    think_max: float
    classes: tuple[str, ...]


SATURATION_MIXES = {"worklist and patient pages": ("WorklistReader",), "floor page": ("FloorReader",)}


def saturation_point(steps: list[dict[str, Any]], limit_ms: float = SATURATION_P95_MS) -> dict[str, Any]:
    """Requests per second where p95 crosses ``limit_ms``, between the last step under it and the first over.

    Linear between the two steps; ``bound`` says when the limit was crossed at the first step ("at most")
    or never ("more than").
    """
    below = [s for s in steps if s["p95_ms"] <= limit_ms]
    above = [s for s in steps if s["p95_ms"] > limit_ms]
    if not above:
        return {"rps": max((s["rps"] for s in steps), default=0.0), "bound": "more than"}
    first_above = above[0]
    if not below:
        return {"rps": first_above["rps"], "bound": "at most"}
    last_below = below[-1]
    share = (limit_ms - last_below["p95_ms"]) / max(first_above["p95_ms"] - last_below["p95_ms"], 1)
    rps = last_below["rps"] + share * (first_above["rps"] - last_below["rps"])
    return {"rps": round(rps, 1), "bound": ""}


def run_load(env: dict[str, str], config: LoadConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Serve the app with gunicorn; run the 50-user test, then step up users without think time, for two mixes.

    The steps alternate between the mixes at each user count, so both see the same machine; a mix stops
    stepping once its p95 has crossed the limit.
    """
    fixture = load_fixture(config.users)
    with tempfile.TemporaryDirectory(prefix="ldn-bench-load-") as folder:
        work = Path(folder)
        with gunicorn(env, config.workers, work / "gunicorn.log") as base:
            log(f"  gunicorn with {config.workers} workers at {base}; {config.users} users for {config.seconds} s")
            clinic_mix = LocustRun(
                config.users, config.seconds, config.think_min, config.think_max, ("Prescriber", "Staff")
            )
            summary = _locust(base, work, fixture, clinic_mix, sign_in_timeout=config.sign_in_timeout)
            log(
                f"    {summary['requests']:,} requests, {summary['rps']}/s, p95 {summary['p95_ms']} ms, "
                f"{summary['failures']} errors"
            )
            steps: dict[str, list[dict[str, Any]]] = {mix: [] for mix in SATURATION_MIXES}
            for users in config.steps:
                for mix, classes in SATURATION_MIXES.items():
                    done = steps[mix] and steps[mix][-1]["p95_ms"] > SATURATION_P95_MS
                    if done:
                        continue
                    run = LocustRun(users, config.step_seconds, 0, 0, classes)
                    step = _locust(base, work, fixture, run, sign_in_timeout=config.sign_in_timeout)
                    row = {k: step[k] for k in ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms")}
                    steps[mix].append({"users": users, **row})
                    log(f"    {mix}, {users} users: {row['rps']}/s, p95 {row['p95_ms']} ms, {row['failures']} errors")
    summary.update(
        users=config.users,
        workers=config.workers,
        think_time=f"{config.think_min:g}–{config.think_max:g} s",
        saturation={mix: {"steps": mix_steps, **saturation_point(mix_steps)} for mix, mix_steps in steps.items()},
        step_seconds=config.step_seconds,
    )
    return summary
