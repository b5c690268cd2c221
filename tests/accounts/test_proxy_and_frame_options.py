"""X-Forwarded-Proto is trusted only when the deployment says so; every answer forbids framing."""

import pytest
from django.test import Client
from django.urls import reverse

from .test_hardening import production_env, run_manage

pytestmark = pytest.mark.django_db

SHOW_PROXY_HEADER = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"


def proxy_header_setting(**env: str) -> str:
    result = run_manage("shell", "--verbosity", "0", "--command", SHOW_PROXY_HEADER, env=production_env(**env))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_x_forwarded_proto_is_not_trusted_by_default_in_production():
    assert proxy_header_setting() == "None"
    assert proxy_header_setting(TRUST_X_FORWARDED_PROTO="0") == "None"


def test_x_forwarded_proto_is_trusted_when_the_deployment_says_so():
    assert proxy_header_setting(TRUST_X_FORWARDED_PROTO="1") == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_a_nonsense_value_refuses_to_start():
    result = run_manage("check", env=production_env(TRUST_X_FORWARDED_PROTO="maybe"))
    assert result.returncode != 0
    assert "TRUST_X_FORWARDED_PROTO must be a boolean" in result.stderr


def test_a_client_cannot_pass_plain_http_off_as_https(settings, client):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("login"), headers={"x-forwarded-proto": "https"})
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_behind_a_trusted_proxy_its_header_marks_https(settings, client):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get(reverse("login"), headers={"x-forwarded-proto": "https"}).status_code == 200


def test_the_400_for_a_bad_host_forbids_framing_and_keeps_the_other_headers():
    client = Client(raise_request_exception=False)
    response = client.get(reverse("login"), headers={"host": "evil.example"})
    assert response.status_code == 400
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


@pytest.mark.parametrize("path", [reverse("login"), "/", "/no-such-page/", "/static/css/app.css", "/admin/"])
def test_every_answer_forbids_framing(client, path):
    assert client.get(path)["X-Frame-Options"] == "DENY"


def test_the_bad_host_400_raised_by_the_https_redirect_forbids_framing_too(settings):
    # With the HTTPS redirect on, SecurityMiddleware reads the Host header first and refuses it.
    settings.SECURE_SSL_REDIRECT = True
    client = Client(raise_request_exception=False)
    response = client.get(reverse("patients:list"), headers={"host": "evil.example"})
    assert response.status_code == 400
    assert response["X-Frame-Options"] == "DENY"
