import datetime
import inspect
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from patients.models import AccessLog
from titration import services
from titration.course import Position, projected_schedule
from titration.rules import PlanState, PlanTerms
from titration.schedule import dose_ml, parse_weeks, patient_schedule

from .conftest import MONDAY, plan_for, take

pytestmark = pytest.mark.django_db
STOP_IS_CODED = "stop_reason" in inspect.signature(services.plan_state_set).parameters
TODAY = MONDAY.date()


def ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def page_of(client, patient, query=""):
    response = client.get(f"/patients/{patient.pk}/schedule/{query}")
    assert response.status_code == 200
    return response.content.decode()


def rows_of(html: str) -> list[str]:
    body = html.split('class="table schedule-table"', 1)[1].split("</table>", 1)[0]
    rows = [row.split(">", 1)[1] for row in body.split("<tr")[2:]]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def test_the_projection_steps_up_as_a_patient_who_keeps_to_the_plan_would():
    plan = PlanTerms(1, TODAY, Decimal("0.5"), Decimal("0.5"), 7, Decimal("1.5"))
    days = projected_schedule([plan], 14, Position(), TODAY, 21)
    assert [d.dose for d in days] == [Decimal("0.5")] * 7 + [Decimal("1")] * 7 + [Decimal("1.5")] * 7
    assert {d.state for d in days} == {PlanState.TITRATING}


def test_paused_and_stopped_days_expect_no_dose():
    states = ((TODAY + datetime.timedelta(days=2), PlanState.PAUSED),)
    plan = PlanTerms(1, TODAY, Decimal("1"), Decimal("0"), 7, Decimal("1"), states=states)
    days = projected_schedule([plan], 14, Position(), TODAY, 4)
    assert [(d.dose, d.state) for d in days] == [
        (Decimal("1"), PlanState.TITRATING),
        (Decimal("1"), PlanState.TITRATING),
        (None, PlanState.PAUSED),
        (None, PlanState.PAUSED),
    ]


@pytest.mark.parametrize(
    ("raw", "weeks"), [(None, 4), ("2", 2), ("12", 12), ("13", 12), ("0", 1), ("abc", 4), ("-3", 1)]
)
def test_weeks_are_parsed_and_kept_between_1_and_12(raw, weeks):
    assert parse_weeks(raw) == weeks


@pytest.mark.parametrize(
    ("mg", "concentration", "ml"), [("1.5", "1", "1.5"), ("4.5", "1", "4.5"), ("1", "0.5", "2"), ("0.5", "3", "0.17")]
)
def test_a_liquid_dose_in_ml_is_mg_divided_by_the_concentration(mg, concentration, ml):
    assert dose_ml(Decimal(mg), Decimal(concentration)) == Decimal(ml)


def test_the_schedule_continues_from_where_the_patient_stands(clock, patient, prescriber, staff_client):
    plan_for(patient, prescriber, ago(10))  # 0.5 mg, +0.5 mg every 7 days
    take(patient, prescriber, ago(10), ago(1), "0.5")  # stayed on 0.5 mg: the step to 1 mg is due today
    patient.clinic.phone = "020 7946 0000"
    patient.clinic.save()
    html = page_of(staff_client, patient)
    rows = rows_of(html)
    assert len(rows) == 28  # four weeks by default
    assert rows[0].startswith("Mon 9 Mar 2026 1 mg New dose At bedtime")
    assert rows[6].startswith("Sun 15 Mar 2026 1 mg At bedtime")
    assert rows[7].startswith("Mon 16 Mar 2026 1.5 mg New dose")
    assert not re.search(r"(?<![0-9])\.[0-9]+ m[gL]|[0-9]\.[0-9]*0 m[gL]", html)  # ISMP: 0.5 mg, 1 mg
    assert "Call <strong>North Pain Clinic</strong> on <strong>020 7946 0000</strong>" in html
    assert "once a day, at bedtime" in html
    assert "(4 weeks)" in html and "Tick when taken" in html


