"""Weekly check-ins with pain scores that fall for responders, side effects (more in the first two months),
and flags, acknowledged once they are old: each with its audit rows."""

from __future__ import annotations

import datetime
import random
from typing import TYPE_CHECKING

from titration import rules

from .batch import Batch
from .tables import tables

if TYPE_CHECKING:
    from .patients import PatientSpec

P_CHECKIN = 0.85
OPEN_FLAG_DAYS = 30
P_OLD_FLAG_OPEN = 0.03
EFFECT_KINDS = (
    ("vivid_dreams", "Vivid dreams", 40),
    ("insomnia", "Insomnia", 25),
    ("headache", "Headache", 15),
    ("nausea", "Nausea / GI discomfort", 10),
    ("anxiety", "Anxiety or irritability", 5),
    ("fatigue", "Fatigue", 5),
)


def write_flag(
    batch: Batch,
    rng: random.Random,
    patient: PatientSpec,
    day: int,
    created_at: str,
    finding: tuple[str, int, str],
    *,
    dose_entry: int | None = None,
    checkin: int | None = None,
    voided: bool = False,
) -> None:
    """A flag (kind, severity, message) raised at ``created_at``; closed if old, or with its voided entry."""
    table = tables().flag
    flag_id = batch.ids.take(table.record.name)
    opened = (flag_id, patient.id, dose_entry, checkin, *finding, created_at)
    acknowledged = voided or (batch.today - day > OPEN_FLAG_DAYS and rng.random() > P_OLD_FLAG_OPEN)
    if not acknowledged:
        batch.add(table, (*opened, None, None, "", ""), created_at, None)
        return
    by = patient.clinic.prescriber_id
    closed_at = f"{batch.iso(min(day + rng.randint(1, 3), batch.today))} 10:30:00+00"
    # A closed flag says how: acknowledged by a clinician, or closed with its voided entry.
    note, how = ("Entry voided.", "entry_voided") if voided else ("Reviewed at the clinic.", "acknowledged")
    closed = (*opened, closed_at, by, note, how)
    batch.add_changed(table, (*opened, None, None, "", ""), closed, (created_at, None), (closed_at, by))


def write_checkins(batch: Batch, rng: random.Random, patient: PatientSpec) -> None:
    """A check-in a week (every week for a reference patient), by the clinic's staff member."""
    table = tables().checkin
    baseline = rng.randint(5, 9)
    relief = rng.choices((0.55, 0.35, 0.1), weights=(30, 30, 40))[0]
    sleep = rng.randint(3, 6)
    by = patient.clinic.staff_id
    for day in range(patient.start, patient.end + 1, 7):
        if day != patient.start and patient.regular and rng.random() >= P_CHECKIN:
            continue
        progress = min(1.0, (day - patient.start) / 90)
        pain = max(0, min(10, round(baseline * (1 - relief * progress) + rng.uniform(-1, 1))))
        sleep_quality = min(10, sleep + round(3 * progress * relief) + rng.randint(0, 1))
        checkin_id = batch.ids.take(table.record.name)
        recorded_at = f"{batch.iso(day)} 11:{rng.randint(0, 59):02d}:00+00"
        values = (checkin_id, patient.id, batch.iso(day), pain, sleep_quality, None, by, recorded_at, None, None, "")
        batch.add(table, values, recorded_at, by)
        early = day - patient.start < 60
        if patient.regular and rng.random() < (0.2 if early else 0.04):
            _side_effect(batch, rng, patient, day, checkin_id, recorded_at)


def _side_effect(batch: Batch, rng: random.Random, patient: PatientSpec, day: int, checkin_id: int, at: str) -> None:
    table = tables().side_effect
    kind, label, _ = rng.choices(EFFECT_KINDS, weights=[w for _, _, w in EFFECT_KINDS])[0]
    severity = rng.choices(("mild", "moderate", "severe"), weights=(75, 22, 3))[0]
    batch.add(table, (batch.ids.take(table.record.name), checkin_id, kind, severity), at, patient.clinic.staff_id)
    if severity == "severe":
        message = f"Severe {label.lower()} reported at the check-in of {datetime.date.fromordinal(day):%-d %b %Y}."
        finding = (rules.FlagKind.SEVERE_SIDE_EFFECT.value, int(rules.Severity.WARNING), message)
        write_flag(batch, rng, patient, day, at, finding, checkin=checkin_id)
