import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.dbstate import database_unchanged
from titration import services
from titration.models import Flag

pytestmark = pytest.mark.django_db


@pytest.fixture
def flags(patient, make_patient, prescriber, today):
    """An info flag (oldest), a warning, and a critical flag (newest) on two patients."""
    other = make_patient(given_name="Bea", family_name="Other")
    services.plan_set(
        patient=other,
        by=prescriber,
        start_date=today - datetime.timedelta(days=30),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    services.dose_record(
        patient=other, by=prescriber, taken_on=today - datetime.timedelta(days=3), dose_mg=Decimal("1.5")
    )  # info: differs from the plan
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=2), dose_mg=Decimal("1.5")
    )
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=1), dose_mg=Decimal("4")
    )  # warning: step of 2.5 mg without a plan
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("0.4"), confirmed=True, override_reason="test"
    )  # critical tenfold + warning out of range
    return Flag.objects.all()


def queue(client, **params):
    return list(client.get(reverse("titration:flags"), params).context["page"])


def test_the_queue_is_critical_first_then_oldest_first(staff_client, flags):
    shown = queue(staff_client)
    assert [f.severity for f in shown] == sorted((f.severity for f in shown), reverse=True)
    assert shown[0].kind == Flag.Kind.TENFOLD_CHANGE
    warnings = [f for f in shown if f.severity == Flag.Severity.WARNING]
    assert warnings == sorted(warnings, key=lambda f: (f.created_at, f.pk))
    assert shown[-1].kind == Flag.Kind.OFF_SCHEDULE


def test_filter_by_severity_and_kind(staff_client, flags):
    assert {f.severity for f in queue(staff_client, severity="critical")} == {Flag.Severity.CRITICAL}
    assert {f.kind for f in queue(staff_client, kind="step_too_large")} == {Flag.Kind.STEP_TOO_LARGE}


@pytest.mark.parametrize("params", [{"severity": "bogus"}, {"kind": "'; drop table"}, {"page": "-1"}])
def test_unknown_filters_filter_nothing(staff_client, flags, params):
    response = staff_client.get(reverse("titration:flags"), params)
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == flags.count()


def test_each_open_flag_carries_its_acknowledge_and_comment_forms(staff_client, prescriber_client, flags):
    staff_page = staff_client.get(reverse("titration:flags")).content.decode()
    prescriber_page = prescriber_client.get(reverse("titration:flags")).content.decode()
    for flag in flags:
        assert f'action="/flags/{flag.pk}/comment/"' in staff_page
        assert f'action="/flags/{flag.pk}/acknowledge/"' in prescriber_page
        # Staff get no acknowledge form for a critical flag: only a prescriber may close it.
        assert (f'action="/flags/{flag.pk}/acknowledge/"' in staff_page) is (flag.severity != Flag.Severity.CRITICAL)
    assert "A prescriber acknowledges critical flags." in staff_page


def test_both_roles_comment_on_a_flag_and_it_stays_open(staff_client, prescriber_client, staff, flags):
    critical = flags.get(severity=Flag.Severity.CRITICAL)
    response = staff_client.post(
        reverse("titration:flag-comment", args=[critical.pk]), {"text": "Left a message for the patient"}
    )
    assert response.status_code == 302
    prescriber_client.post(reverse("titration:flag-comment", args=[critical.pk]), {"text": "Will call tomorrow"})
    critical.refresh_from_db()
    assert critical.is_open
    first = critical.comments.first()
    assert (first.written_by, first.text) == (staff, "Left a message for the patient")
    assert critical.comments.count() == 2
    page = staff_client.get(reverse("titration:flags")).content.decode()
    assert "nurse.kim" in page and "Left a message for the patient" in page


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_comment_is_refused(staff_client, flags, text):
    flag = flags.first()
    response = staff_client.post(reverse("titration:flag-comment", args=[flag.pk]), {"text": text}, follow=True)
    assert response.status_code == 200
    assert not flag.comments.exists()


def test_another_clinic_cannot_comment(outsider, outsider_client, flags):
    flag = flags.first()
    with database_unchanged(outsider):
        assert outsider_client.post(reverse("titration:flag-comment", args=[flag.pk]), {"text": "x"}).status_code == 404
    assert not flag.comments.exists()


def test_all_open_info_flags_of_one_patient_are_acknowledged_with_one_note(staff_client, staff, patient, flags):
    other = flags.get(severity=Flag.Severity.INFO).patient
    page = staff_client.get(reverse("titration:flags")).content.decode()
    assert f'action="/patients/{other.pk}/flags/acknowledge-info/"' in page
    response = staff_client.post(
        reverse("titration:flags-acknowledge-info", args=[other.pk]), {"note": "Dose changes agreed by phone"}
    )
    assert response.status_code == 302
    info = flags.filter(patient=other, severity=Flag.Severity.INFO)
    assert {(f.acknowledged_by, f.acknowledgement_note) for f in info} == {(staff, "Dose changes agreed by phone")}
    assert all(f.is_open for f in flags.filter(patient=patient))  # the other patient's flags are untouched
    assert all(f.is_open for f in flags.exclude(severity=Flag.Severity.INFO))


