"""The app servers keep no state of their own: a session signed in on one is valid on another.

Two gunicorn processes share only the database (and the secret key), as two servers behind a load
balancer would. Needs PostgreSQL, whose test database both processes can reach; skipped on SQLite.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.urls import reverse

from patients.models import Clinic
from patients.roles import Role

from .conftest import make_user

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PASSWORD = "a-long-passphrase-for-two-servers"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
START_TIMEOUT = 30
REQUEST_TIMEOUT = 15

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    """A URL of the test database (the one this test writes to), for the server processes."""
    s = connection.settings_dict
    user = urllib.parse.quote(s.get("USER") or "")
    password = urllib.parse.quote(s.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{credentials}{s.get('HOST') or HOST}:{s.get('PORT') or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _opener(jar: http.cookiejar.CookieJar) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())


def _request(
    opener: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """(status, Location header, body) without following redirects."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.headers.get("Location", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", ""), error.read().decode(errors="replace")


@contextlib.contextmanager
def _app_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """One gunicorn process on a free loopback port, always stopped (and killed if need be) afterwards."""
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "ldn_tracker.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "1",
        "--timeout",
        "30",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn with fixed arguments
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=output, start_new_session=True
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{base}/accounts/login/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the app server did not start:\n{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def test_a_session_signed_in_on_one_server_is_valid_on_another(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that both server processes share (PostgreSQL)")
    clinic = Clinic.objects.create(name="North Pain Clinic")
    user = make_user("dr.lee", Role.PRESCRIBER, clinic)
    # The servers run with the real settings (PBKDF2); the tests' fast hasher is not among them.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ldn_tracker.settings",
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",  # plain HTTP on the loopback: cookies without the secure flag
        "SECRET_KEY": secrets.token_urlsafe(64),  # shared by both servers, as in production
        "DB_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
    }
    with _app_server(env, tmp_path / "a.log") as server_a, _app_server(env, tmp_path / "b.log") as server_b:
        assert server_a != server_b
        jar = http.cookiejar.CookieJar()
        browser = _opener(jar)

        status, _, page = _request(browser, f"{server_a}/accounts/login/")
        token = CSRF.search(page)
        assert status == 200 and token is not None
        form = {"username": "dr.lee", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1), "next": "/"}
        status, location, _ = _request(browser, f"{server_a}/accounts/login/", form)
        assert (status, location) == (302, "/")

        status, location, page = _request(browser, f"{server_b}/patients/")
        assert (status, location) == (200, "")
        assert "dr.lee" in page

        stranger = _opener(http.cookiejar.CookieJar())
        status, location, _ = _request(stranger, f"{server_b}/patients/")
        assert status == 302 and location.startswith(reverse("login"))
