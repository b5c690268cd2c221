"""The diary grid and the dose form's date in Chromium, at a phone's, a tablet's and a laptop's width."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from patients.models import clinic_today
from tests.conftest import PASSWORD
from titration import rules, services
from titration.models import DoseEntry

from .conftest import screenshot, sign_in

WIDTHS = [390, 768, 1366]


@pytest.fixture
def planned(patient, prescriber):
    """0.5 mg, +0.5 mg every 7 days: 0.5 mg for a week, 1 mg from 11 to 7 days ago; the last 7 days open."""
    today = clinic_today(patient.clinic)

    def day(n: int) -> datetime.date:
        return today - datetime.timedelta(days=n)

    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=day(20),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in [*range(20, 13, -1), *range(11, 6, -1)]:
        services.dose_record(patient=patient, by=prescriber, taken_on=day(n), dose_mg=Decimal("0.5" if n > 13 else "1"))
    return patient


def week(patient):
    return DoseEntry.objects.filter(patient=patient, taken_on__gte=clinic_today(patient.clinic) - datetime.timedelta(6))


@pytest.mark.parametrize("width", WIDTHS)
def test_a_week_from_the_diary_with_one_refused_row_fixed_in_place(page, live_server, prescriber, planned, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{planned.pk}/")
    page.get_by_role("link", name="Diary entry").click()
    doses = page.locator("input[name$='-dose_mg']")
    expect(doses).to_have_count(7)
    assert [doses.nth(n).input_value() for n in range(7)] == ["1", "1", "1.5", "1.5", "1.5", "1.5", "1.5"]
    doses.nth(3).fill("1,5")
    page.locator("select[name='form-2-status']").select_option("missed")
    page.get_by_role("button", name="Save the diary").click()

    expect(page.locator("#diary-problem")).to_be_visible()
    expect(page.locator("#id_form-3-dose_mg_error")).to_have_text(rules.DECIMAL_COMMA)
    expect(page.locator("select[name='form-2-status']")).to_have_value("missed")  # the other rows kept
    assert not week(planned).exists()
    # The grid does not push the page sideways at any width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, f"diary-refused-{width}")

    page.locator("#id_form-3-dose_mg").fill("1.5")
    page.get_by_role("button", name="Save the diary").click()
    expect(page.locator(".alert").first).to_contain_text("Diary saved: 7 days recorded (6 taken, 1 missed).")
    assert week(planned).count() == 7


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dose_form_prefill_follows_the_date(page, live_server, prescriber, planned, width):
    page.set_viewport_size({"width": width, "height": 900})
    today = clinic_today(planned.clinic)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{planned.pk}/doses/new/")
    dose = page.locator("#id_dose_mg")
    expect(dose).to_be_focused()
    expect(dose).to_have_value("1.5")
    expect(page.locator("#expected-dose")).to_have_text("Expected today: 1.5 mg — the plan's next step.")
    expect(page.locator("#last-dose")).to_contain_text("Last dose: 1 mg on")
    expect(page.locator("#last-dose")).to_contain_text("7 days ago")

    six_days_ago = today - datetime.timedelta(days=6)
    page.locator("#id_taken_on").fill(six_days_ago.isoformat())
    expect(dose).to_have_value("1")
    expect(page.locator("#expected-dose")).to_have_text(
        f"Expected on {six_days_ago:%-d %b %Y}: 1 mg — the current step."
    )
    dose.fill("0.5")  # typed: a later change of date keeps it
    page.locator("#id_taken_on").fill(today.isoformat())
    expect(dose).to_have_value("0.5")
    expect(page.locator("#expected-dose")).to_contain_text("Expected today: 1.5 mg")
    assert not page.js_errors, page.js_errors


@pytest.mark.parametrize("width", [390, 1366])
def test_a_week_from_the_diary_with_the_keyboard_only(page, live_server, prescriber, planned, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{planned.pk}/doses/diary/")
    expect(page.locator("#id_form-0-dose_mg")).to_be_focused()  # the first open day's dose
    page.keyboard.press("Control+A")
    page.keyboard.type("1.5")
    page.keyboard.press("Tab")  # its status
    page.keyboard.press("Tab")  # its notes
    page.keyboard.type("Took the next step early")
    page.keyboard.press("Tab")  # the next day's dose
    assert page.evaluate("document.activeElement.id") == "id_form-1-dose_mg"
    page.keyboard.press("Tab")  # its status: missed
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_form-1-status")).to_have_value("missed")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # submits the grid from its notes field
    expect(page.locator(".alert").first).to_contain_text("Diary saved: 7 days recorded (6 taken, 1 missed).")
    first = week(planned).order_by("taken_on").first()
    assert (first.dose_mg, first.notes) == (Decimal("1.5"), "Took the next step early")
