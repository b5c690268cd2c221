"""The worklist in Chromium: a prescriber clears a morning of due patients with one click each, the list
updating in place (focus on the next row, scroll kept), and axe finds nothing serious."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from titration import services
from titration.models import DoseEntry

from .conftest import screenshot, sign_in
from .test_accessibility import audit_page

DUE = 10
LOG_BUTTON = "form.worklist-log button"
VIEWPORT_HEIGHT = 600


@pytest.fixture
def due_patients(make_patient, prescriber, today):
    """Ten patients on the same plan, all taken through yesterday: each is due 1 mg today (a step overdue)."""
    patients = []
    for n in range(DUE):
        patient = make_patient(given_name=f"Pat{n:02d}", family_name=f"Due{n:02d}")
        services.plan_set(
            patient=patient,
            by=prescriber,
            start_date=today - datetime.timedelta(days=9),
            starting_dose_mg=Decimal("0.5"),
            step_mg=Decimal("0.5"),
            step_interval_days=7,
            target_dose_mg=Decimal("4.5"),
        )
        for back in range(9, 0, -1):
            services.dose_record(
                patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=back), dose_mg=Decimal("0.5")
            )
        patients.append(patient)
    return patients


def focused_text(page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.textContent.trim() : ''")


def focused_row(page) -> str | None:
    return page.evaluate("(() => { const r = document.activeElement.closest('tr'); return r ? r.id : null; })()")


@pytest.mark.parametrize("width", [390, 768, 1366])
def test_a_prescriber_clears_ten_due_patients_in_ten_clicks(page, live_server, prescriber, due_patients, today, width):
    # Short enough for the list to scroll at any width.
    page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/worklist/")
    assert page.locator(LOG_BUTTON).count() == DUE
    assert "10 patients due a dose today, not yet logged" in page.locator("main").inner_text()
    screenshot(page, f"worklist-{width}")

    # Start in the middle of the list, scrolled down to it, as a clinic working from the top would be.
    rows = [f"row-{p.pk}" for p in due_patients]
    start = page.locator(f"#{rows[4]} {LOG_BUTTON}")
    # Instantly (Bootstrap makes scrolling smooth), the fifth row in the middle of the screen.
    page.evaluate(f"document.getElementById('{rows[4]}').scrollIntoView({{block: 'center', behavior: 'instant'}})")
    assert page.evaluate("window.scrollY") > 0
    target = start
    clicks = 0
    while page.locator(LOG_BUTTON).count():
        remaining = page.locator(LOG_BUTTON).count()
        # Playwright scrolls a button into view before clicking it; measure from where the click happens.
        target.scroll_into_view_if_needed()
        before = page.evaluate("window.scrollY")
        spot = target.bounding_box()["y"]
        clicked = page.evaluate("(b) => b.closest('tr').id", target.element_handle())
        target.click()
        clicks += 1
        expect(page.locator(LOG_BUTTON)).to_have_count(remaining - 1)
        if remaining == 1:
            break
        after = page.evaluate("window.scrollY")
        bottom = page.evaluate("document.documentElement.scrollHeight - window.innerHeight")
        # The next button is on screen, where the pointer can reach it.
        top, bottom_edge = page.evaluate(
            "(() => { const b = document.activeElement.getBoundingClientRect(); return [b.top, b.bottom]; })()"
        )
        assert top >= 0 and bottom_edge <= VIEWPORT_HEIGHT, (top, bottom_edge)
        # The scroll stays, unless the list grew too short to keep it: then it is at (or, while the wide table
        # settles its column widths, within a few pixels of) the end of the page. The one other move allowed is
        # the least scroll that brings an off-screen next button to the edge of the screen.
        kept = abs(after - min(before, bottom)) <= 25
        revealed = abs(top) <= 2 or abs(bottom_edge - VIEWPORT_HEIGHT) <= 2
        assert kept or revealed, (before, after, bottom, top, bottom_edge)
        assert focused_text(page).startswith("Log 1 mg taken today")  # the focus is on the next row's button
        assert focused_row(page) in rows
        went_down = rows.index(focused_row(page)) > rows.index(clicked)
        target = page.locator(":focus")
        if after == before and went_down:
            assert abs(target.bounding_box()["y"] - spot) <= 2  # the next button is where the last one was
    assert clicks <= DUE
    assert clicks == DUE
    assert page.locator("#worklist-announce").inner_text().endswith("recorded: 1 mg.")
    assert "0 patients due a dose today" in page.locator("main").inner_text()
    doses = DoseEntry.objects.filter(taken_on=today, patient__in=due_patients)
    assert sorted(doses.values_list("dose_mg", flat=True)) == [Decimal("1")] * DUE
    assert not page.js_errors


def test_without_javascript_the_list_comes_back_at_the_next_row_focused(browser, live_server, prescriber, due_patients):
    context = browser.new_context(viewport={"width": 1366, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, prescriber.username, PASSWORD)
        page.goto(f"{live_server.url}/worklist/")
        page.locator(f"#row-{due_patients[3].pk} {LOG_BUTTON}").click()
        page.wait_for_url(f"**/worklist/?focus={due_patients[4].pk}")
        assert focused_row(page) == f"row-{due_patients[4].pk}"
        assert page.locator(LOG_BUTTON).count() == DUE - 1
        assert "Pat03 Due03: taken dose for" in page.locator(".messages").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 768, 1366])
def test_the_worklist_has_no_serious_or_critical_accessibility_violations(
    page, live_server, prescriber, due_patients, width
):
    page.set_viewport_size({"width": width, "height": 844})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/worklist/")
    assert audit_page(page, f"worklist ({width} px)") == []
    page.locator(LOG_BUTTON).first.click()
    expect(page.locator(LOG_BUTTON)).to_have_count(DUE - 1)
    assert audit_page(page, f"worklist after a log ({width} px)") == []


def test_the_worklist_does_not_widen_the_page_on_a_phone(page, live_server, prescriber, due_patients):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/worklist/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_paged_worklist_goes_on_to_the_next_page_from_its_last_row(
    page, live_server, prescriber, due_patients, monkeypatch
):
    from titration import worklist

    monkeypatch.setattr(worklist, "ROWS_PER_PAGE", 4)
    page.set_viewport_size({"width": 390, "height": VIEWPORT_HEIGHT})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/worklist/?page=2")
    main = page.locator("main")
    assert "10 patients to see today (page 2 of 3, 4 shown)" in main.inner_text()
    rows = [f"row-{p.pk}" for p in due_patients]
    assert page.locator("tbody tr").evaluate_all("(rows) => rows.map((r) => r.id)") == rows[4:8]

    page.locator(f"#{rows[7]} {LOG_BUTTON}").click()  # the page's last row: the next patient is on page 3

    expect(page.locator(f"#{rows[7]}")).to_have_count(0)
    assert focused_row(page) == rows[8]
    assert "9 patients to see today" in main.inner_text()
    assert "Page 2 of 3" in page.locator(".worklist-pages").inner_text()
    assert not page.js_errors
