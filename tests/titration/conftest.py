import datetime
from decimal import Decimal

import pytest

from titration import services


@pytest.fixture
def low_slow_plan(patient, prescriber, today):
    """0.5 mg, +0.5 mg every 7 days, to 4.5 mg, started 20 days ago (scheduled today: 1.5 mg)."""
    return services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=20),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )


def dose_post(day: datetime.date, dose: str, **extra: str) -> dict[str, str]:
    return {"taken_on": day.isoformat(), "dose_mg": dose, "formulation": "capsule", "status": "taken", **extra}


# A Monday at noon in the clinic's time zone: "today" for the tests that pin the date.
MONDAY = datetime.datetime(2026, 3, 9, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def clock():
    """A clock that stands still on MONDAY until the test moves it with ``clock.shift(...)``."""
    import time_machine

    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


def plan_for(patient, by, start, starting="0.5", step="0.5", interval=7, target="4.5"):
    return services.plan_set(
        patient=patient,
        by=by,
        start_date=start,
        starting_dose_mg=Decimal(starting),
        step_mg=Decimal(step),
        step_interval_days=interval,
        target_dose_mg=Decimal(target),
    )


def take(patient, by, first, last, dose, status="taken"):
    """Record ``dose`` every day from ``first`` to ``last`` (dates, both included) through the service."""
    day = first
    while day <= last:
        services.dose_record(
            patient=patient,
            by=by,
            taken_on=day,
            dose_mg=None if status != "taken" else Decimal(dose),
            status=status,
        )
        day += datetime.timedelta(days=1)
