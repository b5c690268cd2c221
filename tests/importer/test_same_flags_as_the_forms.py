"""The same days through the dose and check-in forms and through the import give the same record and flags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from importer.formats import parse
from importer.services import import_run
from titration import services
from titration.models import DoseEntry, Flag

from .conftest import csv_bytes

pytestmark = pytest.mark.django_db

REASON = "Checked against the prescription"
# (days ago, dose or "missed", pain score or None, side effects): a titration with a slip, a jump, a missed run,
# an off-schedule run, a gap and a restart above the starting dose, an ultra-low dose.
COURSE = [
    *[(ago, "0.5", None, "") for ago in range(40, 33, -1)],
    *[(ago, "1", 6 if ago == 31 else None, "") for ago in range(33, 29, -1)],
    (29, "2.5", None, ""),
    (28, "1", 5, "Insomnia (severe)"),
    (27, "missed", None, ""),
    (26, "missed", None, ""),
    (25, "missed", None, ""),
    (24, "1", None, ""),
    (23, "10", None, ""),
    (22, "1", None, ""),
    (21, "1.5", 4, "Vivid dreams (mild)"),
    (20, "0.75", None, ""),
    (19, "0.75", None, ""),
    (9, "1.5", None, ""),
    (8, "0.5", None, ""),
    (7, "0.25", None, ""),
    *[(ago, "0.5", 3 if ago == 2 else None, "") for ago in range(6, 0, -1)],
]


def _plan(patient, prescriber, days):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=days(40),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )


def _through_the_forms(client, patient, days):
    for ago, dose, pain, effects in COURSE:
        data = {
            "taken_on": days(ago).isoformat(),
            "dose_mg": "" if dose == "missed" else dose,
            "formulation": "capsule",
            "status": "missed" if dose == "missed" else "taken",
        }
        response = client.post(f"/patients/{patient.pk}/doses/new/", data)
        if response.status_code == 200:  # asked for a confirmation: confirm with the reason, as a prescriber would
            assert "confirm_out_of_range" in response.content.decode()
            response = client.post(
                f"/patients/{patient.pk}/doses/new/",
                {**data, "confirm_out_of_range": "on", "override_reason": REASON, "confirmed_dose_mg": dose},
            )
        assert response.status_code == 302, (ago, dose)
        if pain is not None:
            checkin = {"checked_on": days(ago).isoformat(), "pain_score": pain}
            for part in filter(None, effects.split(";")):
                label, severity = part.strip().rstrip(")").split(" (")
                kind = {"Insomnia": "insomnia", "Vivid dreams": "vivid_dreams"}[label]
                checkin[f"side_effect_{kind}"] = severity
            assert client.post(f"/patients/{patient.pk}/checkins/new/", checkin).status_code == 302


def _rows(mrn, days):
    rows = []
    for ago, dose, pain, effects in COURSE:
        row = {"mrn": mrn, "date": days(ago), "pain_score": "" if pain is None else pain, "side_effects": effects}
        row |= {"status": "missed"} if dose == "missed" else {"dose_mg": dose, "formulation": "capsule"}
        rows.append(row)
    return rows


def _record(patient):
    entries = [
        (
            e.taken_on,
            e.dose_mg,
            e.status,
            e.scheduled_dose_mg,
            {**e.course_after, "plan": "the patient's plan"},  # each patient has their own plan id
            e.override_reason,
            e.plan.start_date,
        )
        for e in DoseEntry.objects.filter(patient=patient).order_by("taken_on")
    ]
    flags = sorted(
        (
            str(f.dose_entry.taken_on if f.dose_entry else f.checkin.checked_on),
            f.kind,
            f.severity,
            f.message,
            f.closed_as,
        )
        for f in Flag.objects.filter(patient=patient).select_related("dose_entry", "checkin")
    )
    return entries, flags


def test_the_import_raises_exactly_the_flags_the_forms_raise(make_patient, prescriber, prescriber_client, days, clinic):
    by_form = make_patient(mrn="FORM-1")
    by_import = make_patient(mrn="IMPORT-1")
    for patient in (by_form, by_import):
        _plan(patient, prescriber, days)
    _through_the_forms(prescriber_client, by_form, days)
    rows = _rows("IMPORT-1", days)
    reasons = {number: REASON for number, (_, dose, _, _) in enumerate(COURSE, start=2) if dose in ("10", "0.25")}
    report = import_run(
        clinic=clinic,
        by=prescriber,
        parsed=parse(csv_bytes(rows), "c.csv"),
        file_name="c.csv",
        reasons=reasons,
        commit=True,
    )
    assert report.refused_count == 0 and report.confirm_pending == 0
    form_entries, form_flags = _record(by_form)
    import_entries, import_flags = _record(by_import)
    assert import_entries == form_entries
    assert import_flags == form_flags
    kinds = {flag[1] for flag in form_flags}
    assert {"tenfold_change", "out_of_range", "step_too_large", "adherence", "off_schedule", "restart_high"} <= kinds
    assert "severe_side_effect" in kinds
    assert len(report.flags) == len(form_flags)  # the preview lists each of them


def test_a_row_that_needs_a_reason_is_held_back_as_the_form_holds_it(make_patient, prescriber, days, clinic):
    patient = make_patient(mrn="IMPORT-2")
    _plan(patient, prescriber, days)
    report = import_run(
        clinic=clinic,
        by=prescriber,
        parsed=parse(csv_bytes(_rows("IMPORT-2", days)), "c.csv"),
        file_name="c.csv",
        commit=False,
    )
    slip, ultra_low = (number for number, (_, dose, _, _) in enumerate(COURSE, start=2) if dose in ("10", "0.25"))
    assert [(c["row"], c["dose"]) for c in report.confirm] == [(slip, "10 mg"), (ultra_low, "0.25 mg")]
    assert report.confirm_pending == 2
