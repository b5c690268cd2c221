"""The app on a phone (390 px), a tablet (768 px) and a laptop (1366 px), in a real Chromium."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from patients.models import Diagnosis, Patient
from tests.conftest import PASSWORD
from titration import services
from titration.models import DoseEntry

from .conftest import sign_in

PHONE, TABLET, LAPTOP = 390, 768, 1366
HEIGHT = 844
MAIN_PAGES = {
    "dashboard": "/",
    "patient list": "/patients/",
    "patient page": "/patients/{pk}/",
    "dose form": "/patients/{pk}/doses/new/",
    "flag queue": "/flags/",
    "registration": "/patients/new/",
    "patient edit": "/patients/{pk}/edit/",
}


@pytest.fixture
def busy_patient(patient, make_patient, prescriber, staff, today):
    """A patient with a month of doses, check-ins, notes and open flags, among a few others in the list."""
    for given, family in [("Grace", "Hopper-Montgomery"), ("Alan", "Turing")]:
        make_patient(given_name=given, family_name=family)
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=30),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in range(30, 2, -1):
        services.dose_record(
            patient=patient,
            by=prescriber,
            taken_on=today - datetime.timedelta(days=n),
            dose_mg=Decimal("1.5"),
            notes="Taken at bedtime with water, as the patient reported in the diary" if n % 5 == 0 else "",
        )
        if n % 7 == 0:
            services.checkin_record(
                patient=patient, by=staff, checked_on=today - datetime.timedelta(days=n), pain_score=6
            )
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=2),
        dose_mg=Decimal("15"),
        confirmed=True,
        override_reason="As written on the prescription",
    )
    return patient


def at_width(page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": HEIGHT})


def page_overflow(page) -> int:
    """How far the page itself scrolls sideways, in CSS pixels (0: it does not)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_navbar_is_collapsed_behind_a_menu_button_on_a_phone(page, live_server, prescriber):
    at_width(page, PHONE)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    nav = page.locator("nav.navbar")
    toggler = page.get_by_role("button", name="Menu")
    expect(toggler).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#main-menu")).to_be_hidden()
    assert nav.bounding_box()["height"] <= 64  # was 216 of the phone's 844 px before it collapsed

    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Patients")).to_be_visible()
    expect(nav).to_contain_text("dr.lee · Prescriber")
    nav.get_by_role("link", name="Patients").click()
    expect(page).to_have_url(f"{live_server.url}/patients/")
    expect(page.locator("#main-menu")).to_be_hidden()  # a new page starts with the menu closed
    assert not page.js_errors


