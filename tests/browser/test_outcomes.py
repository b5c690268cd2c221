"""The clinic outcomes page in Chromium: axe finds nothing serious or critical, on a phone and on a desktop."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from tests.conftest import PASSWORD
from titration.models import CheckIn, DoseEntry, PlanStateChange, SideEffect, StopReason, TitrationPlan

from .conftest import sign_in
from .test_accessibility import audit_page


@pytest.fixture
def clinic_with_outcomes(make_patient, prescriber, today):
    """Eight patients started 120 days ago, every day taken; four responders, one stopped for side effects."""
    for n in range(8):
        patient = make_patient(given_name=f"Outcome{n}")
        start = today - datetime.timedelta(days=120)
        plan = TitrationPlan.objects.create(
            patient=patient,
            preset="low_slow",
            start_date=start,
            starting_dose_mg=Decimal("0.5"),
            step_mg=Decimal("0.5"),
            step_interval_days=7,
            target_dose_mg=Decimal("3"),
            created_by=prescriber,
        )
        DoseEntry.objects.bulk_create(
            DoseEntry(
                patient=patient,
                plan=plan,
                taken_on=start + datetime.timedelta(days=d),
                dose_mg=min(Decimal("0.5") * (d // 7 + 1), Decimal("3")),
                recorded_by=prescriber,
            )
            for d in range(120)
        )
        for d, pain in ((0, 8), (70, 6), (77, 3 if n < 4 else 8), (84, 3 if n < 4 else 8)):
            checkin = CheckIn.objects.create(
                patient=patient, checked_on=start + datetime.timedelta(days=d), pain_score=pain, recorded_by=prescriber
            )
            if d == 0 and n % 2:
                SideEffect.objects.create(checkin=checkin, kind="nausea", severity="mild")
        if n == 7:
            PlanStateChange.objects.create(
                patient=patient,
                plan=plan,
                state="stopped",
                effective_on=today - datetime.timedelta(days=3),
                reason="nausea",
                stop_reason=StopReason.SIDE_EFFECTS,
                changed_by=prescriber,
            )


@pytest.mark.parametrize("width", [1366, 390])
def test_the_outcomes_page_has_no_serious_or_critical_violations(
    page, live_server, prescriber, clinic_with_outcomes, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, prescriber.username, PASSWORD)
    page.goto(f"{live_server.url}/outcomes/")
    page.wait_for_selector("#headline")
    assert "8 of 8 patients" in page.locator("#started").inner_text()
    for summary in page.locator("details > summary").all():  # the tables behind the plots are audited open
        summary.click()
    blocking = audit_page(page, f"outcomes ({width} px)")
    assert not blocking
    too_wide = page.evaluate(
        """width => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""",
        width,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, too_wide  # no sideways page scroll
