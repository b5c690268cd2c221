"""The clinic's day: its own time zone, and a day boundary (04:00 by default) before which a dose logged after
midnight belongs to the night before. Pinned clocks in two clinics' time zones."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from patients.concurrency import VERSION_FIELD
from patients.forms import DAY_BOUNDARY_TOO_LATE
from patients.models import Clinic, clinic_today
from tests.conftest import client_for
from titration import services
from titration.models import DoseEntry

LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
TUESDAY = datetime.date(2026, 3, 10)
MONDAY = datetime.date(2026, 3, 9)


def at(zone: zoneinfo.ZoneInfo, day: datetime.date, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=zone)


@pytest.mark.parametrize(("zone", "name"), [(LONDON, "Europe/London"), (NEW_YORK, "America/New_York")])
@pytest.mark.parametrize(
    ("day", "hour", "minute", "expected"),
    [(MONDAY, 23, 59, MONDAY), (TUESDAY, 0, 30, MONDAY), (TUESDAY, 3, 59, MONDAY), (TUESDAY, 4, 0, TUESDAY)],
)
def test_the_clinic_day_at_23_59_00_30_and_04_00(zone, name, day, hour, minute, expected):
    clinic = Clinic(name="x", time_zone=name)
    with time_machine.travel(at(zone, day, hour, minute), tick=False):
        assert clinic_today(clinic) == expected


def test_one_moment_is_a_different_day_in_two_clinics_time_zones():
    moment = at(LONDON, TUESDAY, 5, 0)  # 05:00 in London is 01:00 in New York (before its boundary)
    assert clinic_today(Clinic(time_zone="Europe/London"), moment) == TUESDAY
    assert clinic_today(Clinic(time_zone="America/New_York"), moment) == MONDAY


def test_a_clinic_with_a_midnight_boundary_has_calendar_days():
    clinic = Clinic(time_zone="Europe/London", day_boundary=datetime.time(0, 0))
    assert clinic_today(clinic, at(LONDON, TUESDAY, 0, 30)) == TUESDAY


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "name"), [(LONDON, "Europe/London"), (NEW_YORK, "America/New_York")])
def test_a_bedtime_dose_logged_at_00_30_lands_on_the_night_before_and_the_next_night_is_no_duplicate(
    zone, name, clinic, patient, prescriber
):
    clinic.time_zone = name
    clinic.save()
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=MONDAY - datetime.timedelta(days=3),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    url = reverse("titration:dose-create", args=[patient.pk])
    with time_machine.travel(at(zone, TUESDAY, 0, 30), tick=False):
        prescriber_client = client_for(prescriber)  # signed in that night, not at the tests' pinned noon
        form = prescriber_client.get(url).context["form"]
        assert form.fields["taken_on"].initial == MONDAY
        assert form.fields["time_of_day"].initial == "bedtime"
        data = {"taken_on": MONDAY.isoformat(), "dose_mg": "0.5", "formulation": "capsule", "status": "taken"}
        assert prescriber_client.post(url, data).status_code == 302
        # The calendar's today is still the clinic's tomorrow until 04:00.
        early = prescriber_client.post(url, {**data, "taken_on": TUESDAY.isoformat()})
        assert early.status_code == 200, early
        assert early.context["form"].errors["taken_on"] == [services.FUTURE_DAY]
    with time_machine.travel(at(zone, TUESDAY, 22, 0), tick=False):
        prescriber_client = client_for(prescriber)  # a new session: the morning's has timed out
        assert prescriber_client.get(url).context["form"].fields["taken_on"].initial == TUESDAY
        assert prescriber_client.post(url, {**data, "taken_on": TUESDAY.isoformat()}).status_code == 302
    assert list(DoseEntry.objects.order_by("taken_on").values_list("taken_on", "time_of_day")) == [
        (MONDAY, "bedtime"),
        (TUESDAY, "bedtime"),
    ]


@pytest.mark.django_db
def test_the_dose_time_is_recorded_and_defaults_from_the_plan(patient, prescriber, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=3),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        dosing_time="morning",
    )
    planned, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=1), dose_mg=Decimal("0.5")
    )
    other, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("0.5"), time_of_day="other"
    )
    assert (planned.time_of_day, other.time_of_day) == ("morning", "other")


@pytest.mark.django_db
def test_the_clinic_settings_page_sets_the_time_zone_and_the_day_boundary(clinic, prescriber, client):
    from django.contrib.auth.models import Permission

    prescriber.user_permissions.add(Permission.objects.get(codename="change_clinic"))
    client.force_login(prescriber)
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    base = {
        "name": clinic.name,
        "restart_after_gap_days": "7",
        "phone": "",
        "change_reason": "Clinic moved",
        "time_zone": "America/New_York",
        "day_boundary": "05:00",
    }
    opened = client.get(url).context["form"]
    base[VERSION_FIELD] = opened[VERSION_FIELD].value()
    late = client.post(url, {**base, "day_boundary": "13:00"})
    assert late.context["form"].errors["day_boundary"] == [DAY_BOUNDARY_TOO_LATE]
    unknown = client.post(url, {**base, "time_zone": "Mars/Olympus"})
    assert "time_zone" in unknown.context["form"].errors
    saved = client.post(url, base)
    assert saved.status_code == 302, saved.context["form"].errors
    clinic.refresh_from_db()
    assert (clinic.time_zone, clinic.day_boundary) == ("America/New_York", datetime.time(5, 0))


@pytest.mark.django_db
def test_the_check_in_form_the_schedule_and_the_dashboard_use_the_clinics_day(clinic, prescriber, staff, patient):
    clinic.time_zone = "America/New_York"
    clinic.save()
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=MONDAY,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    # 06:00 in London on Tuesday is 01:00 in New York: before the boundary, still Monday for this clinic.
    with time_machine.travel(at(LONDON, TUESDAY, 6, 0), tick=False):
        staff_client = client_for(staff)  # signed in that morning, not at the tests' pinned noon
        checkin_form = staff_client.get(reverse("titration:checkin-create", args=[patient.pk])).content.decode()
        schedule = staff_client.get(reverse("titration:schedule", args=[patient.pk]))
        dashboard = staff_client.get(reverse("titration:dashboard"))
    assert f'max="{MONDAY.isoformat()}"' in checkin_form
    assert f'max="{TUESDAY.isoformat()}"' not in checkin_form
    assert schedule.context["schedule"].days[0].day == MONDAY
    assert dashboard.status_code == 200
