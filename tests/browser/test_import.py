"""In Chromium: upload a file, see a refused row and a row needing a reason, give the reason, import."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.importer.conftest import csv_bytes, days, person  # noqa: F401 - days is a fixture
from titration.models import DoseEntry, Flag

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_prescriber_previews_gives_a_reason_and_imports(page, live_server, prescriber, clinic, days, tmp_path):  # noqa: F811
    path = tmp_path / "north.csv"
    path.write_bytes(
        csv_bytes(
            [
                {**person(), "date": days(3), "dose_mg": "1", "pain_score": 6},
                {**person(), "date": days(2), "dose_mg": "1,5"},
                {**person(), "date": days(1), "dose_mg": "6"},
            ]
        )
    )
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.get_by_role("link", name="Import").click()
    page.set_input_files("#id_file", str(path))
    page.get_by_role("button", name="Preview the import").click()
    expect(page.locator("#import-refused")).to_contain_text("Use a decimal point, not a comma")
    expect(page.locator("#import-confirm")).to_contain_text("6 mg is above the LDN range of 0.5–4.5 mg.")
    expect(page.locator("#import-confirm")).to_contain_text("no: give a reason")
    assert not DoseEntry.objects.exists()
    page.fill("#reason-4", "Specialist advice: 6 mg for a trial week")
    page.get_by_role("button", name="Preview again with these reasons").click()
    expect(page.locator("#import-flags")).to_contain_text("6 mg is above the LDN range")
    expect(page.locator("#import-summary")).to_contain_text("2 dose entries")
    assert not DoseEntry.objects.exists()
    page.get_by_role("button", name="Import 2 dose entries and 1 check-in").click()
    expect(page.locator("#import-result")).to_contain_text("2 dose entries and 1 check-in added, 1 row refused")
    entry = DoseEntry.objects.get(dose_mg=6)
    assert entry.override_reason == "Specialist advice: 6 mg for a trial week"
    assert Flag.objects.filter(dose_entry=entry, kind="out_of_range").exists()
    assert not page.js_errors