@pytest.mark.parametrize("width", [TABLET, LAPTOP])
def test_the_navbar_is_one_expanded_line_from_768_px(page, live_server, prescriber, width):
    at_width(page, width)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    nav = page.locator("nav.navbar")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    for name in ("Dashboard", "Patients", "Flags", "Two-factor"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    expect(nav).to_contain_text("Prescriber")
    assert nav.bounding_box()["height"] <= 64
    assert not page.js_errors


@pytest.mark.parametrize("width", [PHONE, TABLET])
def test_no_main_page_scrolls_sideways(page, live_server, prescriber, busy_patient, width):
    at_width(page, width)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    overflow = {}
    for name, path in MAIN_PAGES.items():
        page.goto(live_server.url + path.format(pk=busy_patient.pk))
        overflow[name] = page_overflow(page)
    assert overflow == dict.fromkeys(MAIN_PAGES, 0)
    assert not page.js_errors


def test_the_history_table_becomes_cards_on_a_phone_with_each_value_labelled(
    page, live_server, prescriber, busy_patient
):
    at_width(page, PHONE)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{busy_patient.pk}/")
    history = page.locator("#history-heading ~ .table-reflow table")
    expect(history.locator("thead")).not_to_be_in_viewport()
    dose_cell = history.locator("tbody tr:not(.checkin):not(.gap) td[data-label='Dose']").first
    label = dose_cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Dose"'
    row_box = history.locator("tbody tr").first.bounding_box()
    assert row_box["x"] >= 0 and row_box["x"] + row_box["width"] <= PHONE


@pytest.mark.parametrize("width", [PHONE, TABLET])
def test_void_is_on_screen_and_works_on_a_phone_and_a_tablet(page, live_server, prescriber, busy_patient, width):
    at_width(page, width)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{busy_patient.pk}/")
    void = page.get_by_role("link", name="Void entry of").first
    void.scroll_into_view_if_needed()
    box = void.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("window.scrollX") == 0
    void.click()
    expect(page.locator("h1")).to_contain_text("Void a dose entry of Ada Byron")
    page.get_by_label("Reason for voiding").fill("Entered on the wrong day")
    page.get_by_role("button", name="Void entry").click()
    expect(page.locator(".alert-success")).to_be_visible()
    assert DoseEntry.objects.filter(patient=busy_patient, voided_at__isnull=False).count() == 1


def test_registration_asks_for_a_date_diagnosed_only_for_a_ticked_condition(page, live_server, prescriber, today):
    at_width(page, PHONE)
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/new/")
    dates = page.locator("input[type=date][name^=diagnosed_on_]")
    expect(dates.first).to_be_attached()
    expect(page.locator("input[type=date][name^=diagnosed_on_]:visible")).to_have_count(0)

    page.fill("#id_mrn", "PHN-001")
    page.fill("#id_given_name", "Mobile")
    page.fill("#id_family_name", "Walker")
    page.fill("#id_date_of_birth", "1970-04-02")
    page.get_by_label("Fibromyalgia", exact=True).check()
    page.get_by_label("Crohn's disease", exact=True).check()
    page.get_by_label("Crohn's disease", exact=True).uncheck()
    diagnosed = page.get_by_label("Fibromyalgia: date diagnosed")
    expect(diagnosed).to_be_visible()
    expect(page.get_by_label("Crohn's disease: date diagnosed")).to_be_hidden()
    expect(page.locator("input[type=date][name^=diagnosed_on_]:visible")).to_have_count(1)
    assert diagnosed.bounding_box()["y"] > page.get_by_label("Fibromyalgia", exact=True).bounding_box()["y"]
    diagnosed.fill("2019-05-01")
    page.get_by_role("button", name="Save patient").click()
    expect(page.locator("h1")).to_have_text("Mobile Walker")
    patient = Patient.objects.get(mrn="PHN-001")
    assert [(d.condition.name, d.diagnosed_on) for d in patient.diagnoses.all()] == [
        ("Fibromyalgia", datetime.date(2019, 5, 1))
    ]
    assert not page.js_errors


def test_the_edit_page_shows_the_dates_of_the_patients_conditions(page, live_server, prescriber, patient):
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/edit/")
    expect(page.get_by_label("Fibromyalgia: date diagnosed")).to_have_value("2020-01-01")
    expect(page.locator("input[type=date][name^=diagnosed_on_]:visible")).to_have_count(1)
    page.get_by_label("Fibromyalgia", exact=True).uncheck()
    expect(page.get_by_label("Fibromyalgia: date diagnosed")).to_be_hidden()
    page.get_by_label("Fibromyalgia", exact=True).check()
    expect(page.get_by_label("Fibromyalgia: date diagnosed")).to_have_value("2020-01-01")


def test_without_javascript_the_menu_is_open_every_date_field_is_offered_and_tables_scroll_in_place(
    browser, live_server, prescriber, busy_patient
):
    context = browser.new_context(viewport={"width": PHONE, "height": HEIGHT}, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, prescriber.username, PASSWORD)
        expect(page.locator("nav.navbar").get_by_role("link", name="Patients")).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        page.goto(f"{live_server.url}/patients/new/")
        fields = page.locator("input[type=date][name^=diagnosed_on_]")
        assert fields.count() > 1
        expect(page.locator("input[type=date][name^=diagnosed_on_]:visible")).to_have_count(fields.count())
        page.fill("#id_mrn", "NJS-001")
        page.fill("#id_given_name", "Plain")
        page.fill("#id_family_name", "Form")
        page.fill("#id_date_of_birth", "1970-04-02")
        page.get_by_label("Fibromyalgia", exact=True).check()
        page.get_by_label("Fibromyalgia: date diagnosed").fill("2018-02-03")
        page.get_by_role("button", name="Save patient").click()
        expect(page.locator("h1")).to_have_text("Plain Form")
        diagnosis = Diagnosis.objects.get(patient__mrn="NJS-001")
        assert diagnosis.diagnosed_on == datetime.date(2018, 2, 3)

        page.goto(f"{live_server.url}/patients/{busy_patient.pk}/")
        history = page.locator("#history-heading ~ .table-reflow")
        assert history.evaluate("region => region.scrollWidth > region.clientWidth")  # it scrolls, in place
        assert page_overflow(page) == 0
    finally:
        context.close()
