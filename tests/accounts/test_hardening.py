"""Production hardening: the Content-Security-Policy, templates that need no inline code, deploy checks."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/", reverse("patients:list"), reverse("accounts:two-factor-setup")])
def test_pages_send_a_strict_content_security_policy(prescriber_client, path):
    csp = policy(prescriber_client.get(path))
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["font-src"] == ["'self'"]
    assert not any("unsafe" in value for values in csp.values() for value in values)


def test_the_sign_in_page_and_the_error_pages_have_the_policy_too(client):
    assert "script-src 'self'" in client.get(reverse("login"))["Content-Security-Policy"]
    assert "script-src 'self'" in client.get("/no-such-page/")["Content-Security-Policy"]


def template_sources() -> list[tuple[str, str]]:
    return [(str(path.relative_to(TEMPLATES)), path.read_text()) for path in sorted(TEMPLATES.rglob("*.html"))]


def test_there_are_templates_to_check():
    assert len(template_sources()) > 10


@pytest.mark.parametrize(("name", "source"), template_sources())
def test_templates_have_no_inline_script_handler_or_style(name, source):
    for tag in re.findall(r"<script\b[^>]*>", source, re.IGNORECASE):
        assert "src=" in tag, f"{name}: inline script {tag}"
    assert not re.search(r"<style\b", source, re.IGNORECASE), name
    assert not re.search(r"\son[a-z]+\s*=", source, re.IGNORECASE), f"{name}: event handler attribute"
    assert not re.search(r"\sstyle\s*=", source, re.IGNORECASE), f"{name}: style attribute"
    assert "javascript:" not in source.lower(), name


def test_the_pages_with_forms_and_the_chart_render_no_inline_code(prescriber_client, patient):
    for path in [
        reverse("login"),
        reverse("patients:create"),
        reverse("titration:patient", args=[patient.pk]),
        reverse("accounts:two-factor-setup"),
    ]:
        html = prescriber_client.get(path).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html, re.IGNORECASE):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\s(on[a-z]+|style)\s*=", html, re.IGNORECASE), path


def test_sign_in_is_checked_by_django_axes_first():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def production_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="ldn.example.org", **extra)
    return env


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments, our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deploy_checks_pass_with_debug_off():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_cookies_are_secure_and_host_only():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_AGE, s.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    )
    result = run_manage("shell", "--verbosity", "0", "--command", code, env=production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "True",
        "__Host-sessionid",
        "__Host-csrftoken",
        "31536000",
        "True",
        "1800",
        "True",
    ]


def test_debug_off_refuses_to_start_without_a_real_secret_key():
    env = production_env()
    env.pop("SECRET_KEY")
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
