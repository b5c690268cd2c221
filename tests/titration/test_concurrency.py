"""Two prescribers save a dose for the same patient and day at the same moment: exactly one lands."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from titration import services
from titration.models import DoseEntry

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions (PostgreSQL)"),
]


def test_racing_submissions_store_one_entry_and_the_loser_gets_a_clear_message(patient, prescriber, today, monkeypatch):
    both_started = threading.Barrier(2, timeout=10)
    real_lock = services._lock

    def wait_then_lock(patient):
        both_started.wait()  # both requests reach the patient's lock at the same moment
        return real_lock(patient)

    # The second request waits for the first to commit, then its one assessment sees the day taken.
    monkeypatch.setattr(services, "_lock", wait_then_lock)
    outcomes: list[str] = []

    def submit(dose: str) -> None:
        try:
            services.dose_record(patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal(dose))
            outcomes.append("stored")
        except services.RecordError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(dose,)) for dose in ("1", "1.5")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == sorted(["stored", services.DUPLICATE_DAY])
    assert DoseEntry.objects.filter(patient=patient, taken_on=today).count() == 1
