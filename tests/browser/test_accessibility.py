"""axe-core (bundled by axe-playwright-python, nothing fetched) on every main page, against WCAG 2.1 AA."""

from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import PASSWORD
from titration import services

from .conftest import AXE_COUNTS, sign_in

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
BLOCKING = ("serious", "critical")


@pytest.fixture
def chart_patient(patient, prescriber, staff, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=40),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in range(40, 1, -1):
        day = today - datetime.timedelta(days=n)
        services.dose_record(
            patient=patient, by=prescriber, taken_on=day, dose_mg=services.active_plan(patient).scheduled_dose_on(day)
        )
        if n % 7 == 0:
            services.checkin_record(
                patient=patient,
                by=staff,
                checked_on=day,
                pain_score=7 - n // 10,
                side_effects=[("vivid_dreams", "severe", "")] if n == 28 else [],
            )
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=Decimal("30"),
        confirmed=True,
        override_reason="decimal slip",
    )
    return patient


def audit_page(page, name: str) -> list[str]:
    results = Axe().run(page, options=WCAG_21_AA)
    violations = results.response["violations"]
    counts = Counter()
    for violation in violations:
        counts[violation["impact"]] += len(violation["nodes"])
    AXE_COUNTS[name] = dict(counts)
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_no_serious_or_critical_violations_on_the_main_pages(page, live_server, prescriber, chart_patient, width):
    base = live_server.url
    blocking: dict[str, list[str]] = {}
    page.set_viewport_size({"width": width, "height": 844})

    def audit(page, name: str) -> list[str]:  # the same page at a phone's width is counted on its own
        return audit_page(page, name if width > 400 else f"{name} (390 px)")

    page.goto(f"{base}/accounts/login/")
    blocking["login"] = audit(page, "login")
    sign_in(page, live_server, prescriber.username, PASSWORD)
    blocking["dashboard"] = audit(page, "dashboard")
    if width < 768:
        page.get_by_role("button", name="Menu").click()
        page.wait_for_selector("#main-menu.show")
        blocking["open menu"] = audit(page, "open menu")
    page.goto(f"{base}/patients/")
    blocking["patient list"] = audit(page, "patient list")
    page.goto(f"{base}/patients/{chart_patient.pk}/")
    page.wait_for_selector("#dose-pain-chart .dose-tick")
    blocking["patient page"] = audit(page, "patient page")
    page.goto(f"{base}/patients/{chart_patient.pk}/doses/new/")
    page.fill("#id_dose_mg", "abc")
    page.get_by_role("button", name="Save dose").click()
    page.wait_for_selector(".invalid-feedback")
    blocking["dose form with an error"] = audit(page, "dose form with an error")
    page.fill("#id_dose_mg", "6")
    page.get_by_role("button", name="Save dose").click()
    page.wait_for_selector("#id_confirm_out_of_range")
    blocking["dose form asking to confirm"] = audit(page, "dose form asking to confirm")
    page.goto(f"{base}/patients/{chart_patient.pk}/plan/")
    blocking["plan form"] = audit(page, "plan form")
    page.goto(f"{base}/patients/{chart_patient.pk}/checkins/new/")
    blocking["check-in form"] = audit(page, "check-in form")
    page.goto(f"{base}/flags/")
    blocking["flag queue"] = audit(page, "flag queue")
    page.goto(f"{base}/patients/{chart_patient.pk}/history/")
    blocking["audit trail"] = audit(page, "audit trail")
    page.goto(f"{base}/patients/new/")
    page.get_by_label("Fibromyalgia", exact=True).check()
    blocking["registration"] = audit(page, "registration")

    assert not {name: found for name, found in blocking.items() if found}


def test_errors_are_tied_to_their_fields(page, live_server, prescriber, patient):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/doses/new/")
    page.fill("#id_dose_mg", "1,5")
    page.get_by_role("button", name="Save dose").click()
    field = page.locator("#id_dose_mg")
    described_by = field.get_attribute("aria-describedby") or ""
    assert field.get_attribute("aria-invalid") == "true"
    messages = " ".join(page.locator(f"#{ident}").inner_text() for ident in described_by.split())
    assert "Use a decimal point" in messages


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/", "Dashboard"),
        ("/patients/", "Patients"),
        ("/patients/{pk}/", "Patient Ada Byron"),
        ("/patients/{pk}/doses/new/", "Log a dose for Ada Byron"),
        ("/flags/", "Flag queue"),
    ],
)
def test_pages_have_titles_a_language_and_one_main_heading(page, live_server, prescriber, patient, path, title):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(live_server.url + path.format(pk=patient.pk))
    assert page.title().startswith(title)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").count() == 1


@pytest.mark.parametrize("width", [390, 768, 1366])
def test_no_serious_or_critical_violations_on_the_diary(page, live_server, prescriber, patient, today, width):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=10),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in (6, 5):  # two days logged: read-only rows
        services.dose_record(
            patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=n), dose_mg=Decimal("0.5")
        )
    page.set_viewport_size({"width": width, "height": 844})
    suffix = "" if width == 1366 else f" ({width} px)"
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/doses/diary/")
    blocking = {"diary": audit_page(page, f"diary{suffix}")}
    page.locator("#id_form-0-dose_mg").fill("1,5")
    page.locator("#id_form-1-dose_mg").fill("6")
    page.get_by_role("button", name="Save the diary").click()
    page.wait_for_selector("#diary-problem")
    page.locator("#id_form-0-dose_mg").fill("0.5")
    page.get_by_role("button", name="Save the diary").click()
    page.wait_for_selector("#id_form-1-confirm_out_of_range")
    blocking["diary asking to confirm"] = audit_page(page, f"diary asking to confirm{suffix}")
    page.locator("#id_form-0-dose_mg").fill("1,5")
    page.get_by_role("button", name="Save the diary").click()
    page.wait_for_selector("#id_form-0-dose_mg_error")
    blocking["diary with refused rows"] = audit_page(page, f"diary with refused rows{suffix}")
    page.goto(f"{live_server.url}/patients/{patient.pk}/doses/diary/?days=15")
    blocking["diary out of bounds"] = audit_page(page, f"diary out of bounds{suffix}")
    assert not {name: found for name, found in blocking.items() if found}
