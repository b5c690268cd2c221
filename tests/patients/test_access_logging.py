"""Every view of patient data is in the access log: the forms, searches (never the term) and the flag queue."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from patients.concurrency import version_of
from patients.models import AccessLog
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

Action = AccessLog.Action


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/patients/{pk}/edit/", Action.EDIT_FORM),
        ("/patients/{pk}/doses/new/", Action.DOSE_FORM),
        ("/patients/{pk}/checkins/new/", Action.CHECKIN_FORM),
    ],
)
def test_opening_a_patient_form_writes_exactly_one_row(prescriber_client, prescriber, patient, path, action):
    response = prescriber_client.get(path.format(pk=patient.pk))
    assert response.status_code == 200
    log = AccessLog.objects.get()
    assert (log.user, log.patient, log.action, log.result_count) == (prescriber, patient, action, None)
    assert log.ip_address == "127.0.0.1"


def test_a_refused_form_is_not_logged(staff_client, outsider_client, patient):
    assert staff_client.get(reverse("patients:edit", args=[patient.pk])).status_code == 403
    assert outsider_client.get(reverse("titration:dose-create", args=[patient.pk])).status_code == 404
    assert not AccessLog.objects.exists()


def test_posting_a_form_does_not_log_again(prescriber_client, prescriber, patient, fibromyalgia, today):
    edit = {
        "mrn": patient.mrn,
        "given_name": "Augusta",
        "family_name": "Byron",
        "date_of_birth": "1980-06-01",
        "prescriber": prescriber.pk,
        "conditions": [fibromyalgia.pk],
        "is_active": "on",
        "change_reason": "preferred name",
        "version": version_of(patient),
    }
    assert prescriber_client.post(reverse("patients:edit", args=[patient.pk]), edit).status_code == 302
    prescriber_client.post(reverse("titration:dose-create", args=[patient.pk]), {"taken_on": "nonsense"})
    prescriber_client.post(reverse("titration:checkin-create", args=[patient.pk]), {"checked_on": today.isoformat()})
    assert not AccessLog.objects.exclude(action=Action.VIEW).exists()


def test_a_search_logs_its_result_count_and_never_its_term(prescriber_client, prescriber, make_patient):
    make_patient(family_name="Zanzibar-Quist")
    make_patient(family_name="Zanzibar-Quist", mrn="MRN-X")
    make_patient(family_name="Other")
    response = prescriber_client.get(reverse("patients:list"), {"q": "Zanzibar"})
    assert response.context["page"].paginator.count == 2
    log = AccessLog.objects.get()
    assert (log.user, log.patient, log.action, log.result_count) == (prescriber, None, Action.SEARCH, 2)
    stored = " ".join(str(value) for row in AccessLog.objects.values_list() for value in row)  # every column
    assert "zanzibar" not in stored.lower()


def test_the_patient_list_without_a_search_is_logged_as_a_list(prescriber_client, make_patient):
    make_patient()
    prescriber_client.get(reverse("patients:list"))
    log = AccessLog.objects.get()
    assert (log.patient, log.action, log.result_count) == (None, Action.PATIENT_LIST, 1)


def test_the_flag_queue_logs_how_many_flags_it_showed(staff_client, staff):
    assert staff_client.get(reverse("titration:flags")).status_code == 200
    log = AccessLog.objects.get()
    assert (log.user, log.patient, log.action) == (staff, None, Action.FLAG_QUEUE)
    assert log.result_count == 0


def test_the_access_log_page_shows_searches_and_forms(patient, prescriber_client, staff_client):
    prescriber_client.get(reverse("patients:list"), {"q": "Byron"})
    prescriber_client.get(reverse("patients:edit", args=[patient.pk]))
    staff_client.get(reverse("titration:flags"))
    admin = User.objects.create_superuser("admin", "admin@example.org", "an-admin-passphrase")
    response = client_for(admin).get(reverse("patients:access-log"))
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Searched the patients", "Opened the patient edit form", "Viewed the flag queue"):
        assert label in html
