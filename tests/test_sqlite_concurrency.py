"""The embedded default database under concurrent saves: the real server (gunicorn) on a SQLite file.

Eight clinicians save a dose at the same instant. For one patient and one day exactly one entry is stored and
the seven others get the form back with its "already recorded" message; for eight patients all eight are
stored. Neither burst may give a 500 ("database is locked"). On PostgreSQL the same race is covered by
tests/titration/test_concurrency.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.urls import reverse
from django.utils import timezone

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
USERNAME = "race.prescriber"
PASSWORD = "race-prescriber-passphrase-2026"
CLINICIANS = 8
PATIENTS = 9
REQUEST_TIMEOUT = 60  # seconds; well above the 20 s busy timeout, so a slow save is not mistaken for a failure

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="exercises the SQLite settings; on PostgreSQL tests/titration/test_concurrency.py covers the race",
)
# gunicorn runs in a process of its own, on the machine's clock: the dates posted to it come from that clock too.
pytestmark = [sqlite_only, pytest.mark.real_clock]

SETUP_SCRIPT = """
import datetime, json
from django.contrib.auth.models import User
from patients.models import Clinic, Patient
user = User.objects.get(username={username!r})
clinic = Clinic.objects.get(name="Race Clinic")
ids = [
    Patient.objects.create(
        clinic=clinic, mrn=f"RACE-{{n}}", given_name="Pat", family_name=f"Racer{{n}}",
        date_of_birth=datetime.date(1970, 1, 1), prescriber=user,
    ).pk
    for n in range({patients})
]
print(json.dumps(ids))
"""


def _server_env(database: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="ldn_tracker.settings",
        DEBUG="1",  # plain-HTTP cookies on the loopback server, as `make run` has them
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str, stdin: str = "") -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """Several processes and threads, so requests really race; always stopped, killed if it hangs."""
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "ldn_tracker.wsgi:application",
        f"--bind={HOST}:{port}",
        "--workers=3",
        "--threads=4",
        "--timeout=90",
        "--graceful-timeout=5",
        f"--error-logfile={log}",
    ]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn with fixed arguments
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=output, start_new_session=True
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/accounts/login/", timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 comes back as it is: a save's success


class Clinician:
    """One signed-in browser: its own cookie jar, so its own session and CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)  # noqa: S310 - loopback URL built here
        try:
            with self.opener.open(req, timeout=REQUEST_TIMEOUT) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:  # 3xx (not followed), 4xx and 5xx
            return error.code, error.read().decode(errors="replace")

    def csrf_token(self, path: str) -> str:
        status, page = self.request(path)
        assert status == 200, (path, status)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self) -> None:
        token = self.csrf_token(reverse("login"))
        status, _ = self.request(
            reverse("login"), {"csrfmiddlewaretoken": token, "username": USERNAME, "password": PASSWORD}
        )
        assert status == 302, f"sign-in failed with {status}"


def _burst(clinicians: list[Clinician], posts: list[tuple[str, dict[str, str]]]) -> list[tuple[int, str]]:
    """Send one POST per clinician, all released by one barrier; return (status, body) in order."""
    released = threading.Barrier(len(posts), timeout=30)
    results: list[tuple[int, str]] = [(0, "")] * len(posts)

    def submit(index: int) -> None:
        path, data = posts[index]
        released.wait()
        try:
            results[index] = clinicians[index].request(path, data)
        except OSError as error:  # a dropped or timed-out connection counts as a failure, never hangs the test
            results[index] = (-1, repr(error))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 40)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    return results


def _dose(day: datetime.date, token: str, dose: str) -> dict[str, str]:
    return {
        "csrfmiddlewaretoken": token,
        "taken_on": day.isoformat(),
        "dose_mg": dose,
        "formulation": "capsule",
        "status": "taken",
        "notes": "",
    }


def _is_duplicate_day_message(status: int, body: str) -> bool:
    """The dose form came back (200) with a field error saying the day already has a dose."""
    return status == 200 and "invalid-feedback" in body and "already" in body.lower()


def _entries(database: Path) -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT patient_id, taken_on FROM titration_doseentry WHERE voided_at IS NULL").fetchall()


def test_the_sqlite_connection_uses_wal_immediate_transactions_a_busy_timeout_and_normal_sync(
    tmp_path, django_db_blocker
):
    """The settings hold on a real file database (the test database lives in memory, where WAL cannot)."""
    wrapper = DatabaseWrapper({**settings.DATABASES["default"], "NAME": str(tmp_path / "probe.sqlite3")})
    try:
        with django_db_blocker.unblock(), wrapper.cursor() as cursor:
            pragmas = {
                name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout")
            }
        assert pragmas["journal_mode"] == "wal"
        assert pragmas["synchronous"] == 1  # NORMAL
        assert pragmas["busy_timeout"] >= 20_000  # milliseconds
        assert wrapper.transaction_mode == "IMMEDIATE"
    finally:
        wrapper.close()


def test_eight_clinicians_saving_at_once_on_sqlite_get_one_entry_and_seven_form_messages_never_a_500(tmp_path):
    database = tmp_path / "race.sqlite3"
    env = _server_env(database)
    _manage(env, "migrate", "--noinput")
    _manage(
        env, "create_clinician", USERNAME, "--role=prescriber", "--clinic=Race Clinic", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    patient_ids: list[int] = json.loads(
        _manage(env, "shell", "-c", SETUP_SCRIPT.format(username=USERNAME, patients=PATIENTS)).strip().splitlines()[-1]
    )
    day = timezone.localdate() - datetime.timedelta(days=1)  # yesterday: never "in the future" at midnight

    with _gunicorn(env, tmp_path / "gunicorn.log") as base:
        clinicians = [Clinician(base) for _ in range(CLINICIANS)]
        with concurrent.futures.ThreadPoolExecutor(CLINICIANS) as pool:  # signing in at once is a race too
            list(pool.map(Clinician.sign_in, clinicians))

        # Burst 1: one patient, one day.
        same, others = patient_ids[0], patient_ids[1:]
        path = reverse("titration:dose-create", args=[same])
        posts = [(path, _dose(day, c.csrf_token(path), f"{1 + n / 10:.1f}")) for n, c in enumerate(clinicians)]
        first = _burst(clinicians, posts)

        # Burst 2: eight patients, one save each.
        posts = []
        for clinician, patient_id in zip(clinicians, others, strict=True):
            path = reverse("titration:dose-create", args=[patient_id])
            posts.append((path, _dose(day, clinician.csrf_token(path), "1.5")))
        second = _burst(clinicians, posts)

    first_statuses = sorted(status for status, _ in first)
    second_statuses = sorted(status for status, _ in second)
    report = f"first burst {first_statuses}, second burst {second_statuses}"
    assert 500 not in first_statuses + second_statuses, report
    assert first_statuses.count(302) == 1, report
    assert sum(_is_duplicate_day_message(status, body) for status, body in first) == CLINICIANS - 1, report
    assert second_statuses == [302] * CLINICIANS, report

    entries = _entries(database)
    assert sorted(pid for pid, _ in entries) == sorted([same, *others])
    assert {taken_on for _, taken_on in entries} == {day.isoformat()}
