"""A change of the clinic's restart gap re-derives its patients' expected doses and flags at once."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from patients.concurrency import VERSION_FIELD
from titration.models import DoseEntry, Flag
from titration.rules import FlagKind

from .conftest import plan_for, take

pytestmark = pytest.mark.django_db


def test_a_longer_restart_gap_closes_the_restart_flag_it_no_longer_supports_and_resets_the_expected_dose(
    clock, clinic, prescriber, client, patient
):
    today = datetime.date(2026, 3, 9)
    start = today - datetime.timedelta(days=30)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, start + datetime.timedelta(days=13), "0.5")  # 1 mg due on day 7 never taken
    back = start + datetime.timedelta(days=23)  # 9 days without a dose: a restart at the default 7-day gap
    take(patient, prescriber, back, back, "1")
    [restart] = Flag.objects.filter(patient=patient, kind=FlagKind.RESTART_HIGH)
    assert restart.is_open
    assert DoseEntry.objects.get(taken_on=back).scheduled_dose_mg == 0.5

    prescriber.user_permissions.add(Permission.objects.get(codename="change_clinic"))
    client.force_login(prescriber)
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    opened = client.get(url).context["form"]
    data = {
        "name": clinic.name,
        "restart_after_gap_days": "14",
        "phone": clinic.phone,
        "time_zone": clinic.time_zone,
        "day_boundary": clinic.day_boundary.strftime("%H:%M"),
        "change_reason": "Restart only after two weeks off",
        VERSION_FIELD: opened[VERSION_FIELD].value(),
    }
    assert client.post(url, data).status_code == 302

    restart.refresh_from_db()
    assert not restart.is_open
    assert restart.closed_as == Flag.ClosedAs.REASSESSED
    assert "restart gap changed from 7 to 14 days" in restart.acknowledgement_note
    assert DoseEntry.objects.get(taken_on=back).scheduled_dose_mg == 1  # no restart: the 1 mg step still due


def test_saving_other_clinic_settings_re_derives_nothing(clock, clinic, prescriber, client, patient):
    today = datetime.date(2026, 3, 9)
    plan_for(patient, prescriber, today - datetime.timedelta(days=3))
    take(patient, prescriber, today - datetime.timedelta(days=3), today, "0.5")
    flags_before = list(Flag.history.values_list("history_id", flat=True))
    prescriber.user_permissions.add(Permission.objects.get(codename="change_clinic"))
    client.force_login(prescriber)
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    opened = client.get(url).context["form"]
    data = {
        "name": clinic.name,
        "restart_after_gap_days": str(clinic.restart_after_gap_days),
        "phone": "+44 20 7946 0000",
        "time_zone": clinic.time_zone,
        "day_boundary": clinic.day_boundary.strftime("%H:%M"),
        "change_reason": "New number",
        VERSION_FIELD: opened[VERSION_FIELD].value(),
    }
    with pytest.MonkeyPatch.context() as patch:
        calls = []
        from titration import services

        patch.setattr(services, "flags_reconcile", lambda **kwargs: calls.append(kwargs))
        assert client.post(url, data).status_code == 302
    assert calls == []
    assert list(Flag.history.values_list("history_id", flat=True)) == flags_before
