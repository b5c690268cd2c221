"""Locust users for the load test: clinicians who sign in, then read charts, lists and flags and save doses.

Started by ``bench.load`` (``locust --headless``), which passes the data set's ids through the JSON file
named by BENCH_LOAD_CONFIG and reads the results from the file named by BENCH_LOAD_RESULT. The measured
window starts once every user has signed in and lasts ``seconds``; then this file stops the test itself.

The user classes: ``Prescriber`` and ``Staff`` (the clinic's mix, for the 50-user test), ``WorklistReader``
(the worklist and patient pages) and ``FloorReader`` (the cheapest signed-in page), for the saturation steps.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import deque
from itertools import cycle
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import FastHttpUser, between, events, task

CONFIG: dict[str, Any] = json.loads(Path(os.environ["BENCH_LOAD_CONFIG"]).read_text())
RESULT = Path(os.environ["BENCH_LOAD_RESULT"])
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PERIODS = ["", "?period=30", "?period=365", "?period=all"]
PERIOD_WEIGHTS = [60, 15, 15, 10]

_accounts = {role: cycle(accounts) for role, accounts in CONFIG["accounts"].items()}
_slots = {int(clinic): deque(slots) for clinic, slots in CONFIG["save_slots"].items()}
_signed_in = 0
_everyone_signed_in = Event()
_sign_in_stats: dict[str, Any] = {}


class SignedIn(FastHttpUser):
    abstract = True
    role = "prescriber"
    wait_time = between(CONFIG["think_min"], CONFIG["think_max"])
    # Fifty sign-ins at once (PBKDF2, as in production) queue for tens of seconds on a busy 2-core machine:
    # a timed-out sign-in would leave its user redirected to the sign-in page for the whole test.
    network_timeout = connection_timeout = float(CONFIG["sign_in_timeout"])

    def on_start(self) -> None:
        global _signed_in
        self.account = next(_accounts[self.role])
        self.clinic = str(self.account["clinic"])
        self.patients = CONFIG["patients"][self.clinic]
        with self.client.get("/accounts/login/", name="sign-in page", catch_response=True) as page:
            match = CSRF.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(f"sign-in page: HTTP {page.status_code}")
        if match is not None:
            form = {
                "username": self.account["username"],
                "password": self.account["password"],
                "csrfmiddlewaretoken": match.group(1),
                "next": "/",
            }
            with self.client.post(
                "/accounts/login/", data=form, name="sign in", allow_redirects=False, catch_response=True
            ) as response:
                if response.status_code != 302 or response.headers.get("Location") != "/":
                    response.failure(f"sign in: HTTP {response.status_code}")
        _signed_in += 1
        if _signed_in >= CONFIG["users"]:
            _everyone_signed_in.set()
        _everyone_signed_in.wait(CONFIG["sign_in_timeout"])

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")


class WorklistReader(SignedIn):
    @task(1)
    def worklist(self) -> None:
        self._get("/worklist/", "/worklist/")

    @task(3)
    def patient_page(self) -> None:
        self._get(f"/patients/{random.choice(self.patients)}/", "/patients/[id]/?period=90")  # noqa: S311


class FloorReader(SignedIn):
    @task
    def floor(self) -> None:
        self._get("/accounts/two-factor/", "/accounts/two-factor/")


class Clinician(SignedIn):
    abstract = True

    @task(8)
    def patient_page(self) -> None:
        period = random.choices(PERIODS, PERIOD_WEIGHTS)[0]  # noqa: S311
        patient = random.choice(self.patients)  # noqa: S311
        self._get(f"/patients/{patient}/{period}", f"/patients/[id]/{period or '?period=90'}")

    @task(2)
    def patient_list(self) -> None:
        self._get("/patients/", "/patients/")

    @task(3)
    def search(self) -> None:
        term = random.choice(CONFIG["searches"][self.clinic])  # noqa: S311
        self._get(f"/patients/?q={term}", "/patients/?q=[term]")

    @task(3)
    def flag_queue(self) -> None:
        if random.random() < 0.3:  # noqa: S311
            self._get("/flags/?severity=critical", "/flags/?severity=critical")
        else:
            self._get("/flags/", "/flags/")

    @task(2)
    def dashboard(self) -> None:
        self._get("/", "/")


class Prescriber(Clinician):
    role = "prescriber"

    @task(2)
    def save_dose(self) -> None:
        slots = _slots.get(int(self.clinic))
        if not slots:
            return
        slot = slots.popleft()
        form_path = f"/patients/{slot['patient']}/doses/new/"
        with self.client.get(form_path, name="/patients/[id]/doses/new/ (form)", catch_response=True) as page:
            match = CSRF.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(f"dose form: HTTP {page.status_code}")
                return
        form = {
            "csrfmiddlewaretoken": match.group(1),
            "taken_on": slot["day"],
            "dose_mg": slot["dose"],
            "formulation": slot["formulation"],
            "status": "taken",
        }
        with self.client.post(
            form_path, data=form, name="POST /patients/[id]/doses/new/", allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 302:
                response.failure(f"dose not saved: HTTP {response.status_code}")


class Staff(Clinician):
    role = "staff"


def _summary(stats: Any, elapsed: float) -> dict[str, Any]:
    def row(entry: Any) -> dict[str, Any]:
        return {
            "name": entry.name,
            "method": entry.method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "median_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }

    total = stats.total
    return {
        "seconds": round(elapsed, 1),
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.num_requests / elapsed, 1) if elapsed else 0.0,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p95_ms": total.get_response_time_percentile(0.95),
        "p99_ms": total.get_response_time_percentile(0.99),
        "max_ms": round(total.max_response_time or 0),
        "errors": [
            {"name": e.name, "method": e.method, "error": str(e.error), "count": e.occurrences}
            for e in stats.errors.values()
        ],
        "by_request": sorted((row(e) for e in stats.entries.values()), key=lambda r: -r["requests"]),
        "sign_in": _sign_in_stats,
    }


def _conduct(environment: Any) -> None:
    """Wait for every sign-in and one think time more, then measure for ``seconds`` and stop the test."""
    _everyone_signed_in.wait(CONFIG["sign_in_timeout"])
    stats = environment.runner.stats
    sign_in = stats.entries.get(("sign in", "POST"))
    if sign_in is not None:
        _sign_in_stats.update(
            requests=sign_in.num_requests,
            failures=sign_in.num_failures,
            median_ms=sign_in.get_response_time_percentile(0.5),
        )
    sign_in_failures = stats.total.num_failures
    # The first requests of the users who signed in last queued behind the sign-ins (password hashing): let
    # one think time pass, so that the window measures users at their own pace, not that start-up queue.
    gevent.sleep(CONFIG["think_max"])
    stats.reset_all()
    started = time.monotonic()
    gevent.sleep(CONFIG["seconds"])
    summary = _summary(stats, time.monotonic() - started)
    summary["sign_in_failures"] = sign_in_failures
    summary["users_signed_in"] = _signed_in
    RESULT.write_text(json.dumps(summary, indent=2))
    environment.runner.quit()


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    gevent.spawn(_conduct, environment)
