import pytest
from django.test import Client

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


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), app_urls())
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_redirects_anonymous_users_to_login(client: Client, name: str, path: str, method: str):
    response = getattr(client, method)(path)
    assert response.status_code == 302, name
    assert response["Location"].startswith("/accounts/login/?next="), name


@pytest.mark.django_db
def test_the_login_page_is_public(client: Client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


@pytest.mark.django_db
def test_the_admin_sends_anonymous_users_to_its_login(client: Client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
