"""What the dose form shows around the dose: the last dose and the days since, the expected dose and why."""

import datetime
import json
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils.html import escape

from titration import services

from .conftest import MONDAY, plan_for, take

pytestmark = pytest.mark.django_db

TODAY = MONDAY.date()  # 9 Mar 2026


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


def day(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def url(patient) -> str:
    return reverse("titration:dose-create", args=[patient.pk])


def dose_days(html: str) -> dict[str, dict[str, object]]:
    start = html.index('<script id="dose-days" type="application/json">') + len(
        '<script id="dose-days" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_form_names_the_last_dose_its_date_and_the_days_since(prescriber_client, patient, prescriber):
    plan_for(patient, prescriber, day(20))
    take(patient, prescriber, day(20), day(14), "0.5")
    take(patient, prescriber, day(13), day(2), "1")
    html = prescriber_client.get(url(patient)).content.decode()
    assert "Last dose: 1 mg on 7 Mar 2026, 2 days ago." in html


def test_the_expected_dose_is_labelled_with_why(prescriber_client, patient, prescriber):
    plan_for(patient, prescriber, day(20))
    take(patient, prescriber, day(20), day(14), "0.5")
    take(patient, prescriber, day(13), day(1), "1")
    html = prescriber_client.get(url(patient)).content.decode()
    assert escape("Expected today: 1.5 mg — the plan's next step.") in html
    assert "Last dose: 1 mg on 8 Mar 2026, yesterday." in html


def test_the_current_step_a_first_dose_and_no_plan_say_so(prescriber_client, patient, prescriber, make_patient):
    html = prescriber_client.get(url(patient)).content.decode()
    assert "Last dose: none taken yet." in html
    assert "No dose expected today — no plan in force." in html
    plan_for(patient, prescriber, day(3))
    html = prescriber_client.get(url(patient)).content.decode()
    assert escape("Expected today: 0.5 mg — the plan's starting dose.") in html
    take(patient, prescriber, day(3), day(1), "0.5")
    html = prescriber_client.get(url(patient)).content.decode()
    assert "Expected today: 0.5 mg — the current step." in html


def test_a_likely_slip_is_not_the_last_dose(prescriber_client, patient, prescriber):
    plan_for(patient, prescriber, day(10), starting="1.5", step="0", target="1.5")
    take(patient, prescriber, day(10), day(2), "1.5")
    services.dose_record(
        patient=patient, by=prescriber, taken_on=day(1), dose_mg=Decimal("15"), confirmed=True, override_reason="slip"
    )
    html = prescriber_client.get(url(patient)).content.decode()
    assert "Last dose: 1.5 mg on 7 Mar 2026, 2 days ago." in html


def test_the_dose_field_has_autofocus(prescriber_client, patient):
    html = prescriber_client.get(url(patient)).content.decode()
    field = html[html.index('name="dose_mg"') - 300 : html.index('name="dose_mg"') + 300]
    assert "autofocus" in field
    assert html.count("autofocus") == 1


def test_the_page_carries_the_expected_dose_of_the_last_14_days_for_the_date_field(
    prescriber_client, patient, prescriber
):
    plan_for(patient, prescriber, day(20))
    take(patient, prescriber, day(20), day(14), "0.5")
    take(patient, prescriber, day(13), day(5), "1")
    days = dose_days(prescriber_client.get(url(patient)).content.decode())
    assert sorted(days) == [day(n).isoformat() for n in range(13, -1, -1)]
    assert days[day(6).isoformat()] == {
        "expected": "1.5",
        "text": "Expected on 3 Mar 2026: 1.5 mg — the plan's next step.",
        "logged": True,
    }
    assert days[day(7).isoformat()]["text"] == "Expected on 2 Mar 2026: 1 mg — the current step."
    assert days[day(13).isoformat()]["expected"] == "1"
    assert days[TODAY.isoformat()]["logged"] is False
    assert "Byron" not in json.dumps(days) and patient.mrn not in json.dumps(days)


def test_the_form_shown_again_after_a_refusal_keeps_the_context(prescriber_client, patient, prescriber):
    plan_for(patient, prescriber, day(3))
    data = {"taken_on": TODAY.isoformat(), "dose_mg": "1,5", "formulation": "capsule", "status": "taken"}
    html = prescriber_client.post(url(patient), data).content.decode()
    assert escape("Expected today: 0.5 mg — the plan's starting dose.") in html
    assert 'id="dose-days"' in html


def test_no_inline_script_is_added(prescriber_client, patient):
    html = prescriber_client.get(url(patient)).content.decode()
    for chunk in html.split("<script")[1:]:
        tag = chunk[: chunk.index(">")]
        assert "src=" in tag or 'type="application/json"' in tag
