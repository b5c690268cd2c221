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
