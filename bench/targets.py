"""The targets of the performance work, checked against one run's results, as ratios within that run.

Each check gives what was measured and whether the target is met (None: reported, no target).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FLOOR_QUERIES = 4
# The floor page's own queries, after the request's session and user: its authenticator and its count of
# recovery codes. A minute's session renewal (one UPDATE) can add one more.
FLOOR_VIEW_QUERIES = 2
PAGE_QUERIES = 12
PATIENT_TO_FLOOR = 2.5
FIVE_YEARS_TO_30_DAYS = 1.2
ALL_TO_90_DAYS = 1.5
LIST_TO_FLOOR = 3.0
SAVE_TO_FLOOR = 2.0
CSV_MS = 150
CSV_MEMORY_GROWTH = 2.0  # flat: the 5-year export's peak at most twice the 30-day export's
FHIR_TO_CSV = 3.0
# Constant: one count for every resource table and one read of each table with records (17), the patient,
# its plan states, the access log and the request's own: the bound tests/fhir/test_queries.py holds a 30-day
# and a 5-year record to. A patient without records of some type needs fewer (the 30-day reference patient).
FHIR_MAX_QUERIES = 26
LOAD_P95_MS = 250


@dataclass(frozen=True)
class Check:
    target: str
    measured: str
    met: bool | None


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def page_checks(pages: list[dict[str, Any]]) -> Iterator[Check]:
    by = {row["key"]: row for row in pages}
    if "floor" not in by:
        return
    floor = by["floor"]
    before_view = floor["queries"] - FLOOR_VIEW_QUERIES
    yield Check(
        f"Floor: ≤ {FLOOR_QUERIES} queries before the view (BEGIN and COMMIT included)",
        f"{before_view} ({floor['queries']} for the two-factor page, {FLOOR_VIEW_QUERIES} of them its own)",
        before_view <= FLOOR_QUERIES,
    )
    patient = [by[k] for k in ("patient_30d", "patient_5y", "patient_5y_all") if k in by]
    if patient:
        most = max(row["queries"] for row in patient)
        yield Check(
            f"Patient page: ≤ {PAGE_QUERIES} queries", f"{most} queries (most of 3 pages)", most <= PAGE_QUERIES
        )
        slowest = max(patient[:2], key=lambda row: row["median_ms"])
        ratio = _ratio(slowest["median_ms"], floor["median_ms"])
        yield Check(
            f"Patient page: median ≤ {PATIENT_TO_FLOOR:g}x the floor's",
            f"{ratio:.2f}x ({slowest['median_ms']:.0f} / {floor['median_ms']:.0f} ms, {slowest['page']})",
            ratio <= PATIENT_TO_FLOOR,
        )
    if "patient_5y" in by and "patient_30d" in by:
        ratio = _ratio(by["patient_5y"]["median_ms"], by["patient_30d"]["median_ms"])
        yield Check(f"Patient page: 5 years ≤ {FIVE_YEARS_TO_30_DAYS:g}x 30 days", f"{ratio:.2f}x", ratio <= 1.2)
    if "patient_5y_all" in by and "patient_5y" in by:
        ratio = _ratio(by["patient_5y_all"]["median_ms"], by["patient_5y"]["median_ms"])
        yield Check(f'Patient page: "all" chart ≤ {ALL_TO_90_DAYS:g}x the 90-day chart', f"{ratio:.2f}x", ratio <= 1.5)
    for name, prefix in (("Worklist", "worklist_"), ("Dashboard", "dashboard_"), ("Flag queue", "flags_")):
        rows = sorted(
            (row for key, row in by.items() if key.startswith(prefix)), key=lambda r: int(r["key"][len(prefix) :])
        )
        if not rows:
            continue
        counts = " and ".join(f"{row['queries']}" for row in rows)
        clinics = " and ".join(row["key"][len(prefix) :] for row in rows)
        same = len({row["queries"] for row in rows}) == 1
        yield Check(
            f"{name}: ≤ {PAGE_QUERIES} queries, the same at {clinics} clinics",
            f"{counts} queries",
            same and all(row["queries"] <= PAGE_QUERIES for row in rows),
        )
        ratios = [_ratio(row["median_ms"], floor["median_ms"]) for row in rows]
        yield Check(
            f"{name}: ≤ {LIST_TO_FLOOR:g}x the floor",
            " and ".join(f"{r:.2f}x" for r in ratios) + f" at {clinics} clinics",
            max(ratios) <= LIST_TO_FLOOR,
        )
    if "dose_save" in by:
        save = by["dose_save"]
        ratio = _ratio(save["median_ms"], floor["median_ms"])
        yield Check(
            f"Dose save: ≤ {PAGE_QUERIES} queries, ≤ {SAVE_TO_FLOOR:g}x the floor",
            f"{save['queries']} queries, {ratio:.2f}x",
            save["queries"] <= PAGE_QUERIES and ratio <= SAVE_TO_FLOOR,
        )
    if "export_5y" in by:
        csv = by["export_5y"]
        yield Check(f"CSV export of 5 years: ≤ {CSV_MS} ms", f"{csv['median_ms']:.0f} ms", csv["median_ms"] <= CSV_MS)
        small = by.get("export_30d")
        if small and small.get("peak_kib") and csv.get("peak_kib"):
            growth = _ratio(csv["peak_kib"], small["peak_kib"])
            yield Check(
                f"CSV export: flat memory (5-year peak ≤ {CSV_MEMORY_GROWTH:g}x the 30-day peak)",
                f"{csv['peak_kib']:,.0f} KiB against {small['peak_kib']:,.0f} KiB ({growth:.2f}x)",
                growth <= CSV_MEMORY_GROWTH,
            )
        if "fhir_5y" in by:
            fhir = by["fhir_5y"]
            ratio = _ratio(fhir["median_ms"], csv["median_ms"])
            short = by.get("fhir_30d", fhir)
            yield Check(
                f"FHIR $everything of 5 years: ≤ {FHIR_MAX_QUERIES} queries (constant), ≤ {FHIR_TO_CSV:g}x the CSV",
                f"{short['queries']} (30 days) and {fhir['queries']} (5 years) queries, {ratio:.2f}x",
                max(fhir["queries"], short["queries"]) <= FHIR_MAX_QUERIES and ratio <= FHIR_TO_CSV,
            )
    for key in ("history_5y", "outcomes"):
        if key in by:
            row = by[key]
            ratio = _ratio(row["median_ms"], floor["median_ms"])
            yield Check(f"{row['page']} (no target)", f"{row['queries']} queries, {ratio:.2f}x the floor", None)


def load_checks(load: dict[str, Any]) -> Iterator[Check]:
    met = load["failures"] == 0 and load["p95_ms"] <= LOAD_P95_MS
    yield Check(
        f"Load, {load['users']} users ({load['think_time']} think time): p95 ≤ {LOAD_P95_MS} ms, 0 errors",
        f"p95 {load['p95_ms']} ms, {load['failures']} errors",
        met,
    )
    saturation = load.get("saturation") or {}
    points = {mix: point for mix, point in saturation.items() if point.get("steps")}
    for mix, point in points.items():
        yield Check(f"Saturation (p95 crosses 500 ms), {mix} (no target)", _rps(point), None)
    if len(points) == 2:
        (mix_a, a), (mix_b, b) = points.items()
        yield Check(f"Saturation, {mix_b} to {mix_a} (no target)", f"{_ratio(b['rps'], a['rps']):.2f}x", None)


def _rps(point: dict[str, Any]) -> str:
    bound = f"{point['bound']} " if point.get("bound") else ""
    return f"{bound}{point['rps']:g} requests/s"


def checks(results: dict[str, Any]) -> list[Check]:
    found = list(page_checks(results.get("pages") or []))
    if results.get("load"):
        found += load_checks(results["load"])
    return found
