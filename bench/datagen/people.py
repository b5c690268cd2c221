"""Clinics and their people: a prescriber and a staff member per clinic, and two prescribers who lead several
clinics (two, and all of them), to compare the clinic-wide pages at two and at ten clinics."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import psycopg

from .batch import Batch
from .tables import tables

# Bench-only accounts on a throw-away database; never used anywhere else.
BENCH_PASSWORD = "bench-only-password-2026"  # noqa: S105


@dataclass
class Clinic:
    id: int
    prescriber_id: int
    staff_id: int


def bench_username(role: str, clinic_index: int) -> str:
    return f"bench.{role}.{clinic_index:02d}"


def lead_clinic_counts(clinics: int) -> list[int]:
    """How many clinics each lead prescriber belongs to: two and all (``bench.lead.02``, ``bench.lead.10``)."""
    return sorted({min(2, clinics), clinics})


def write_people(
    conn: psycopg.Connection[Any], batch: Batch, clinic_count: int, joined: datetime.datetime
) -> list[Clinic]:
    """Clinics, users, memberships and groups (with their audit rows) into ``batch``; returns the clinics."""
    from django.contrib.auth.hashers import make_password

    from patients.models import DEFAULT_DAY_BOUNDARY, default_time_zone

    t = tables()
    groups = dict(conn.execute("SELECT name, id FROM auth_group").fetchall())
    password = make_password(BENCH_PASSWORD)
    clinics = [Clinic(id=n, prescriber_id=2 * n - 1, staff_id=2 * n) for n in range(1, clinic_count + 1)]

    def user(user_id: int, username: str, first: str, last: str, group: str, clinic_ids: list[int]) -> None:
        batch.add(t.user, (user_id, password, username, first, last, True, joined), joined, None)
        line = t.user_groups.line(batch.ids.take(t.user_groups.name), user_id, groups[group])
        batch.lines[t.user_groups.name].append(line)
        for clinic_id in clinic_ids:
            membership = (batch.ids.take(t.membership.record.name), user_id, clinic_id, joined)
            batch.add(t.membership, membership, joined, None)

    for clinic in clinics:
        name = f"Bench Clinic {clinic.id:02d}"
        batch.add(t.clinic, (clinic.id, name, joined, default_time_zone(), DEFAULT_DAY_BOUNDARY), joined, None)
        label = f"Clinic {clinic.id:02d}"
        user(
            clinic.prescriber_id,
            bench_username("prescriber", clinic.id),
            "Prescriber",
            label,
            "Prescribers",
            [clinic.id],
        )
        user(clinic.staff_id, bench_username("staff", clinic.id), "Staff", label, "Clinic staff", [clinic.id])
    for offset, count in enumerate(lead_clinic_counts(clinic_count), start=1):
        user_id = 2 * clinic_count + offset
        user(
            user_id, bench_username("lead", count), "Lead", f"{count} clinics", "Prescribers", list(range(1, count + 1))
        )
    return clinics
