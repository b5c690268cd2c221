import datetime
from decimal import Decimal

import pytest

from titration import services
from titration.chart import chart_for, parse_period
from titration.models import DoseStatus

pytestmark = pytest.mark.django_db


def ago(today, n):
    return today - datetime.timedelta(days=n)


@pytest.fixture
def history(patient, prescriber, staff, today):
    """A plan changed 5 days ago, a gap, a voided entry, a missed dose, a flagged dose and check-ins."""
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 20),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    for n in (10, 9, 8):
        services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, n), dose_mg=Decimal("1"))
    wrong, _ = services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 7), dose_mg=Decimal("2"))
    services.dose_void(entry=wrong, by=prescriber, reason="typo")
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 6), dose_mg=None, status=DoseStatus.MISSED)
    # ago 5: nothing recorded (a gap)
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 4),
        starting_dose_mg=Decimal("1.5"),
        step_mg=Decimal("1.5"),
        step_interval_days=14,
        target_dose_mg=Decimal("4.5"),
    )
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 4), dose_mg=Decimal("1.5"))
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=ago(today, 3),
        dose_mg=Decimal("15"),
        confirmed=True,
        override_reason="x",
    )
    services.checkin_record(patient=patient, by=staff, checked_on=ago(today, 10), pain_score=7)
    services.checkin_record(
        patient=patient, by=staff, checked_on=ago(today, 3), pain_score=5, side_effects=[("nausea", "severe", "")]
    )
    return patient


def test_the_chart_series_follow_the_history(history, today):
    plans = list(history.plans.order_by("start_date", "created_at"))
    chart = chart_for(history, plans, "30", today)
    days = {d.day: d for d in chart.days}
    assert len(chart.days) == 30 and chart.end == today
    assert days[ago(today, 8)].dose_mg == Decimal("1")
    assert days[ago(today, 7)].dose_mg is None  # voided entries are not plotted
    assert days[ago(today, 6)].missed
    assert days[ago(today, 5)].dose_mg is None and not days[ago(today, 5)].missed  # the gap
    assert set(days[ago(today, 3)].flagged) == {"Tenfold change", "Outside LDN range"}
    assert days[ago(today, 6)].scheduled_mg == Decimal("1")  # the first plan
    assert days[ago(today, 4)].scheduled_mg == Decimal("1.5")  # the plan change
    assert days[ago(today, 25)].scheduled_mg is None  # before any plan
    assert days[ago(today, 10)].pain == 7
    assert days[ago(today, 3)].severe_effects == ["Nausea / GI discomfort"]
    series = chart.series()
    assert series["range"] == ["0.5", "4.5"]
    assert series["dose"][-4] == "15"
    assert series["severe"][-4] == 5
    assert "2 pain scores, from 7 to 5 out of 10" in chart.summary()
    notable = [d.day for d in chart.notable_days]
    assert ago(today, 6) in notable and ago(today, 3) in notable and ago(today, 9) not in notable


def test_period_all_starts_at_the_first_record(history, today):
    plans = list(history.plans.all())
    assert chart_for(history, plans, "all", today).start == ago(today, 20)


@pytest.mark.parametrize(
    ("raw", "period"), [("30", "30"), ("365", "365"), ("all", "all"), ("7", "90"), (None, "90"), ("'; drop", "90")]
)
def test_period_allowlist(raw, period):
    assert parse_period(raw) == period


def test_the_patient_page_embeds_the_chart_and_its_text_alternative(staff_client, history):
    page = staff_client.get(f"/patients/{history.pk}/?period=30").content.decode()
    assert 'id="dose-pain-chart"' in page and 'role="img"' in page
    assert 'id="chart-data" type="application/json"' in page
    assert "Chart data as a table" in page
    assert "/static/vendor/chart.js/chart.umd.min.js" in page
    assert "Severe nausea / gi discomfort." in page
