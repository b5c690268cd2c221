"""The clinic's day, driven in a real Chromium."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from patients.models import Patient
from tests.conftest import PASSWORD
from titration import services
from titration.models import CheckIn, DoseEntry, Flag

from .conftest import screenshot, sign_in


def log_dose(page, day: datetime.date, dose: str) -> None:
    page.fill("#id_taken_on", day.isoformat())
    page.fill("#id_dose_mg", dose)
    page.get_by_role("button", name="Save dose").click()


def test_a_prescriber_registers_a_patient_sets_a_plan_and_logs_doses(page, live_server, prescriber, today):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.click("text=Patients")
    page.click("text=Register a patient")
    page.fill("#id_mrn", "JRN-001")
    page.fill("#id_given_name", "Journey")
    page.fill("#id_family_name", "Walker")
    page.fill("#id_date_of_birth", "1970-04-02")
    page.select_option("#id_sex", "female")
    page.get_by_label("Fibromyalgia", exact=True).check()
    page.get_by_label("Crohn's disease", exact=True).check()
    page.get_by_role("button", name="Save patient").click()
    expect(page.locator("h1")).to_have_text("Journey Walker")
    patient = Patient.objects.get(mrn="JRN-001")
    assert patient.diagnoses.count() == 2

    page.click("text=Set a plan")
    page.select_option("#id_preset", "low_slow")
    page.fill("#id_start_date", (today - datetime.timedelta(days=6)).isoformat())
    page.get_by_role("button", name="Save plan").click()
    expect(page.locator(".alert-success")).to_contain_text("Titration plan set")

    for days_ago in (6, 5, 4):
        page.click("text=Log a dose")
        expect(page.locator("#id_dose_mg")).to_have_value("0.5")  # pre-filled with the scheduled dose
        log_dose(page, today - datetime.timedelta(days=days_ago), "0.5")
        expect(page.locator(".alert-success")).to_contain_text("0.5 mg")

    page.click("text=Log a dose")
    log_dose(page, today - datetime.timedelta(days=3), "0.25")
    warning = page.locator("#id_confirm_out_of_range").locator("xpath=ancestor::fieldset")
    expect(warning).to_contain_text("outside the LDN range of 0.5–4.5 mg")
    assert not DoseEntry.objects.filter(dose_mg=Decimal("0.25")).exists()
    page.check("#id_confirm_out_of_range")
    page.fill("#id_override_reason", "Specialist advice: ultra-low dose for a week")
    page.get_by_role("button", name="Save dose").click()
    expect(page.locator(".alert")).to_contain_text("0.25 mg is below the LDN range of 0.5–4.5 mg")

    page.click("text=Log a dose")
    log_dose(page, today - datetime.timedelta(days=2), "1.5")
    page.click("text=Log a dose")
    log_dose(page, today - datetime.timedelta(days=1), "15")
    expect(page.locator("#dose-confirmation legend")).to_contain_text("Possible decimal slip")
    expect(page.locator("#dose-confirmation")).to_contain_text("did you mean 0.15 or 1.5 mg?")
    page.check("#id_confirm_out_of_range")
    page.fill("#id_override_reason", "As written on the prescription")
    page.get_by_role("button", name="Save dose").click()
    alert = page.locator(".alert-danger")
    expect(alert).to_contain_text("[Critical]")
    expect(alert).to_contain_text("ten times or more above the previous dose of 1.5 mg")
    expect(page.locator("#open-flags-heading + ul")).to_contain_text("Critical: Tenfold change")
    assert Flag.objects.filter(patient=patient, kind="tenfold_change", severity=Flag.Severity.CRITICAL).exists()
    screenshot(page, "patient-chart")
    assert not page.js_errors


@pytest.fixture
def flagged_patient(patient, prescriber, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=30),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in range(10, 1, -1):
        services.dose_record(
            patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=n), dose_mg=Decimal("1.5")
        )
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=Decimal("15"),
        confirmed=True,
        override_reason="as written",
    )
    services.checkin_record(
        patient=patient, by=prescriber, checked_on=today - datetime.timedelta(days=20), pain_score=7
    )
    return patient


def test_staff_comment_on_the_critical_flag_a_prescriber_acknowledges_it_and_staff_record_a_checkin(
    page, live_server, staff, prescriber, flagged_patient, today
):
    sign_in(page, live_server, staff.username, PASSWORD)
    screenshot(page, "dashboard")
    page.click("nav >> text=Flags")
    first_row = page.locator("tbody tr:not(.flag-group)").first
    expect(first_row).to_contain_text("Critical: Tenfold change")
    expect(first_row).to_contain_text("A prescriber acknowledges critical flags.")
    screenshot(page, "flag-queue")
    first_row.locator("input[name=text]").fill("Phoned the patient: took 1.5 mg, label misread")
    first_row.locator("button:has-text('Comment')").click()
    expect(page.locator(".alert-success")).to_contain_text("Comment added")
    expect(page.locator("tbody tr:not(.flag-group)").first).to_contain_text("label misread")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.click("nav >> text=Flags")
    first_row = page.locator("tbody tr:not(.flag-group)").first
    first_row.locator("input[name=note]").fill("Checked with the patient: 1.5 mg taken, label misread")
    first_row.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(".alert-success")).to_contain_text("Flag acknowledged")
    flag = Flag.objects.get(kind="tenfold_change")
    assert flag.acknowledged_by == prescriber and "label misread" in flag.acknowledgement_note

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{flagged_patient.pk}/")
    page.click("text=Record a check-in")
    page.fill("#id_pain_score", "5")
    page.select_option("#id_side_effect_insomnia", "severe")
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator(".alert-warning")).to_contain_text("Severe insomnia")
    assert CheckIn.objects.filter(patient=flagged_patient, pain_score=5).exists()
    expect(page.locator("#chart-summary")).to_contain_text("1 day with a severe side effect")
    canvas = page.locator("#dose-pain-chart")
    expect(canvas).to_be_visible()
    assert canvas.bounding_box()["height"] > 200
    page.locator("summary:has-text('Chart data as a table')").click()
    expect(page.locator("details table")).to_contain_text("Severe insomnia")
    assert not page.js_errors


def test_staff_cannot_reach_the_dose_form(page, live_server, staff, patient):
    sign_in(page, live_server, staff.username, PASSWORD)
    response = page.goto(f"{live_server.url}/patients/{patient.pk}/doses/new/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("You cannot do this")
    expect(page.locator("main")).to_contain_text("Prescribers set plans and log or void doses")
    page.click("text=Back to the dashboard")
    expect(page).to_have_url(f"{live_server.url}/")


def test_logging_a_dose_with_the_keyboard_only(page, live_server, prescriber, patient, today):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/doses/new/")
    expect(page.locator("#id_dose_mg")).to_be_focused()  # the dose has the focus: no Tab to reach it
    seen = []
    for _ in range(6):  # back through the date to the link above the form, the focus visible at each stop
        page.keyboard.press("Shift+Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement; const style = getComputedStyle(el);
                       return {id: el.id, outline: style.outlineStyle, shadow: style.boxShadow}; }"""
        )
        assert focused["outline"] != "none" or focused["shadow"] != "none", f"focus not visible on {focused}"
        seen.append(focused["id"])
    assert "id_taken_on" in seen, seen
    for _ in range(10):  # and forward again to the dose
        if page.evaluate("document.activeElement.id") == "id_dose_mg":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Shift+Tab")  # back to the date, then forward again: both directions work
    assert page.evaluate("document.activeElement.id") != "id_dose_mg"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_dose_mg"
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator(".alert-success")).to_contain_text("2 mg")
    assert DoseEntry.objects.get(patient=patient).dose_mg == Decimal("2")


def test_the_skip_link_is_the_first_stop_and_works(page, live_server, prescriber):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.locator("body").focus()
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    assert re.search(r"#content$", page.url)


def test_the_print_rendering_hides_navigation_and_keeps_the_chart(page, live_server, staff, flagged_patient):
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{flagged_patient.pk}/")
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.locator("text=Log a dose")).to_be_hidden()
    expect(page.locator("#dose-pain-chart")).to_be_visible()
    expect(page.locator("#response-heading")).to_be_visible()
    expect(page.locator("#open-flags-heading")).to_be_visible()
    expect(page.locator("#history-heading")).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    screenshot(page, "patient-print")