def test_one_week_is_one_week_and_a_bad_weeks_value_is_the_default(clock, patient, prescriber, staff_client):
    plan_for(patient, prescriber, TODAY)
    assert len(rows_of(page_of(staff_client, patient, "?weeks=1"))) == 7
    assert "(1 week)" in page_of(staff_client, patient, "?weeks=1")
    assert len(rows_of(page_of(staff_client, patient, "?weeks=abc"))) == 28
    assert len(rows_of(page_of(staff_client, patient, "?weeks=99"))) == 84


def test_a_liquid_plan_gives_each_dose_in_ml_too(clock, patient, prescriber, prescriber_client):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=TODAY,
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=Decimal("0.5"),
        dosing_time="morning",
    )
    html = page_of(prescriber_client, patient, "?weeks=2")
    assert "Liquid to measure" in html and "0.5 mg in each mL" in html
    rows = rows_of(html)
    assert rows[0].startswith("Mon 9 Mar 2026 1 mg 2 mL In the morning")
    assert rows[7].startswith("Mon 16 Mar 2026 1.5 mg New dose 3 mL In the morning")


def test_a_held_plan_keeps_the_dose(clock, patient, prescriber, staff_client):
    plan_for(patient, prescriber, ago(20))
    take(patient, prescriber, ago(20), ago(1), "0.5")
    services.plan_state_set(patient=patient, by=prescriber, state=PlanState.HOLDING, reason="tolerating well")
    html = page_of(staff_client, patient)
    assert "Keep taking the same dose every day" in html
    assert {row.split(" mg")[0].rsplit(" ", 1)[1] for row in rows_of(html)} == {"0.5"}


@pytest.mark.parametrize(
    ("state", "message"),
    [(PlanState.PAUSED, "Your LDN is paused."), (PlanState.STOPPED, "Your LDN has been stopped.")],
)
def test_a_paused_or_stopped_plan_says_so_instead_of_doses(clock, patient, prescriber, staff_client, state, message):
    plan_for(patient, prescriber, ago(5))
    coded = {"stop_reason": "side_effects"} if state == PlanState.STOPPED and STOP_IS_CODED else {}
    services.plan_state_set(patient=patient, by=prescriber, state=state, reason="nausea", **coded)
    html = page_of(staff_client, patient)
    assert message in html
    assert "schedule-table" not in html and " mg</strong>" not in html


def test_no_plan_says_so(clock, patient, staff_client):
    html = page_of(staff_client, patient)
    assert "There is no LDN plan yet." in html and "schedule-table" not in html
    assert "Contact <strong>North Pain Clinic</strong>." in html  # no phone recorded


def test_the_schedule_is_for_the_patient_with_the_running_header_and_is_logged(clock, patient, staff, staff_client):
    html = page_of(staff_client, patient)
    assert "Ada Byron · MRN A-100 · born 1 Jun 1980" in html
    assert AccessLog.objects.filter(user=staff, patient=patient, action=AccessLog.Action.VIEW).count() == 1


def test_both_roles_see_the_schedule_and_another_clinic_gets_404(
    clock, patient, prescriber, staff_client, prescriber_client, outsider_client
):
    plan_for(patient, prescriber, TODAY)
    assert staff_client.get(reverse("titration:schedule", args=[patient.pk])).status_code == 200
    assert prescriber_client.get(reverse("titration:schedule", args=[patient.pk])).status_code == 200
    assert outsider_client.get(reverse("titration:schedule", args=[patient.pk])).status_code == 404
    assert outsider_client.get("/patients/999999/schedule/").status_code == 404


def test_the_selector_reads_the_same_course_as_the_page(clock, patient, prescriber):
    plan_for(patient, prescriber, TODAY)
    schedule = patient_schedule(patient, TODAY, 2)
    assert schedule.first == TODAY and schedule.last == TODAY + datetime.timedelta(days=13)
    assert [d.new_dose for d in schedule.days].count(True) == 1
