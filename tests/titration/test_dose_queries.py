"""A dose's cost does not grow with the record: the same queries at 30 and at 1,800 entries."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from titration import services
from titration.models import DoseEntry

from .test_patient_page_queries import fill_history

pytestmark = pytest.mark.django_db
NOT_MET_YET = pytest.mark.xfail(
    strict=True,
    reason="not met yet: 13 queries at 30 entries, 16 at 1,800 (re-assessing bulk-inserted flags); "
    "the POST is 24 and 27",
)
# On PostgreSQL a dose already costs the same at 30 and at 1,800 entries (13 queries, the POST 24); SQLite
# splits the update of the bulk-inserted flags into more statements at 1,800 entries.
SAME_COST_NOT_MET_ON_SQLITE = pytest.mark.xfail(
    connection.vendor == "sqlite",
    strict=True,
    reason="not met yet on SQLite: the POST is 24 queries at 30 entries and 27 at 1,800",
)

DOSE_PIPELINE_MAX_QUERIES = 12


def post_queries(client, patient, today) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/patients/{patient.pk}/doses/new/",
            {"taken_on": today.isoformat(), "dose_mg": "1.5", "formulation": "capsule", "status": "taken"},
        )
    assert response.status_code == 302
    return len(captured)


@NOT_MET_YET
@pytest.mark.parametrize("entries", [30, 1800])
def test_the_dose_pipeline_makes_at_most_12_queries(patient, prescriber, today, entries, django_assert_max_num_queries):
    fill_history(patient, prescriber, entries, today - datetime.timedelta(days=1))
    DoseEntry.objects.filter(taken_on__gte=today).delete()
    with django_assert_max_num_queries(DOSE_PIPELINE_MAX_QUERIES):
        services.dose_record(patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("1.5"))


@SAME_COST_NOT_MET_ON_SQLITE
def test_a_dose_post_costs_the_same_at_30_and_at_1800_entries(prescriber_client, make_patient, prescriber, today):
    small, large = make_patient(), make_patient()
    fill_history(small, prescriber, 30, today - datetime.timedelta(days=1))
    fill_history(large, prescriber, 1800, today - datetime.timedelta(days=1))
    DoseEntry.objects.filter(taken_on__gte=today).delete()
    assert post_queries(prescriber_client, small, today) == post_queries(prescriber_client, large, today)
