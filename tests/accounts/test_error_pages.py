"""The 400, 403, 404 and 500 pages: why, a way back, and nothing from inside (no trace, no patient data)."""

import pytest
from django.test import Client
from django.urls import reverse

from .urls_with_errors import SECRET_IN_ERROR

pytestmark = pytest.mark.django_db

LEAKS = ["Traceback", "RuntimeError", "File &quot;", 'File "', "site-packages", "DEBUG", "settings", "SECRET"]


def assert_leaks_nothing(html: str) -> None:
    for leak in LEAKS:
        assert leak not in html, leak


@pytest.fixture(autouse=True)
def _production_errors(settings):
    settings.DEBUG = False


def test_a_404_shows_the_custom_page(prescriber_client, patient):
    response = prescriber_client.get("/patients/999999/?q=Byron")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here that you can see" in html
    assert "Back to the dashboard" in html
    assert "Byron" not in html
    assert_leaks_nothing(html)


def test_a_patient_of_another_clinic_is_a_plain_404(outsider_client, patient):
    response = outsider_client.get(reverse("titration:patient", args=[patient.pk]))
    assert response.status_code == 404
    html = response.content.decode()
    assert patient.family_name not in html and patient.mrn not in html


def test_a_500_shows_the_custom_page_without_the_error(settings, prescriber_client):
    settings.ROOT_URLCONF = "tests.accounts.urls_with_errors"
    prescriber_client.raise_request_exception = False
    response = prescriber_client.get("/fail/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "Back to the dashboard" in html
    assert SECRET_IN_ERROR not in html
    assert "Ada" not in html and "A-100" not in html
    assert_leaks_nothing(html)


def test_a_403_says_why_and_gives_a_way_back(staff_client):
    response = staff_client.get(reverse("patients:create"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role does not allow this action." in html
    assert "Prescribers set plans" in html
    assert 'href="/">Back to the dashboard' in html
    assert_leaks_nothing(html)


def test_a_refused_form_says_why_without_the_csrf_internals(prescriber):
    client = Client(enforce_csrf_checks=True)
    client.force_login(prescriber)
    response = client.post(reverse("patients:create"), {})
    assert response.status_code == 403
    html = response.content.decode()
    assert "reload the page and try again" in html
    assert "Back to the dashboard" in html
    assert "CSRF cookie not set" not in html
    assert_leaks_nothing(html)


def test_a_400_shows_the_custom_page(client):
    client.raise_request_exception = False
    response = client.get(reverse("login"), headers={"host": "evil.example"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "The request could not be understood" in html
    assert "evil.example" not in html
    assert_leaks_nothing(html)
