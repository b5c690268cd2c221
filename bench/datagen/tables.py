"""Which fields the generator fills, per model; the columns and everything else come from ``_meta``."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

from .batch import Audited
from .columns import Table

DOSE_FIELDS: tuple[str, ...] = ("id", "patient_id", "taken_on", "dose_mg", "formulation", "status", "plan_id")
DOSE_FIELDS += ("scheduled_dose_mg", "override_reason")
VOIDABLE = ("recorded_by_id", "recorded_at", "voided_at", "voided_by_id", "void_reason")


@dataclass(frozen=True)
class Tables:
    clinic: Audited
    user: Audited
    user_groups: Table
    membership: Audited
    patient: Audited
    diagnosis: Audited
    plan: Audited
    dose: Audited
    checkin: Audited
    side_effect: Audited
    flag: Audited

    def all(self) -> list[Table]:
        """Every table written, parents before children."""
        found: list[Table] = []
        for field in fields(self):
            value = getattr(self, field.name)
            found.extend(value.tables() if isinstance(value, Audited) else (value,))
        return found

    def history_tables(self) -> list[Table]:
        return [value.history for value in (getattr(self, f.name) for f in fields(self)) if isinstance(value, Audited)]


@functools.cache
def tables() -> Tables:
    """The tables, once Django is set up."""
    from django.contrib.auth.models import User

    from patients.models import Clinic, Diagnosis, Membership, Patient
    from titration.models import CheckIn, DoseEntry, Flag, SideEffect, TitrationPlan

    return Tables(
        clinic=Audited.of(Clinic, ("id", "name", "created_at", "time_zone", "day_boundary")),
        user=Audited.of(User, ("id", "password", "username", "first_name", "last_name", "is_active", "date_joined")),
        user_groups=Table.of(User.groups.through, ("id", "user_id", "group_id")),
        membership=Audited.of(Membership, ("id", "user_id", "clinic_id", "created_at")),
        patient=Audited.of(
            Patient,
            (
                "id",
                "clinic_id",
                "mrn",
                "given_name",
                "family_name",
                "date_of_birth",
                "sex",
                "prescriber_id",
                "is_active",
                "created_at",
                "updated_at",
            ),
        ),
        diagnosis=Audited.of(Diagnosis, ("id", "patient_id", "condition_id", "diagnosed_on")),
        plan=Audited.of(
            TitrationPlan,
            (
                "id",
                "patient_id",
                "preset",
                "start_date",
                "starting_dose_mg",
                "step_mg",
                "step_interval_days",
                "target_dose_mg",
                "formulation",
                "liquid_concentration_mg_per_ml",
                "is_active",
                "created_by_id",
                "created_at",
                "ended_at",
                "ended_by_id",
            ),
        ),
        # The order the dose writer formats its values in (see doses.py).
        dose=Audited.of(
            DoseEntry,
            (*DOSE_FIELDS, *VOIDABLE),
        ),
        checkin=Audited.of(
            CheckIn, ("id", "patient_id", "checked_on", "pain_score", "sleep_quality", "pgic", *VOIDABLE)
        ),
        side_effect=Audited.of(SideEffect, ("id", "checkin_id", "kind", "severity")),
        flag=Audited.of(
            Flag,
            (
                "id",
                "patient_id",
                "dose_entry_id",
                "checkin_id",
                "kind",
                "severity",
                "message",
                "created_at",
                "acknowledged_at",
                "acknowledged_by_id",
                "acknowledgement_note",
                "closed_as",
            ),
        ),
    )
