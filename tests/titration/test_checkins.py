import datetime

import pytest
from django.urls import reverse

from tests.dbstate import database_unchanged
from titration import services
from titration.forms import OTHER_NEEDS_DESCRIPTION, PAIN_RANGE
from titration.models import CheckIn, Flag, SideEffect

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return reverse("titration:checkin-create", args=[patient.pk])


def checkin_post(day: datetime.date, pain: str = "5", **extra: str) -> dict[str, str]:
    return {"checked_on": day.isoformat(), "pain_score": pain, "sleep_quality": "", "notes": "", **extra}


def test_staff_record_a_checkin_with_side_effects(staff_client, staff, patient, today):
    data = checkin_post(
        today,
        "4",
        sleep_quality="6",
        side_effect_vivid_dreams="mild",
        side_effect_other="moderate",
        side_effect_other_description="dry mouth",
    )
    response = staff_client.post(url(patient), data)
    assert response.status_code == 302
    checkin = CheckIn.objects.get()
    assert (checkin.pain_score, checkin.sleep_quality, checkin.recorded_by) == (4, 6, staff)
    effects = {(e.kind, e.severity, e.description) for e in checkin.side_effects.all()}
    assert effects == {("vivid_dreams", "mild", ""), ("other", "moderate", "dry mouth")}
    assert not Flag.objects.exists()


def test_prescribers_record_checkins_too(prescriber_client, patient, today):
    assert prescriber_client.post(url(patient), checkin_post(today)).status_code == 302


def test_a_severe_side_effect_raises_a_warning_flag(staff_client, patient, today):
    staff_client.post(url(patient), checkin_post(today, side_effect_insomnia="severe"))
    flag = Flag.objects.get()
    assert (flag.kind, flag.severity) == (Flag.Kind.SEVERE_SIDE_EFFECT, Flag.Severity.WARNING)
    assert flag.message == f"Severe insomnia reported at the check-in of {today:%-d %b %Y}."
    assert flag.checkin == CheckIn.objects.get()
    assert flag in staff_client.get(reverse("titration:flags")).context["page"].object_list


@pytest.mark.parametrize(
    ("pain", "message"),
    [
        ("11", PAIN_RANGE),
        ("-1", PAIN_RANGE),
        ("3.5", PAIN_RANGE),
        ("", "Give the pain score (0–10)."),
        ("seven", PAIN_RANGE),
    ],
)
def test_bad_pain_scores_are_explained(staff_client, patient, today, pain, message):
    response = staff_client.post(url(patient), checkin_post(today, pain))
    assert response.status_code == 200
    assert response.context["form"].errors["pain_score"] == [message]
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize("pain", ["0", "10"])
def test_pain_bounds_are_accepted(staff_client, patient, today, pain):
    assert staff_client.post(url(patient), checkin_post(today, pain)).status_code == 302


def test_other_side_effect_needs_a_description(staff_client, patient, today):
    response = staff_client.post(url(patient), checkin_post(today, side_effect_other="mild"))
    assert response.context["form"].errors["side_effect_other_description"] == [OTHER_NEEDS_DESCRIPTION]
    assert not CheckIn.objects.exists()


def test_an_unknown_severity_is_refused(staff_client, patient, today):
    response = staff_client.post(url(patient), checkin_post(today, side_effect_headache="extreme"))
    assert "side_effect_headache" in response.context["form"].errors
    assert not SideEffect.objects.exists()


def test_future_dates_and_second_checkins_are_refused(staff_client, patient, today):
    response = staff_client.post(url(patient), checkin_post(today + datetime.timedelta(days=1)))
    assert response.context["form"].errors["checked_on"] == [services.FUTURE_DAY]
    staff_client.post(url(patient), checkin_post(today))
    response = staff_client.post(url(patient), checkin_post(today))
    assert response.context["form"].errors["checked_on"] == [services.DUPLICATE_CHECKIN_DAY]
    assert CheckIn.objects.count() == 1


def test_a_checkin_is_voided_with_a_reason_and_stays_visible(staff_client, staff, patient, today):
    checkin, _ = services.checkin_record(patient=patient, by=staff, checked_on=today, pain_score=7)
    void_url = reverse("titration:checkin-void", args=[patient.pk, checkin.pk])
    assert staff_client.post(void_url, {"reason": ""}).status_code == 200
    assert staff_client.post(void_url, {"reason": "wrong patient"}).status_code == 302
    checkin.refresh_from_db()
    assert checkin.is_voided and checkin.void_reason == "wrong patient"
    assert "wrong patient" in staff_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()


def test_another_clinic_cannot_record_or_void(outsider, outsider_client, staff, patient, today):
    with database_unchanged(outsider):
        assert outsider_client.post(url(patient), checkin_post(today)).status_code == 404
    checkin, _ = services.checkin_record(patient=patient, by=staff, checked_on=today, pain_score=7)
    with database_unchanged(outsider):
        assert (
            outsider_client.post(
                reverse("titration:checkin-void", args=[patient.pk, checkin.pk]), {"reason": "x"}
            ).status_code
            == 404
        )


def test_the_database_refuses_pain_above_10(patient, staff, today):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CheckIn.objects.create(patient=patient, checked_on=today, pain_score=11, recorded_by=staff)
