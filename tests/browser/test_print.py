"""Paper: the patient page and the patient schedule printed to PDF by Chromium, at A4 and Letter.

The PDF's text is read back with pdftotext (poppler-utils): every page must name the patient and carry its
page number, and the chart must keep its last day and its pain axis.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from titration import services

from .conftest import screenshot, sign_in
from .test_accessibility import audit_page

PDFTOTEXT = shutil.which("pdftotext")
needs_pdftotext = pytest.mark.skipif(
    PDFTOTEXT is None, reason="pdftotext is not installed (apt-get install poppler-utils)"
)
HEADER = "Ada Byron · MRN A-100 · born 1 Jun 1980"


@pytest.fixture
def long_record(patient, prescriber, staff, today):
    """90 days on a low-and-slow plan, with check-ins, a missed dose, a severe side effect and a tenfold slip."""
    patient.clinic.phone = "020 7946 0000"
    patient.clinic.save()
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=89),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=14,
        target_dose_mg=Decimal("4.5"),
    )
    plan = services.active_plan(patient)
    for n in range(89, 1, -1):
        day = today - datetime.timedelta(days=n)
        if n == 30:
            services.dose_record(patient=patient, by=prescriber, taken_on=day, dose_mg=None, status="missed")
            continue
        services.dose_record(patient=patient, by=prescriber, taken_on=day, dose_mg=plan.scheduled_dose_on(day))
        if n % 7 == 0:
            effects = [("vivid_dreams", "severe", "")] if n == 21 else []
            services.checkin_record(
                patient=patient, by=staff, checked_on=day, pain_score=8 - n // 15, side_effects=effects
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


def pdf_pages(page, tmp_path: Path, paper: str) -> list[str]:
    pdf = tmp_path / f"print-{paper}.pdf"
    page.pdf(path=str(pdf), format=paper)
    text = subprocess.run(  # noqa: S603 - pdftotext with fixed arguments on our own file
        [str(PDFTOTEXT), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [re.sub(r"[ \t]+", " ", p) for p in text.split("\f") if p.strip()]


def assert_every_page_names_the_patient(pages: list[str]) -> None:
    assert len(pages) >= 2, "the test needs a document of more than one page"
    for number, text in enumerate(pages, start=1):
        assert HEADER in text, f"page {number} has no running header"
        assert f"Page {number} of {len(pages)}" in text, f"page {number} has no page number"
        assert "Printed " in text, f"page {number} has no print date"


def test_the_chart_s_axis_labels_carry_no_trailing_zero(page, live_server, staff, long_record, today):
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{long_record.pk}/")
    labels = page.locator("#dose-pain-chart .dose-tick").all_text_contents()
    assert labels == ["0 mg", "1 mg", "2 mg", "3 mg", "4 mg", "5 mg", "6 mg"]  # capped: the 30 mg slip is marked
    assert page.locator("#dose-pain-chart .pain-tick").all_text_contents() == ["0", "2", "4", "6", "8", "10"]
    dates = page.locator("#dose-pain-chart .date-tick").all_text_contents()
    assert dates[-1] == f"{today:%-d %b %Y}" and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", d) for d in dates)
    assert page.locator("#dose-pain-chart .beyond-label").all_text_contents() == ["30 mg"]
    text = page.locator("#dose-pain-chart").inner_html()
    assert not re.search(r">\d+\.0( mg)?<", text)
    # Nothing is drawn outside the chart's box: the markers and labels are inside the drawing.
    box = page.locator("#dose-pain-chart").bounding_box()
    for selector in (".chart-missed", ".chart-flag", ".chart-severe", ".chart-beyond", ".beyond-label", ".date-tick"):
        for element in page.locator(f"#dose-pain-chart {selector}").all():
            inner = element.bounding_box()
            assert inner["x"] >= box["x"] - 1 and inner["x"] + inner["width"] <= box["x"] + box["width"] + 1, selector
            assert inner["y"] >= box["y"] - 1 and inner["y"] + inner["height"] <= box["y"] + box["height"] + 1, selector
    screenshot(page, "patient-chart")
    assert not page.js_errors


@needs_pdftotext
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_printed_patient_page_names_the_patient_on_every_page_and_keeps_the_whole_chart(
    page, live_server, staff, long_record, today, tmp_path, paper
):
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{long_record.pk}/")
    page.emulate_media(media="print")
    expect(page.locator("summary:has-text('Chart data as a table')")).to_be_hidden()  # no dead control
    expect(page.locator("details.chart-table table")).to_be_visible()  # the chart's table, printed open
    expect(page.locator("text=Export CSV").first).to_be_hidden()
    chart = page.locator("#dose-pain-chart").bounding_box()
    assert chart["width"] <= page.evaluate("document.documentElement.clientWidth")
    if paper == "A4":
        screenshot(page, "patient-print")
    pages = pdf_pages(page, tmp_path, paper)
    assert_every_page_names_the_patient(pages)
    document = "\n".join(pages)
    assert f"{today:%-d %b %Y}" in document  # the chart's last day is on paper
    assert "Pain (0–10)" in document and "10 mg" not in document  # the pain axis, and a capped dose axis
    assert "Notable days of the chart period" in document and "Chart data as a table" not in document
    assert "Log a dose" not in document and "Export CSV" not in document


@needs_pdftotext
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_printed_schedule_names_the_patient_on_every_page(
    page, live_server, staff, long_record, today, tmp_path, paper
):
    sign_in(page, live_server, staff.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{long_record.pk}/schedule/?weeks=12")
    expect(page.locator("h1")).to_contain_text("Your LDN (low-dose naltrexone) schedule")
    page.emulate_media(media="print")
    if paper == "A4":
        screenshot(page, "patient-schedule-print")
    pages = pdf_pages(page, tmp_path, paper)
    assert_every_page_names_the_patient(pages)
    document = "\n".join(pages)
    assert f"{today:%a %-d %b %Y}" in document
    last = today + datetime.timedelta(days=83)
    assert f"{last:%a %-d %b %Y}" in document  # all 12 weeks, to the last day
    assert "020 7946 0000" in document
    assert "Weeks to show" not in document  # the form is not printed


@pytest.mark.parametrize("width", [390, 768, 1366])
def test_the_schedule_page_has_no_serious_or_critical_accessibility_violation(
    page, live_server, prescriber, long_record, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/patients/{long_record.pk}/schedule/")
    assert audit_page(page, f"patient schedule {width}") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert not page.js_errors