def test_acknowledging_all_info_flags_needs_a_note(staff_client, flags):
    other = flags.get(severity=Flag.Severity.INFO).patient
    response = staff_client.post(
        reverse("titration:flags-acknowledge-info", args=[other.pk]), {"note": " "}, follow=True
    )
    assert services.REASON_REQUIRED in response.content.decode()
    assert flags.get(severity=Flag.Severity.INFO).is_open


def test_another_clinic_cannot_acknowledge_all_info_flags(outsider, outsider_client, flags):
    other = flags.get(severity=Flag.Severity.INFO).patient
    with database_unchanged(outsider):
        assert (
            outsider_client.post(
                reverse("titration:flags-acknowledge-info", args=[other.pk]), {"note": "x"}
            ).status_code
            == 404
        )
    assert flags.get(severity=Flag.Severity.INFO).is_open


def test_staff_acknowledge_a_warning_flag_with_a_note(staff_client, staff, flags):
    warning = flags.filter(severity=Flag.Severity.WARNING).first()
    response = staff_client.post(
        reverse("titration:flag-acknowledge", args=[warning.pk]), {"note": "Called patient: as prescribed"}
    )
    assert response.status_code == 302
    warning.refresh_from_db()
    assert warning.acknowledged_by == staff
    assert warning.acknowledgement_note == "Called patient: as prescribed"
    assert warning.acknowledged_at is not None
    assert warning.closed_as == Flag.ClosedAs.ACKNOWLEDGED
    assert warning not in queue(staff_client)


def test_staff_cannot_acknowledge_a_critical_flag(staff_client, flags):
    critical = flags.get(severity=Flag.Severity.CRITICAL)
    response = staff_client.post(
        reverse("titration:flag-acknowledge", args=[critical.pk]), {"note": "Called patient: typo, took 0.4"}
    )
    assert response.status_code == 403
    critical.refresh_from_db()
    assert critical.is_open


@pytest.mark.parametrize("note", ["", "ok", "  checked   it  "])
def test_a_prescriber_acknowledges_a_critical_flag_only_with_a_note_of_a_few_words(prescriber_client, flags, note):
    critical = flags.get(severity=Flag.Severity.CRITICAL)
    response = prescriber_client.post(
        reverse("titration:flag-acknowledge", args=[critical.pk]), {"note": note}, follow=True
    )
    assert services.CRITICAL_NOTE_TOO_SHORT in response.content.decode()
    critical.refresh_from_db()
    assert critical.is_open


def test_a_prescriber_acknowledges_a_critical_flag_with_what_was_checked(prescriber_client, prescriber, flags):
    critical = flags.get(severity=Flag.Severity.CRITICAL)
    note = "Called patient: typo, took 0.4 mg as written"
    assert (
        prescriber_client.post(reverse("titration:flag-acknowledge", args=[critical.pk]), {"note": note}).status_code
        == 302
    )
    critical.refresh_from_db()
    assert (critical.acknowledged_by, critical.acknowledgement_note) == (prescriber, note)


def test_acknowledging_twice_keeps_the_first(staff_client, prescriber_client, staff, flags):
    flag = flags.filter(severity=Flag.Severity.INFO).first()
    staff_client.post(reverse("titration:flag-acknowledge", args=[flag.pk]), {"note": "first"})
    prescriber_client.post(reverse("titration:flag-acknowledge", args=[flag.pk]), {"note": "second"})
    flag.refresh_from_db()
    assert (flag.acknowledged_by, flag.acknowledgement_note) == (staff, "first")


def test_acknowledge_is_post_only(staff_client, flags):
    assert staff_client.get(reverse("titration:flag-acknowledge", args=[flags.first().pk])).status_code == 405


def test_another_clinic_sees_no_flags_and_cannot_acknowledge(outsider, outsider_client, flags):
    assert queue(outsider_client) == []
    flag = flags.first()
    with database_unchanged(outsider):
        assert (
            outsider_client.post(reverse("titration:flag-acknowledge", args=[flag.pk]), {"note": "x"}).status_code
            == 404
        )
    flag.refresh_from_db()
    assert flag.is_open


def test_a_user_without_a_role_cannot_acknowledge(clinic, flags):
    from tests.conftest import client_for, make_user

    client = client_for(make_user("no.role", None, clinic))
    assert client.post(reverse("titration:flag-acknowledge", args=[flags.first().pk]), {"note": "x"}).status_code == 403


def test_the_next_parameter_cannot_redirect_off_site(staff_client, flags):
    info = flags.filter(severity=Flag.Severity.INFO).first()
    response = staff_client.post(
        reverse("titration:flag-acknowledge", args=[info.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("titration:flags")
