"""The medication pages through HTTP: record, end and void for both roles; 404 across clinics, 403 without a role."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from medications import rules, services
from medications.forms import DATE_INVALID, UNKNOWN_CHOICE
from medications.models import MedicationEntry, OpioidIngredient
from patients.models import AccessLog
from tests.conftest import client_for
from tests.dbstate import database_unchanged
from tests.medications.conftest import days_ago, medication_data

pytestmark = pytest.mark.django_db
CRITICAL = "Tramadol (opioid) is recorded as current"


def list_url(patient):
    return reverse("medications:list", args=[patient.pk])


def create_url(patient):
    return reverse("medications:create", args=[patient.pk])


def record(patient, by, name="tramadol 50 mg", start=None, **fields):
    start = start or timezone.localdate() - datetime.timedelta(days=5)
    return services.medication_record(patient=patient, by=by, name=name, start_date=start, **fields)


@pytest.mark.parametrize("role", ["staff", "prescriber"])
def test_both_roles_record_a_typed_opioid_and_see_it_flagged(role, request, patient, today):
    client = client_for(request.getfixturevalue(role))
    data = medication_data(name="tramadol 50 mg", dose="50 mg twice daily", route="oral", start_date=days_ago(today, 3))
    response = client.post(create_url(patient), data)
    assert response.status_code == 302 and response["Location"] == list_url(patient)
    entry = MedicationEntry.objects.get(patient=patient)
    assert (entry.name, entry.active_ingredient, entry.dose, entry.route) == (
        "tramadol 50 mg",
        "tramadol",
        "50 mg twice daily",
        "oral",
    )
    assert entry.recorded_by == request.getfixturevalue(role)
    assert entry.history.get().history_user == request.getfixturevalue(role)
    page = client.get(list_url(patient)).content.decode()
    assert CRITICAL in page
    assert "opioid (tramadol): contraindicated with LDN" in page


def test_a_medication_chosen_from_the_list_takes_its_name_and_ingredient(prescriber_client, patient, today):
    codeine = OpioidIngredient.objects.get(name="codeine")
    response = prescriber_client.post(
        create_url(patient), medication_data(reference=str(codeine.pk), start_date=today.isoformat())
    )
    assert response.status_code == 302
    entry = MedicationEntry.objects.get(patient=patient)
    assert (entry.name, entry.reference, entry.active_ingredient) == ("codeine", codeine, "codeine")


def test_an_edited_active_ingredient_is_kept_and_checked(staff_client, patient, today):
    data = medication_data(name="Mystery cough syrup", active_ingredient="pholcodine", start_date=today.isoformat())
    staff_client.post(create_url(patient), data)
    assert MedicationEntry.objects.get().active_ingredient == "pholcodine"
    assert "Pholcodine (opioid) is recorded as current" in staff_client.get(list_url(patient)).content.decode()


def test_an_unknown_free_text_name_is_stored_and_shown_as_not_checked(staff_client, patient, today):
    staff_client.post(create_url(patient), medication_data(name="Zebrafen 5 mg", start_date=today.isoformat()))
    entry = MedicationEntry.objects.get()
    assert (entry.name, entry.active_ingredient) == ("Zebrafen 5 mg", "")
    page = staff_client.get(list_url(patient)).content.decode()
    assert rules.NOT_CHECKED in page
    assert "Critical" not in page


def test_loperamide_is_listed_as_not_a_contraindication(staff_client, patient, staff):
    record(patient, staff, name="Imodium 2 mg")
    page = staff_client.get(list_url(patient)).content.decode()
    assert "loperamide: not a contraindication" in page
    assert "Critical" not in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (medication_data(reference="999999", start_date="2026-01-01"), "reference", UNKNOWN_CHOICE),
        (medication_data(reference="abc", start_date="2026-01-01"), "reference", UNKNOWN_CHOICE),
        (medication_data(name="", start_date="2026-01-01"), "name", services.NAME_REQUIRED),
        (medication_data(name="   ", start_date="2026-01-01"), "name", services.NAME_REQUIRED),
        (medication_data(name="tramadol", start_date="last week"), "start_date", DATE_INVALID),
        (medication_data(name="tramadol", start_date="2026-02-30"), "start_date", DATE_INVALID),
        (medication_data(name="tramadol", start_date="1979-12-31"), "start_date", rules.START_BEFORE_BIRTH),
    ],
)
def test_bad_input_gets_a_clear_form_error_and_stores_nothing(prescriber_client, patient, data, field, message):
    response = prescriber_client.post(create_url(patient), data)
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert escape(message) in response.content.decode()
    assert not MedicationEntry.objects.exists()


def test_a_start_date_in_the_future_is_refused(staff_client, patient, today):
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    response = staff_client.post(create_url(patient), medication_data(name="tramadol", start_date=tomorrow))
    assert response.context["form"].errors["start_date"] == [rules.START_IN_FUTURE]
    assert not MedicationEntry.objects.exists()


def test_the_service_refuses_a_future_start_even_without_the_form(patient, staff, today):
    with pytest.raises(services.MedicationError) as caught:
        record(patient, staff, start=today + datetime.timedelta(days=1))
    assert (caught.value.message, caught.value.field) == (rules.START_IN_FUTURE, "start_date")


def test_ending_a_medication_keeps_it_with_the_date_reason_and_who(staff_client, staff, prescriber, patient, today):
    entry = record(patient, prescriber)
    url = reverse("medications:end", args=[patient.pk, entry.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, {"stop_date": today.isoformat(), "reason": "Washout before LDN"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.stop_date, entry.stop_reason, entry.ended_by) == (today, "Washout before LDN", staff)
    newest = entry.history.order_by("-history_id").first()
    assert (newest.history_user, newest.history_change_reason, newest.stop_date) == (staff, "Washout before LDN", today)
    assert entry.history.count() == 2
    page = staff_client.get(list_url(patient)).content.decode()
    assert CRITICAL not in page  # ended today: no longer current today
    assert "Washout before LDN" in page


@pytest.mark.parametrize(
    ("stop", "reason", "field", "message"),
    [
        (-6, "done", "stop_date", rules.STOP_BEFORE_START),
        (1, "done", "stop_date", rules.STOP_IN_FUTURE),
        (0, "", "reason", services.STOP_REASON_REQUIRED),
        (0, "   ", "reason", services.STOP_REASON_REQUIRED),
    ],
)
def test_ending_with_bad_input_is_refused_with_a_form_error(
    prescriber_client, prescriber, patient, today, stop, reason, field, message
):
    entry = record(patient, prescriber, start=today - datetime.timedelta(days=5))
    url = reverse("medications:end", args=[patient.pk, entry.pk])
    stop_date = (today + datetime.timedelta(days=stop)).isoformat()
    response = prescriber_client.post(url, {"stop_date": stop_date, "reason": reason})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    entry.refresh_from_db()
    assert entry.stop_date is None


def test_an_entry_cannot_be_ended_twice(prescriber_client, prescriber, patient, today):
    entry = record(patient, prescriber)
    services.medication_end(entry=entry, by=prescriber, stop_date=today, reason="stopped")
    url = reverse("medications:end", args=[patient.pk, entry.pk])
    assert "This medication was ended on" in prescriber_client.get(url).content.decode()
    response = prescriber_client.post(url, {"stop_date": today.isoformat(), "reason": "again"})
    assert services.ALREADY_ENDED in response.context["form"].non_field_errors()
    entry.refresh_from_db()
    assert entry.stop_reason == "stopped"


def test_voiding_keeps_the_record_struck_through_with_who_and_why(staff_client, staff, prescriber, patient):
    entry = record(patient, prescriber)
    url = reverse("medications:void", args=[patient.pk, entry.pk])
    response = staff_client.post(url, {"reason": "Wrong patient"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.voided_by, entry.void_reason) == (staff, "Wrong patient") and entry.voided_at is not None
    assert MedicationEntry.objects.filter(pk=entry.pk).exists()
    newest = entry.history.order_by("-history_id").first()
    assert (newest.history_user, newest.history_change_reason) == (staff, "Wrong patient")
    page = staff_client.get(list_url(patient)).content.decode()
    assert f"<del>{entry.name}</del>" in page and "Wrong patient" in page
    assert CRITICAL not in page


def test_a_void_needs_a_reason_and_happens_once(prescriber_client, prescriber, patient):
    entry = record(patient, prescriber)
    url = reverse("medications:void", args=[patient.pk, entry.pk])
    response = prescriber_client.post(url, {"reason": "  "})
    assert response.context["form"].errors["reason"] == [services.VOID_REASON_REQUIRED]
    services.medication_void(entry=entry, by=prescriber, reason="duplicate")
    response = prescriber_client.post(url, {"reason": "again"})
    assert services.ALREADY_VOIDED in response.context["form"].non_field_errors()
    entry.refresh_from_db()
    assert entry.void_reason == "duplicate"


def test_another_patients_entry_is_a_404_under_this_patient(prescriber_client, prescriber, make_patient, patient):
    other = make_patient(mrn="B-200")
    entry = record(other, prescriber)
    for action in ("end", "void"):
        assert prescriber_client.get(reverse(f"medications:{action}", args=[patient.pk, entry.pk])).status_code == 404


def urls_for(patient, entry):
    return [
        list_url(patient),
        create_url(patient),
        reverse("medications:end", args=[patient.pk, entry.pk]),
        reverse("medications:void", args=[patient.pk, entry.pk]),
        reverse("medications:safety", args=[patient.pk]),
    ]


def test_an_outsider_gets_404_everywhere_and_changes_nothing(outsider, outsider_client, prescriber, patient, today):
    entry = record(patient, prescriber)
    for url in urls_for(patient, entry):
        assert outsider_client.get(url).status_code == 404, url
        data = {"reason": "x", "stop_date": today.isoformat(), "name": "morphine", "start_date": today.isoformat()}
        with database_unchanged(outsider):
            assert outsider_client.post(url, data).status_code in (404, 405), url
    entry.refresh_from_db()
    assert entry.stop_date is None and entry.voided_at is None
    assert MedicationEntry.objects.count() == 1


def test_a_clinic_member_without_a_role_gets_403_and_changes_nothing(no_role, prescriber, patient, today):
    client = client_for(no_role)
    entry = record(patient, prescriber)
    for url in urls_for(patient, entry):
        assert client.get(url).status_code == 403, url
        data = {"reason": "x", "stop_date": today.isoformat(), "name": "morphine", "start_date": today.isoformat()}
        assert client.post(url, data).status_code in (403, 405), url
    entry.refresh_from_db()
    assert entry.stop_date is None and entry.voided_at is None
    assert MedicationEntry.objects.count() == 1


def test_viewing_the_medication_list_is_in_the_access_log(staff_client, staff, patient):
    staff_client.get(list_url(patient))
    assert AccessLog.objects.filter(user=staff, patient=patient, action=AccessLog.Action.VIEW).count() == 1


def test_the_list_separates_current_past_and_voided_entries(staff_client, staff, patient, today):
    current = record(patient, staff, name="Ultram")
    ended = record(patient, staff, name="OxyContin 10 mg")
    services.medication_end(entry=ended, by=staff, stop_date=today, reason="Pain settled")
    voided = record(patient, staff, name="Vicodin")
    services.medication_void(entry=voided, by=staff, reason="Entered in error")
    context = staff_client.get(list_url(patient)).context["medications"]
    assert [item.entry for item in context.current] == [current]
    assert [item.entry for item in context.past] == [ended]
    assert [item.entry for item in context.voided] == [voided]
    assert [item.ingredient for item in context.contraindications] == ["tramadol"]


XSS = '<script>alert("x")</script>'


def test_names_and_reasons_are_escaped(staff_client, staff, patient):
    entry = record(patient, staff, name=XSS, dose=XSS, route=XSS)
    services.medication_void(entry=entry, by=staff, reason=XSS)
    page = staff_client.get(list_url(patient)).content.decode()
    assert XSS not in page and escape(XSS) in page


def test_the_patient_page_links_to_the_medications_and_the_safety_profile(staff_client, patient):
    page = staff_client.get(patient.get_absolute_url()).content.decode()
    assert f'href="{list_url(patient)}"' in page
    assert f'href="{reverse("medications:safety", args=[patient.pk])}"' in page


def test_the_forms_carry_their_csrf_token_and_a_post_without_it_is_refused(staff, patient, today):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    data = medication_data(name="tramadol", start_date=today.isoformat())
    assert client.post(create_url(patient), data).status_code == 403
    for url in (list_url(patient), reverse("medications:safety", args=[patient.pk])):
        html = client.get(url).content.decode()
        main = html[html.index("<main") : html.index("</main>")]  # the sign-out form in the header has its own
        assert len(re.findall(r'name="csrfmiddlewaretoken"', main)) == 1, url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(list_url(patient)).content.decode())
    assert client.post(create_url(patient), data | {"csrfmiddlewaretoken": token.group(1)}).status_code == 302
    assert MedicationEntry.objects.count() == 1
