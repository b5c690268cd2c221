"""The clinic outcomes page and its research export: denominators, filters, roles, the clinic boundary."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import AccessLog, Diagnosis
from titration.models import CheckIn, DoseEntry, PlanStateChange, SideEffect, StopReason, TitrationPlan

pytestmark = pytest.mark.django_db

URL = reverse("titration:outcomes")
TODAY = datetime.date(2026, 3, 9)  # the ``clock`` fixture's day


def ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def history(patient, by, *, started: int = 120, relief: bool = True, stop: str | None = None, preset="low_slow"):
    """A low-and-slow course from ``started`` days ago, every day taken; pain 8 at baseline, then 4 (relief)
    or 8 around week 12; ``stop``: stopped yesterday with that coded reason."""
    plan = TitrationPlan.objects.create(
        patient=patient,
        preset=preset,
        start_date=ago(started),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        created_by=by,
    )
    DoseEntry.objects.bulk_create(
        DoseEntry(
            patient=patient,
            plan=plan,
            taken_on=ago(started - n),
            dose_mg=min(Decimal("0.5") * (n // 7 + 1), Decimal("4.5")),
            recorded_by=by,
        )
        for n in range(started)
    )
    for n, pain in ((0, 8), (63, 6), (77, 4 if relief else 8), (84, 4 if relief else 8)):
        if n < started:
            checkin = CheckIn.objects.create(
                patient=patient, checked_on=ago(started - n), pain_score=pain, recorded_by=by
            )
            if n == 0:
                SideEffect.objects.create(checkin=checkin, kind="nausea", severity="mild")
    if stop:
        PlanStateChange.objects.create(
            patient=patient,
            plan=plan,
            state="stopped",
            effective_on=ago(1),
            reason="as agreed",
            stop_reason=stop,
            changed_by=by,
        )
    return plan


@pytest.fixture
def six(clock, make_patient, prescriber):
    """Six patients started 120 days ago: three responders, three not (one of them stopped for side effects)."""
    patients = [make_patient(given_name=f"P{n}") for n in range(6)]
    for n, patient in enumerate(patients):
        history(patient, prescriber, relief=n < 3, stop=StopReason.SIDE_EFFECTS if n == 5 else None)
    return patients


def test_the_page_gives_each_share_with_its_denominator_and_interval(six, prescriber_client):
    page = prescriber_client.get(URL).content.decode()
    assert "6 of 6 patients (a first dose taken)" in page
    assert "3 of 6 (50%, 95% CI 19–81%)" in page  # responders at 12 weeks
    assert "6 of 6 (100%, 95% CI 61–100%)" in page  # still on treatment at 3 months: the stop came on day 119
    assert "56 days, of the 6 of 6 patients who reached it" in page


def test_staff_see_the_page_and_not_the_research_export(six, staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert "Research export" not in response.content.decode()
    assert staff_client.get(reverse("titration:outcomes-export")).status_code == 403


def test_another_clinic_s_patients_are_never_counted(six, clock, outsider, outsider_client, other_clinic):
    from patients.models import Patient

    stranger = Patient.objects.create(
        clinic=other_clinic,
        mrn="X-1",
        given_name="Xu",
        family_name="Lin",
        date_of_birth=datetime.date(1970, 1, 1),
        prescriber=outsider,
    )
    history(stranger, outsider)
    assert "1 of 1 patient (a first dose taken)" in outsider_client.get(URL).content.decode()


def test_the_condition_filter_counts_only_its_patients(six, crohns, prescriber_client):
    Diagnosis.objects.create(patient=six[0], condition=crohns)
    page = prescriber_client.get(URL, {"condition": crohns.pk}).content.decode()
    assert "1 of 1 patient (a first dose taken)" in page
    assert "fewer than 5 patients" in page


def test_the_period_and_protocol_filters(six, prescriber_client, make_patient, prescriber):
    history(make_patient(given_name="Old"), prescriber, started=400, preset="")
    assert "7 of 7 patients" in prescriber_client.get(URL).content.decode()
    assert "6 of 6 patients" in prescriber_client.get(URL, {"period": "12m"}).content.decode()
    assert "7 of 7 patients" in prescriber_client.get(URL, {"period": "2025"}).content.decode()
    assert "1 of 1 patient " in prescriber_client.get(URL, {"period": "2025", "protocol": "custom"}).content.decode()
    assert "0 of 0 patients" in prescriber_client.get(URL, {"period": "12m", "protocol": "custom"}).content.decode()
    assert "6 of 6 patients" in prescriber_client.get(URL, {"protocol": "low_slow"}).content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"condition": "abc"},
        {"condition": "99999999999999999999"},
        {"condition": "-1"},
        {"period": "1800"},
        {"period": "2026-01-01"},
        {"protocol": "<script>"},
        {"condition": "\x00", "period": "\x00", "protocol": "\x00"},
    ],
)
def test_a_bad_filter_value_is_ignored_never_an_error(six, prescriber_client, query):
    response = prescriber_client.get(URL, query)
    assert response.status_code == 200
    assert "6 of 6 patients" in response.content.decode()


def test_a_group_of_4_is_suppressed_and_a_group_of_5_is_shown(clock, make_patient, prescriber, prescriber_client):
    patients = [make_patient(given_name=f"Q{n}") for n in range(5)]
    for patient in patients[:4]:
        history(patient, prescriber)
    page = prescriber_client.get(URL).content.decode()
    assert "fewer than 5 patients" in page and "95% CI" not in page
    history(patients[4], prescriber)
    page = prescriber_client.get(URL).content.decode()
    assert "5 of 5 (100%, 95% CI 57–100%)" in page


def test_the_reasons_for_stopping_show_small_counts_as_fewer_than_5(six, prescriber_client):
    page = prescriber_client.get(URL).content.decode()
    assert "<td>Side effects</td><td>&lt;5</td>" in page
    assert "<td>Cost</td><td>0</td>" in page


def test_the_page_s_queries_do_not_grow_with_the_number_of_patients(clock, make_patient, prescriber, prescriber_client):
    for n in range(2):
        history(make_patient(given_name=f"A{n}"), prescriber)
    with CaptureQueriesContext(connection) as two:
        prescriber_client.get(URL)
    for n in range(8):
        history(make_patient(given_name=f"B{n}"), prescriber)
    with CaptureQueriesContext(connection) as ten:
        prescriber_client.get(URL)
    # Each view rebuilt the figures of the new patients (2, then 8): a fixed number of queries more.
    assert len(ten) == len(two) <= 30
    with CaptureQueriesContext(connection) as kept:
        prescriber_client.get(URL)
    assert len(kept) <= 15  # nothing changed: the kept figures are read as they are


def test_the_research_export_is_de_identified_and_logged(six, prescriber, prescriber_client):
    response = prescriber_client.get(reverse("titration:outcomes-export"))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert len(body) == 6
    assert "study_id" in header and "age_band" in header
    for patient in six:
        for secret in (patient.mrn, patient.family_name, patient.given_name, patient.date_of_birth.isoformat()):
            assert secret not in text
    # Day numbers, never dates: no cell but the random study id holds a year (the id is hex, and may).
    study_id = header.index("study_id")
    cells = [cell for row in body for n, cell in enumerate(row) if n != study_id]
    assert not [cell for cell in cells if "2026" in cell or "2025" in cell]
    assert {row[header.index("age_band")] for row in body} == {"40–49"}
    stopped = [row for row in body if row[header.index("stopped")] == "1"]
    assert [row[header.index("stop_reason")] for row in stopped] == ["side_effects"]
    log = AccessLog.objects.get(action=AccessLog.Action.EXPORT, user=prescriber)
    assert log.patient is None and log.result_count == 6


def test_the_study_ids_are_new_with_each_export(six, prescriber_client):
    def ids():
        text = b"".join(prescriber_client.get(reverse("titration:outcomes-export")).streaming_content).decode()
        return {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}

    assert not ids() & ids()


def test_a_stop_needs_a_coded_reason(clock, patient, prescriber, prescriber_client):
    from tests.titration.conftest import plan_for

    plan_for(patient, prescriber, ago(10))
    url = reverse("titration:plan-state", args=[patient.pk])
    prescriber_client.post(url, {"state": "stopped", "reason": "stopping now"})
    assert not PlanStateChange.objects.exists()
    prescriber_client.post(url, {"state": "stopped", "reason": "stopping now", "stop_reason": "nonsense"})
    assert not PlanStateChange.objects.exists()
    prescriber_client.post(url, {"state": "stopped", "reason": "Nausea every night", "stop_reason": "side_effects"})
    assert PlanStateChange.objects.get().stop_reason == StopReason.SIDE_EFFECTS


def test_the_database_refuses_a_stop_without_a_coded_reason_and_a_reason_on_another_state(clock, patient, prescriber):
    plan = history(patient, prescriber, started=5)
    fields = {"patient": patient, "plan": plan, "effective_on": TODAY, "reason": "why", "changed_by": prescriber}
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanStateChange.objects.create(state="stopped", stop_reason="", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanStateChange.objects.create(state="paused", stop_reason="cost", **fields)
    PlanStateChange.objects.create(state="stopped", stop_reason="cost", **fields)


def test_the_check_in_form_records_the_pgic(clock, patient, prescriber_client):
    url = reverse("titration:checkin-create", args=[patient.pk])
    assert "Very much improved" in prescriber_client.get(url).content.decode()
    base = {"checked_on": TODAY.isoformat(), "pain_score": "5"}
    assert prescriber_client.post(url, {**base, "pgic": "8"}).status_code == 200  # refused, the form again
    assert not CheckIn.objects.exists()
    prescriber_client.post(url, {**base, "pgic": "3"})
    assert CheckIn.objects.get().pgic == 3
    CheckIn.objects.all().delete()
    prescriber_client.post(url, base)
    assert CheckIn.objects.get().pgic is None


def test_the_database_refuses_a_pgic_outside_1_to_7(clock, patient, prescriber):
    with pytest.raises(IntegrityError):
        CheckIn.objects.create(patient=patient, checked_on=TODAY, pain_score=5, pgic=0, recorded_by=prescriber)


def test_a_responder_by_pgic_only_is_counted(clock, make_patient, prescriber, prescriber_client):
    for n in range(5):
        patient = make_patient(given_name=f"G{n}")
        history(patient, prescriber, relief=False)
        if n == 0:
            CheckIn.objects.filter(patient=patient).order_by("-checked_on").update(pgic=2)
    page = prescriber_client.get(URL).content.decode()
    assert "1 of 5 (20%, 95% CI 4–62%)" in page and "1 by PGIC only" in page
