"""The audit trail: every step of a create / edit / void sequence, with user, time, before/after and reason."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from patients.concurrency import version_of
from patients.models import AccessLog
from tests.conftest import client_for
from titration import services
from titration.models import DoseEntry, Flag

from .conftest import dose_post

pytestmark = pytest.mark.django_db


def trail(client: Client, patient) -> list[str]:
    return [
        event.sentence for event in client.get(reverse("titration:history", args=[patient.pk])).context["page"].events
    ]


@pytest.fixture
def sequence(prescriber_client, staff_client, patient, fibromyalgia, prescriber, today):
    """A prescriber edits the patient, logs a dose, voids it and logs the right one; staff acknowledge a flag."""
    edit = {
        "mrn": patient.mrn,
        "given_name": "Augusta",
        "family_name": "Byron",
        "date_of_birth": "1980-06-01",
        "sex": "female",
        "prescriber": prescriber.pk,
        "conditions": [fibromyalgia.pk],
        "is_active": "on",
        f"diagnosed_on_{fibromyalgia.pk}": "2020-01-01",
        "change_reason": "preferred name",
        "version": version_of(patient),
    }
    assert prescriber_client.post(reverse("patients:edit", args=[patient.pk]), edit).status_code == 302
    yesterday = today - datetime.timedelta(days=1)
    prescriber_client.post(reverse("titration:dose-create", args=[patient.pk]), dose_post(yesterday, "1.5"))
    wrong = DoseEntry.objects.get()
    prescriber_client.post(
        reverse("titration:dose-void", args=[patient.pk, wrong.pk]), {"reason": "transcription error"}
    )
    prescriber_client.post(reverse("titration:dose-create", args=[patient.pk]), dose_post(yesterday, "2"))
    prescriber_client.post(
        reverse("titration:dose-create", args=[patient.pk]),
        dose_post(today, "6", confirm_out_of_range="on", override_reason="FINAL trial dose"),
    )
    flag = Flag.objects.get(kind="out_of_range")
    staff_client.post(reverse("titration:flag-acknowledge", args=[flag.pk]), {"note": "discussed with dr.lee"})
    return patient


def test_every_step_is_in_the_trail_newest_first(staff_client, sequence, today):
    sentences = trail(staff_client, sequence)
    day = f"{today - datetime.timedelta(days=1):%-d %b %Y}"
    expected_in_order = [
        "acknowledged by nurse.kim",  # newest
        f"Dose for {today:%-d %b %Y} recorded: 6 mg, taken by dr.lee",
        f"Dose for {day} recorded: 2 mg, taken by dr.lee",
        f"Dose for {day} voided by dr.lee",
        f"Dose for {day} recorded: 1.5 mg, taken by dr.lee",
        "Patient details changed: given name from Ada to Augusta; sex from (empty) to female by dr.lee",
    ]
    positions = []
    for fragment in expected_in_order:
        matches = [i for i, sentence in enumerate(sentences) if fragment in sentence]
        assert matches, f"missing: {fragment!r} in {sentences}"
        positions.append(matches[0])
    assert positions == sorted(positions)


def test_reasons_are_recorded(staff_client, sequence):
    sentences = trail(staff_client, sequence)
    assert any("voided by dr.lee" in s and s.endswith("— reason: transcription error") for s in sentences)
    assert any("6 mg" in s and s.endswith("— reason: FINAL trial dose") for s in sentences)
    assert any("given name from Ada to Augusta" in s and s.endswith("— reason: preferred name") for s in sentences)
    assert any("acknowledged" in s and s.endswith("— reason: discussed with dr.lee") for s in sentences)


def test_history_rows_keep_before_and_after_and_who(sequence, prescriber):
    voided = DoseEntry.objects.get(voided_at__isnull=False)
    latest, before = voided.history.all()[:2]
    assert (before.voided_at, latest.voided_at is not None) == (None, True)
    assert latest.history_user == prescriber
    assert latest.history_change_reason == "transcription error"
    assert latest.history_date is not None


def test_an_edit_without_a_reason_is_refused(prescriber_client, patient, prescriber, fibromyalgia):
    edit = {
        "mrn": patient.mrn,
        "given_name": "X",
        "family_name": "Y",
        "date_of_birth": "1980-06-01",
        "prescriber": prescriber.pk,
        "conditions": [fibromyalgia.pk],
    }
    response = prescriber_client.post(reverse("patients:edit", args=[patient.pk]), edit)
    assert response.context["form"].errors["change_reason"] == ["Give the reason for this change."]
    patient.refresh_from_db()
    assert patient.given_name == "Ada"


def test_both_roles_see_the_trail_and_each_view_is_logged(staff_client, prescriber_client, outsider_client, sequence):
    assert staff_client.get(reverse("titration:history", args=[sequence.pk])).status_code == 200
    assert prescriber_client.get(reverse("titration:history", args=[sequence.pk])).status_code == 200
    assert outsider_client.get(reverse("titration:history", args=[sequence.pk])).status_code == 404
    assert AccessLog.objects.filter(patient=sequence, action="history").count() == 2


def test_the_trail_is_paginated(staff_client, patient, prescriber, today):
    from titration import services

    for n in range(30):
        services.dose_record(
            patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=n), dose_mg=Decimal("1")
        )
    first = staff_client.get(reverse("titration:history", args=[patient.pk])).context["page"]
    second = staff_client.get(reverse("titration:history", args=[patient.pk]), {"page": 2}).context["page"]
    assert len(first.events) == 25
    assert first.count == len(first.events) + len(second.events)
    assert first.events[0].at >= first.events[-1].at >= second.events[0].at


@pytest.fixture
def admin_client(db):
    admin = User.objects.create_superuser("admin", "admin@example.org", "an-admin-passphrase")
    return client_for(admin)


def test_the_admin_cannot_delete_or_change_a_dose(admin_client, sequence):
    entry = DoseEntry.objects.first()
    assert admin_client.post(f"/admin/titration/doseentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(f"/admin/titration/doseentry/{entry.pk}/change/", {"dose_mg": "3"})
    assert response.status_code in (200, 403)
    entry.refresh_from_db()
    assert DoseEntry.objects.filter(pk=entry.pk).exists() and entry.dose_mg != Decimal("3")


def test_the_admin_cannot_delete_a_patient_or_an_audit_record(admin_client, sequence):
    assert admin_client.post(f"/admin/patients/patient/{sequence.pk}/delete/", {"post": "yes"}).status_code == 403
    log = AccessLog.objects.create(user=User.objects.get(username="admin"), patient=sequence, action="view")
    assert admin_client.post(f"/admin/patients/accesslog/{log.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessLog.objects.filter(pk=log.pk).exists()
    history_id = DoseEntry.history.first().history_id
    assert admin_client.post(f"/admin/titration/historicaldoseentry/{history_id}/delete/").status_code == 404
    assert DoseEntry.history.filter(history_id=history_id).exists()


def test_the_access_log_page_and_csv_are_for_superusers_only(admin_client, staff_client, prescriber_client, sequence):
    staff_client.get(reverse("titration:patient", args=[sequence.pk]))
    assert staff_client.get(reverse("patients:access-log")).status_code == 403
    assert prescriber_client.get(reverse("patients:access-csv", args=[sequence.pk])).status_code == 403
    page = admin_client.get(reverse("patients:access-log"), {"patient": sequence.pk})
    assert page.status_code == 200
    assert [log.user.username for log in page.context["page"]] == ["nurse.kim"]
    response = admin_client.get(reverse("patients:access-csv", args=[sequence.pk]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == '"time_utc","user","action","ip_address"'
    assert lines[1].split(",")[1:] == ['"nurse.kim"', '"Viewed the patient page"', '"127.0.0.1"']


def test_state_changes_comments_and_flags_closed_by_a_void_are_in_the_audit_trail(
    prescriber_client, patient, prescriber, staff, today
):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=3),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=1), dose_mg=Decimal("0.5")
    )
    slip, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("5"), confirmed=True, override_reason="x"
    )
    critical = slip.flags.get(severity=Flag.Severity.CRITICAL)
    services.flag_comment_add(flag=critical, by=staff, text="Left a message for the patient")
    services.dose_void(entry=slip, by=prescriber, reason="decimal slip")
    services.plan_state_set(patient=patient, by=prescriber, state="holding", reason="best-tolerated dose")
    page = prescriber_client.get(reverse("titration:history", args=[patient.pk])).content.decode()
    assert "Plan state created: holding at the current dose from" in page
    assert "best-tolerated dose" in page
    assert "Comment on flag" in page and "Left a message for the patient by nurse.kim" in page
    assert "closed because its entry was voided by dr.lee" in page
