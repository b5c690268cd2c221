from decimal import Decimal

import pytest
from django.urls import reverse

from tests.dbstate import database_unchanged
from titration import services
from titration.models import DoseEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(patient, prescriber, today):
    entry, _ = services.dose_record(patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("1.5"))
    return entry


def url(entry) -> str:
    return reverse("titration:dose-void", args=[entry.patient_id, entry.pk])


def test_a_prescriber_voids_an_entry_with_a_reason_and_it_stays_visible(prescriber_client, prescriber, entry):
    response = prescriber_client.post(url(entry), {"reason": "transcription error"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.is_voided
    assert entry.voided_by == prescriber
    assert entry.void_reason == "transcription error"
    page = prescriber_client.get(reverse("titration:patient", args=[entry.patient_id])).content.decode()
    assert 'class="voided"' in page
    assert "transcription error" in page


def test_after_a_void_the_correct_dose_can_be_recorded_for_the_same_day(prescriber_client, entry, today):
    prescriber_client.post(url(entry), {"reason": "wrong patient"})
    response = prescriber_client.post(
        reverse("titration:dose-create", args=[entry.patient_id]),
        {"taken_on": today.isoformat(), "dose_mg": "1", "formulation": "capsule", "status": "taken"},
    )
    assert response.status_code == 302
    assert DoseEntry.objects.filter(taken_on=today).count() == 2
    assert DoseEntry.objects.live().get(taken_on=today).dose_mg == Decimal("1")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(prescriber_client, entry, reason):
    response = prescriber_client.post(url(entry), {"reason": reason})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["Give the reason this entry is wrong."]
    entry.refresh_from_db()
    assert not entry.is_voided


def test_voiding_twice_keeps_the_first_void(prescriber_client, entry):
    prescriber_client.post(url(entry), {"reason": "first"})
    prescriber_client.post(url(entry), {"reason": "second"})
    entry.refresh_from_db()
    assert entry.void_reason == "first"


def test_staff_cannot_void(staff_client, entry):
    assert staff_client.post(url(entry), {"reason": "x"}).status_code == 403
    entry.refresh_from_db()
    assert not entry.is_voided


def test_another_clinic_gets_404(outsider, outsider_client, entry):
    with database_unchanged(outsider):
        assert outsider_client.post(url(entry), {"reason": "x"}).status_code == 404


def test_an_entry_of_another_patient_is_404(prescriber_client, entry, make_patient):
    other = make_patient()
    assert (
        prescriber_client.post(reverse("titration:dose-void", args=[other.pk, entry.pk]), {"reason": "x"}).status_code
        == 404
    )


def test_the_patient_page_links_to_void_for_live_entries_only(prescriber_client, entry, today, prescriber):
    page = prescriber_client.get(reverse("titration:patient", args=[entry.patient_id])).content.decode()
    assert url(entry) in page
    services.dose_void(entry=entry, by=prescriber, reason="wrong")
    page = prescriber_client.get(reverse("titration:patient", args=[entry.patient_id])).content.decode()
    assert url(entry) not in page


def test_the_database_refuses_a_void_without_reason(entry):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        DoseEntry.objects.filter(pk=entry.pk).update(voided_at=timezone.now())
