"""In-process timings: each page through django.test.Client, with its SQL query count.

Server time only (middleware, view, queries, template), no network. The pages are timed side by side: each
round requests every page once, in turn, so that whatever else the machine is doing weighs on all of them
alike, and the ratios between pages (to the floor page, 5 years to 30 days) stay meaningful on a busy
machine. The CSV export's peak memory is measured apart, with tracemalloc (which slows what it traces).
"""

from __future__ import annotations

import datetime
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from .generate import (
    BENCH_PASSWORD,
    REFERENCE_5_YEARS,
    REFERENCE_30_DAYS,
    SAVE_POOL,
    bench_username,
    lead_clinic_counts,
)

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
    peak_kib: float | None = None  # tracemalloc's peak during one request, for the exports

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which ``pct``% of the samples fall)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Page:
    key: str
    label: str
    path: str
    request: Callable[[], Any]
    expected: int = 200
    every: int = 1  # timed in every n-th round only: a page that takes seconds would hold up the others
    samples: list[tuple[float, float, int]] = field(default_factory=list)

    def call(self) -> tuple[float, float, int]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = self.request()
            if response.streaming:
                for _ in response.streaming_content:
                    pass
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if response.status_code != self.expected:
            raise RuntimeError(f"{self.label}: expected HTTP {self.expected}, got {response.status_code}")
        return elapsed * 1000, cpu * 1000, len(captured)

    def peak_kib(self) -> float:
        """Peak Python memory allocated during one request, streamed to the end."""
        tracemalloc.start()
        try:
            self.call()
            return round(tracemalloc.get_traced_memory()[1] / 1024, 1)
        finally:
            tracemalloc.stop()

    def result(self) -> PageResult:
        times = [ms for ms, _, _ in self.samples]
        return PageResult(
            key=self.key,
            page=self.label,
            path=self.path,
            median_ms=round(statistics.median(times), 1),
            p95_ms=round(percentile(times, 95), 1),
            cpu_ms=round(statistics.median(cpu for _, cpu, _ in self.samples), 1),
            # The typical request's: the session's renewal (one UPDATE a minute) is not the page's.
            queries=statistics.median_low(q for _, _, q in self.samples),
            requests=len(self.samples),
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
    cursors = {pk: last for pk, last in pool.values_list("pk", "last") if pk in plans and last is not None}
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


def derive_positions(patient_ids: set[int]) -> None:
    """Store what the services keep with each dose (its expected dose and the course after it) for the
    patients the timed saves go to, as the app's own writes would have: the generator writes the doses
    without them, and a save would otherwise store them for the patient's whole history, once."""
    from django.db.models import Q

    from patients.models import Patient
    from titration import services
    from titration.models import DoseEntry

    # Only patients with an entry that has no position, or one of other rules (a derived patient costs nothing).
    underived = (
        DoseEntry.objects.live()
        .filter(patient__in=patient_ids)
        .filter(Q(course_after__isnull=True) | ~Q(course_after__has_key="version"))
        .values("patient")
    )
    for patient in Patient.objects.filter(pk__in=underived).select_related("clinic", "prescriber"):
        services.flags_reconcile(patient=patient, by=patient.prescriber, cause="the benchmark's data was loaded")


def signed_in(username: str) -> Any:
    from django.test import Client

    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": BENCH_PASSWORD, "next": "/"})
    if response.status_code != 302:
        raise RuntimeError(f"Signing in as {username} failed (HTTP {response.status_code}): a benchmark database?")
    return client


def pages(repeat: int, warmup: int) -> list[Page]:
    """Every page of the benchmark: as the prescriber of clinic 1, and as the leads of two and of all clinics."""
    from patients.models import Clinic, Patient

    prescriber = signed_in(bench_username("prescriber", 1))

    def patient_id(mrn: str) -> int:
        return Patient.objects.get(clinic__name="Bench Clinic 01", mrn=mrn).pk

    month = patient_id(f"{REFERENCE_30_DAYS}-1")
    lustrum = patient_id(f"{REFERENCE_5_YEARS}-1")
    derive_positions({month, lustrum})  # the patient page reads each day's stored expected dose
    regular = Patient.objects.filter(clinic__name="Bench Clinic 01", mrn__startswith="M").order_by("pk").first()
    mrn = regular.mrn if regular else f"{REFERENCE_5_YEARS}-1"

    def get(key: str, label: str, path: str, client: Any = prescriber, every: int = 1) -> Page:
        return Page(key, label, path, lambda: client.get(path), every=every)

    found = [
        get("floor", "Floor: two-factor settings", "/accounts/two-factor/"),
        get("patient_30d", "Patient page, 30 days of history", f"/patients/{month}/"),
        get("patient_5y", "Patient page, 5 years, 90-day chart", f"/patients/{lustrum}/"),
        get("patient_5y_all", "Patient page, 5 years, chart of all records", f"/patients/{lustrum}/?period=all"),
        get("patient_list", "Patient list", "/patients/"),
        get("search_mrn", "Search by MRN", f"/patients/?q={mrn}"),
        get("search_name", "Search by name fragment", f"/patients/?q={NAME_FRAGMENT}"),
    ]
    for count in lead_clinic_counts(Clinic.objects.filter(name__startswith="Bench Clinic").count()):
        lead = signed_in(bench_username("lead", count))
        found += [
            get(f"worklist_{count}", f"Worklist, {count} clinics", "/worklist/", lead),
            get(f"dashboard_{count}", f"Dashboard, {count} clinics", "/", lead),
            get(f"flags_{count}", f"Flag queue, {count} clinics", "/flags/", lead),
        ]
    found += [
        get("export_30d", "CSV export, 30 days", f"/patients/{month}/export.csv"),
        get("export_5y", "CSV export, 5 years", f"/patients/{lustrum}/export.csv"),
        get("fhir_30d", "FHIR $everything, 30 days", f"/patients/{month}/export.fhir.json"),
        get("fhir_5y", "FHIR $everything, 5 years", f"/patients/{lustrum}/export.fhir.json"),
        get("history_5y", "Audit trail, 5 years", f"/patients/{lustrum}/history/"),
        get("outcomes", "Outcomes, clinic 1", "/outcomes/", every=SLOW_PAGE_EVERY),
    ]
    planned = save_slots(1, repeat + warmup)
    derive_positions({slot.patient_id for slot in planned})
    slots = iter(planned)
    # A session of its own: each save leaves a message in its session, which the next page would read and
    # delete (one session write more, charged to the page after the save).
    saver = signed_in(bench_username("prescriber", 1))

    def save() -> Any:
        slot = next(slots)
        form = {
            "taken_on": slot.day.isoformat(),
            "dose_mg": format(slot.dose.normalize(), "f"),
            "formulation": slot.formulation,
            "status": "taken",
        }
        return saver.post(f"/patients/{slot.patient_id}/doses/new/", form)

    found.append(Page("dose_save", "Save a dose (with its flags)", "POST /patients/<id>/doses/new/", save, 302))
    return found


MEMORY_PAGES = ("export_30d", "export_5y")
SLOW_PAGE_EVERY = 5


def measure(*, repeat: int = 30, warmup: int = 3, log: Callable[[str], None] = print) -> list[PageResult]:
    """Every page, ``warmup`` rounds untimed and then ``repeat`` rounds of one request per page in turn.

    A slow page (``every`` > 1) is warmed up once and timed in every ``every``-th round only.
    """
    found = pages(repeat, warmup)
    import ldn_tracker.wsgi  # noqa: F401  # the app as the server loads it: what loading made is frozen out of the GC

    for page in found:
        log(f"  {page.label}: {page.path}" + (f" (every {page.every}th round)" if page.every > 1 else ""))
    for round_ in range(warmup + repeat):
        for page in found:
            if round_ < warmup:
                if round_ == 0 or page.every == 1:
                    page.call()
            elif (round_ - warmup) % page.every == 0:
                page.samples.append(page.call())
    results = [page.result() for page in found]
    for page, result in zip(found, results, strict=True):
        if page.key in MEMORY_PAGES:
            result.peak_kib = page.peak_kib()
    return results
