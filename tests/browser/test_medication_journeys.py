"""Medications and liquid doses in a real Chromium: a nurse records tramadol and a prescriber sees the critical
flag; a liquid dose typed in mL shows its mg before it is saved."""

from __future__ import annotations

import datetime
from decimal import Decimal

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from titration import services
from titration.models import DoseEntry, Flag

from .conftest import screenshot, sign_in


def test_a_nurse_records_tramadol_and_a_prescriber_sees_the_critical_flag(
    page, live_server, staff, prescriber, patient, today
):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=10),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/medications/")
    page.fill("#id_name", "tramadol 50 mg")
    page.fill("#id_start_date", today.isoformat())
    page.get_by_role("button", name="Record medication").click()
    expect(page.locator("body")).to_contain_text("tramadol 50 mg recorded")
    screenshot(page, "medications-tramadol")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    message = (
        "Tramadol (opioid) is recorded as current while LDN is active: naltrexone blocks opioid analgesia and can "
        "precipitate withdrawal."
    )
    expect(page.locator("header .alert-danger")).to_contain_text("Tramadol (opioid) is recorded as current")
    page.click("nav >> text=Flags")
    queue = page.locator("tbody")
    expect(queue).to_contain_text("Critical: Contraindicated medication")
    expect(queue).to_contain_text(message)
    screenshot(page, "flag-queue-contraindication")
    assert Flag.objects.get(kind="contraindication").is_open


def test_a_liquid_dose_entered_in_ml_shows_its_mg_before_saving(page, live_server, prescriber, patient, today):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=10),
        starting_dose_mg=Decimal("1.5"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=Decimal("0.5"),
    )
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/doses/new/")
    page.fill("#id_dose_mg", "")
    page.fill("#id_dose_ml", "3")
    expect(page.locator("#dose-ml-mg")).to_have_text("3 mL of 0.5 mg/mL = 1.5 mg")
    screenshot(page, "liquid-dose-ml")
    assert not DoseEntry.objects.exists()
    page.get_by_role("button", name="Save dose").click()
    expect(page.locator("body")).to_contain_text("1.5 mg (3 mL of 0.5 mg/mL)")
    entry = DoseEntry.objects.get()
    assert (entry.dose_mg, entry.dose_ml) == (Decimal("1.5"), Decimal("3"))
