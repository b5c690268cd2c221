import pytest
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import give_authenticator, sign_in
from tests.urlconf import app_urls


def test_the_urlconf_walk_finds_the_public_contract_pages():
    names = {name for name, _ in app_urls()}
    assert {
        "titration:dashboard",
        "patients:list",
        "patients:create",
        "titration:patient",
        "patients:edit",
        "titration:dose-create",
        "titration:plan",
        "titration:flags",
    } <= names


# The FHIR API under /fhir/ signs in with OAuth tokens, not sessions: without one it answers 401 with an
# OperationOutcome (tests/fhir, and the access matrix of tests/test_security.py).
SESSION_PAGES = [(name, path) for name, path in app_urls() if not path.startswith("/fhir/")]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), SESSION_PAGES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_redirects_anonymous_users_to_login(client: Client, name: str, path: str, method: str):
    response = getattr(client, method)(path)
    assert response.status_code == 302, name
    assert response["Location"].startswith(f"{reverse('login')}?next="), name


@pytest.mark.django_db
def test_the_login_page_is_public(client: Client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


@pytest.mark.django_db
def test_the_admin_sends_anonymous_users_to_its_login(client: Client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_a_patient_search_never_reaches_the_sign_in_redirect(client: Client):
    response = client.get(reverse("patients:list"), {"q": "Smith", "status": "active"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/patients/"
    assert "Smith" not in response["Location"]


@pytest.mark.django_db
def test_other_pages_keep_their_query_in_the_sign_in_redirect(client: Client):
    response = client.get("/patients/1/", {"period": "90"})
    assert response["Location"] == f"{reverse('login')}?next=/patients/1/%3Fperiod%3D90"


@pytest.mark.django_db
def test_another_search_page_opts_in_by_its_url_name(client: Client, settings):
    settings.LOGIN_NEXT_WITHOUT_QUERY = [*settings.LOGIN_NEXT_WITHOUT_QUERY, "titration:flags"]
    assert client.get(reverse("titration:flags"), {"q": "Smith"})["Location"] == f"{reverse('login')}?next=/flags/"


@pytest.mark.django_db
def test_a_patient_search_never_reaches_the_two_factor_redirect(prescriber):
    give_authenticator(prescriber)
    client = Client()
    sign_in(client, prescriber.username)
    response = client.get(reverse("patients:list"), {"q": "Smith"})
    assert response["Location"] == f"{reverse('accounts:two-factor-verify')}?next=%2Fpatients%2F"
