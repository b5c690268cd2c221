"""In-process timings: each page through django.test.Client, with its SQL query count.

Server time only (middleware, view, queries, template), no network: the median and 95th percentile of
repeated requests by a signed-in prescriber of clinic 1, after a few warm-up requests.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from .generate import BENCH_PASSWORD, REFERENCE_5_YEARS, REFERENCE_30_DAYS, SAVE_POOL, bench_username

NAME_FRAGMENT = "son"


@dataclass
class PageResult:
    key: str
    page: str
    path: str
    median_ms: float
    p95_ms: float
    cpu_ms: float  # median CPU time of this process (not PostgreSQL's): less sensitive to other load
    queries: int
    requests: int
    target_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which ``pct``% of the samples fall)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _timed(request: Callable[[], Any], expected: int, label: str) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started, cpu_started = time.perf_counter(), time.process_time()
        response = request()
        if response.streaming:
            for _ in response.streaming_content:
                pass
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if response.status_code != expected:
        raise RuntimeError(f"{label}: expected HTTP {expected}, got {response.status_code}")
    return elapsed * 1000, cpu * 1000, len(captured)


def _run(
    key: str,
    page: str,
    path: str,
    request: Callable[[], Any],
    *,
    repeat: int,
    warmup: int,
    expected: int = 200,
    target_ms: float | None = None,
) -> PageResult:
    for _ in range(warmup):
        _timed(request, expected, page)
    samples = [_timed(request, expected, page) for _ in range(repeat)]
    times = [ms for ms, _, _ in samples]
    return PageResult(
        key=key,
        page=page,
        path=path,
        median_ms=round(statistics.median(times), 1),
        p95_ms=round(percentile(times, 95), 1),
        cpu_ms=round(statistics.median(cpu for _, cpu, _ in samples), 1),
        queries=max(q for _, _, q in samples),
        requests=repeat,
        target_ms=target_ms,
    )


@dataclass
class SaveSlot:
    patient_id: int
    day: datetime.date
    dose: Decimal
    formulation: str


def save_slots(clinic_index: int, count: int, *, deviate_every: int = 3) -> list[SaveSlot]:
    """Free days of the clinic's save-pool patients, oldest first, with the dose to record on each.

    Every ``deviate_every``-th dose differs from the plan's, so that some saves raise a flag.
    """
    from django.db.models import Max, Q
    from django.utils import timezone

    from patients.models import Patient
    from titration.models import TitrationPlan

    today = timezone.localdate()
    pool = (
        Patient.objects.filter(mrn__startswith=f"{SAVE_POOL}-{clinic_index:02d}-")
        .annotate(last=Max("dose_entries__taken_on", filter=Q(dose_entries__voided_at__isnull=True)))
        .order_by("pk")
    )
    plans = {p.patient_id: p for p in TitrationPlan.objects.filter(is_active=True, patient__in=pool)}
    cursors = {p.pk: p.last for p in pool if p.pk in plans and p.last is not None}
    slots: list[SaveSlot] = []
    while len(slots) < count and cursors:
        for patient_id in list(cursors):
            day = cursors[patient_id] + datetime.timedelta(days=1)
            if day > today:
                del cursors[patient_id]
                continue
            cursors[patient_id] = day
            plan = plans[patient_id]
            dose = plan.scheduled_dose_on(day) or plan.starting_dose_mg
            if deviate_every and len(slots) % deviate_every == deviate_every - 1:
                dose = dose - Decimal("0.5") if dose >= Decimal("1") else dose + Decimal("0.5")
            slots.append(SaveSlot(patient_id, day, dose, plan.formulation))
            if len(slots) == count:
                break
    return slots


def measure(*, repeat: int = 30, warmup: int = 3, log: Callable[[str], None] = print) -> list[PageResult]:
    """Every page of the benchmark, as a prescriber of clinic 1."""
    from django.test import Client

    from patients.models import Patient

    client = Client()
    response = client.post(
        "/accounts/login/", {"username": bench_username("prescriber", 1), "password": BENCH_PASSWORD, "next": "/"}
    )
    if response.status_code != 302:
        raise RuntimeError(f"Signing in failed (HTTP {response.status_code}): is this a benchmark database?")

    def patient_id(mrn: str) -> int:
        return Patient.objects.get(clinic__name="Bench Clinic 01", mrn=mrn).pk

    month = patient_id(f"{REFERENCE_30_DAYS}-1")
    lustrum = patient_id(f"{REFERENCE_5_YEARS}-1")
    regular = Patient.objects.filter(clinic__name="Bench Clinic 01", mrn__startswith="M").order_by("pk").first()
    mrn = regular.mrn if regular else f"{REFERENCE_5_YEARS}-1"

    def get(path: str) -> Callable[[], Any]:
        return lambda: client.get(path)

    pages: list[tuple[str, str, str, float | None]] = [
        ("dashboard", "Dashboard", "/", 100),
        ("patient_list", "Patient list", "/patients/", None),
        ("search_mrn", "Search by MRN", f"/patients/?q={mrn}", 50),
        ("search_name", "Search by name fragment", f"/patients/?q={NAME_FRAGMENT}", 50),
        ("patient_30d", "Patient page, 30 days of history", f"/patients/{month}/", None),
        ("patient_5y", "Patient page, 5 years of history", f"/patients/{lustrum}/", 50),
        ("patient_5y_all", "Patient page, 5 years, chart of all records", f"/patients/{lustrum}/?period=all", None),
        ("flag_queue", "Flag queue", "/flags/", 100),
        ("export_5y", "CSV export, 5 years", f"/patients/{lustrum}/export.csv", None),
    ]
    results = []
    for key, page, path, target in pages:
        log(f"  {page}: {path}")
        results.append(_run(key, page, path, get(path), repeat=repeat, warmup=warmup, target_ms=target))

    slots = iter(save_slots(1, repeat + warmup))

    def save() -> Any:
        slot = next(slots)
        return client.post(
            f"/patients/{slot.patient_id}/doses/new/",
            {
                "taken_on": slot.day.isoformat(),
                "dose_mg": format(slot.dose.normalize(), "f"),
                "formulation": slot.formulation,
                "status": "taken",
            },
        )

    log("  Saving a dose: POST /patients/<id>/doses/new/")
    results.append(
        _run(
            "dose_save",
            "Save a dose (with its flags)",
            "POST /patients/<id>/doses/new/",
            save,
            repeat=repeat,
            warmup=warmup,
            expected=302,
            target_ms=30,
        )
    )
    return results
