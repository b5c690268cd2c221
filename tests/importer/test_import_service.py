"""The import service: the template's rows stored as the forms would store them, and the same flags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from importer import formats, services
from importer.formats import parse
from importer.services import import_run
from patients.models import Patient
from titration import rules
from titration.models import CheckIn, DoseEntry, Flag

from .conftest import csv_bytes, person

pytestmark = pytest.mark.django_db


def run(clinic, by, data, *, commit=True, name="doses.csv", reasons=None, mrn=""):
    return import_run(
        clinic=clinic, by=by, parsed=parse(data, name, mrn=mrn), file_name=name, commit=commit, reasons=reasons
    )


def test_a_template_file_registers_the_patient_and_stores_each_day(clinic, prescriber, days):
    data = csv_bytes(
        [
            {**person(), "date": days(3), "dose_mg": "0.5", "pain_score": 7},
            {**person(), "date": days(2), "status": "missed"},
            {**person(), "date": days(1), "dose_mg": "1", "pain_score": 6, "side_effects": "Insomnia (severe)"},
        ]
    )
    report = run(clinic, prescriber, data)
    patient = Patient.objects.get(clinic=clinic, mrn="IMP-1")
    assert patient.diagnoses.get().condition.name == "Fibromyalgia"
    assert patient.prescriber == prescriber
    entries = list(DoseEntry.objects.filter(patient=patient).order_by("taken_on"))
    assert [(e.status, e.dose_mg) for e in entries] == [("taken", Decimal("0.5")), ("missed", None), ("taken", 1)]
    assert CheckIn.objects.filter(patient=patient).count() == 2
    assert (report.entries, report.checkins, report.refused_count) == (3, 2, 0)
    assert Flag.objects.filter(patient=patient, kind="severe_side_effect").exists()


def test_every_record_s_audit_entry_names_the_file_the_row_and_the_user(clinic, prescriber, days):
    data = csv_bytes([{**person(), "date": days(2), "dose_mg": "1"}, {**person(), "date": days(1), "pain_score": 4}])
    run(clinic, prescriber, data, name="north.csv")
    entry = DoseEntry.objects.get()
    assert entry.history.get().history_change_reason == "imported from north.csv row 2 by dr.lee"
    assert entry.history.get().history_user == prescriber
    assert CheckIn.objects.get().history.get().history_change_reason == "imported from north.csv row 3 by dr.lee"
    assert (
        Patient.objects.get(mrn="IMP-1").history.get().history_change_reason
        == "imported from north.csv row 2 by dr.lee"
    )


def test_a_dry_run_saves_nothing_and_reports_what_it_would_add(clinic, prescriber, days):
    data = csv_bytes([{**person(), "date": days(2), "dose_mg": "1"}, {**person(), "date": days(1), "dose_mg": "15"}])
    report = run(clinic, prescriber, data, commit=False)
    assert not Patient.objects.filter(mrn="IMP-1").exists()
    assert not DoseEntry.objects.exists()
    assert report.patients == [
        {"mrn": "IMP-1", "name": "Import, Iris", "action": "create", "entries": 1, "checkins": 0}
    ]
    assert report.confirm_pending == 1
    assert report.confirm[0]["row"] == 3 and not report.confirm[0]["will_import"]
    assert "ten times or more above the previous dose of 1 mg" in report.confirm[0]["message"]


def test_a_reason_lets_a_dose_that_needs_a_confirmation_in_with_its_flag(clinic, prescriber, days):
    data = csv_bytes([{**person(), "date": days(2), "dose_mg": "1"}, {**person(), "date": days(1), "dose_mg": "6"}])
    report = run(clinic, prescriber, data, reasons={3: "Specialist trial dose"})
    entry = DoseEntry.objects.get(dose_mg=6)
    assert entry.override_reason == "Specialist trial dose"
    assert (
        entry.history.get().history_change_reason == "imported from doses.csv row 3 by dr.lee — Specialist trial dose"
    )
    assert {"row": 3, "mrn": "IMP-1", "date": days(1).isoformat(), "severity": "Warning"} | {
        "message": rules.out_of_range_message(Decimal("6"))
    } in report.flags
    assert Flag.objects.filter(dose_entry=entry, kind="out_of_range").exists()


def test_a_reason_in_the_file_counts_as_the_confirmation(clinic, prescriber, days):
    data = csv_bytes([{**person(), "date": days(1), "dose_mg": "0.25", "override_reason": "Ultra-low start"}])
    report = run(clinic, prescriber, data)
    assert DoseEntry.objects.get().override_reason == "Ultra-low start"
    assert report.confirm[0]["will_import"]


def test_an_existing_patient_is_matched_by_mrn_whatever_the_case(patient, prescriber, days, clinic):
    report = run(clinic, prescriber, csv_bytes([{"mrn": "a-100", "date": days(1), "dose_mg": "1"}]))
    assert report.patients[0]["action"] == "match"
    assert DoseEntry.objects.get().patient == patient


def test_a_known_mrn_with_another_name_or_birth_date_is_refused(patient, prescriber, days, clinic):
    data = csv_bytes([{**person("A-100"), "date": days(1), "dose_mg": "1"}])
    report = run(clinic, prescriber, data)
    assert (
        "MRN A-100 is Ada Byron, born 1980-06-01, in this clinic; the file says Iris Import"
        in report.refused[0]["message"]
    )
    assert not DoseEntry.objects.exists()


def test_a_new_patient_without_details_is_refused_with_what_is_missing(clinic, prescriber, days):
    report = run(clinic, prescriber, csv_bytes([{"mrn": "NEW-9", "date": days(1), "dose_mg": "1"}]))
    assert report.refused[0]["message"] == services.NEW_PATIENT_NEEDS.format(mrn="NEW-9")


def test_reimporting_the_same_file_adds_nothing(clinic, prescriber, days):
    data = csv_bytes(
        [
            {**person(), "date": days(3), "dose_mg": "0.5", "pain_score": 7},
            {**person(), "date": days(2), "dose_mg": "1"},
            {**person(), "date": days(1), "dose_mg": "15", "override_reason": "As prescribed"},
        ]
    )
    run(clinic, prescriber, data)
    counts = (Patient.objects.count(), DoseEntry.objects.count(), CheckIn.objects.count(), Flag.objects.count())
    history = DoseEntry.history.count()
    again = run(clinic, prescriber, data)
    assert (again.entries, again.checkins, again.already, again.refused_count) == (0, 0, 3, 0)
    assert (Patient.objects.count(), DoseEntry.objects.count(), CheckIn.objects.count(), Flag.objects.count()) == counts
    assert DoseEntry.history.count() == history


def test_a_different_dose_for_a_day_already_recorded_is_refused(patient, prescriber, days, clinic):
    from titration.services import DUPLICATE_DAY, dose_record

    dose_record(patient=patient, by=prescriber, taken_on=days(1), dose_mg=Decimal("1"))
    report = run(clinic, prescriber, csv_bytes([{"mrn": "A-100", "date": days(1), "dose_mg": "1.5"}]))
    assert report.refused == [{"row": 2, "mrn": "A-100", "message": DUPLICATE_DAY}]


def test_an_import_that_fails_midway_leaves_nothing_behind(clinic, prescriber, days, monkeypatch, patient):
    rows = [{**person(f"P-{n}"), "date": days(d), "dose_mg": "1"} for n in range(3) for d in (3, 2, 1)]
    rows.append({"mrn": "A-100", "date": days(1), "dose_mg": "1"})
    data = csv_bytes(rows)
    original = services.doses_record_many

    def write_then_fail(*, patient, **kwargs):  # the third patient's write fails, after two were written
        if patient.mrn == "P-2":
            raise RuntimeError("disk full")
        return original(patient=patient, **kwargs)

    monkeypatch.setattr(services, "doses_record_many", write_then_fail)
    before = (Patient.objects.count(), Patient.history.count(), DoseEntry.history.count(), Flag.objects.count())
    with pytest.raises(RuntimeError), transaction.atomic():
        run(clinic, prescriber, data)
    assert not DoseEntry.objects.exists()
    assert (Patient.objects.count(), Patient.history.count(), DoseEntry.history.count(), Flag.objects.count()) == before
    monkeypatch.setattr(services, "doses_record_many", original)
    assert run(clinic, prescriber, data).entries == 10  # and it goes in whole once the failure is gone


def test_only_a_prescriber_of_the_clinic_can_import_into_it(clinic, outsider, staff, days):
    data = csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}])
    for user in (outsider, staff):
        with pytest.raises(PermissionError):
            run(clinic, user, data)
    assert not Patient.objects.filter(mrn="IMP-1").exists()


def test_the_form_parses_the_template_dose_as_the_dose_form_does(clinic, prescriber, days):
    report = run(clinic, prescriber, csv_bytes([{**person(), "date": days(1), "dose_mg": "1,5"}]))
    assert report.refused[0]["message"] == f"1,5: {rules.DECIMAL_COMMA}"
    assert formats.DOSE_FIELDS["notes"].max_length == 2000


def test_a_long_file_name_and_reason_fit_the_audit_trail_s_column(clinic, prescriber, days):
    name = "north-clinic-titration-history-exported-from-the-old-spreadsheet-" + "x" * 80 + ".csv"
    data = csv_bytes([{**person(), "date": days(1), "dose_mg": "6"}])
    run(clinic, prescriber, data, name=name, reasons={2: "Specialist advice " * 10})
    reason = DoseEntry.objects.get().history.get().history_change_reason
    assert len(reason) <= 100
    assert reason.startswith("imported from north-clinic-titration")
    assert " row 2 by dr.lee — Specialist advice" in reason


def test_the_bulk_write_is_idempotent_and_atomic(clinic, prescriber, days, monkeypatch):
    """With every batch through the bulk path (COPY on PostgreSQL), not only the large ones."""
    from titration import bulk

    monkeypatch.setattr(bulk, "COPY_FROM_ROWS", 1)
    rows = [
        {**person(f"B-{n}"), "date": days(d), "dose_mg": "0.5", "pain_score": 5 if d % 2 else ""}
        for n in range(3)
        for d in range(12, 0, -1)
    ]
    data = csv_bytes(rows)
    original = services.doses_record_many

    def write_then_fail(*, patient, **kwargs):
        if patient.mrn == "B-2":
            raise RuntimeError("disk full")
        return original(patient=patient, **kwargs)

    monkeypatch.setattr(services, "doses_record_many", write_then_fail)
    with pytest.raises(RuntimeError), transaction.atomic():
        run(clinic, prescriber, data)
    assert not (DoseEntry.objects.exists() or DoseEntry.history.exists() or CheckIn.objects.exists())
    monkeypatch.setattr(services, "doses_record_many", original)
    report = run(clinic, prescriber, data)
    assert (report.entries, report.checkins) == (36, 18)
    entry = DoseEntry.objects.get(patient__mrn="B-1", taken_on=days(3))
    assert entry.history.get().history_change_reason == "imported from doses.csv row 23 by dr.lee"
    assert CheckIn.objects.get(patient__mrn="B-1", checked_on=days(3)).history.get().history_user == prescriber
    again = run(clinic, prescriber, data)
    assert (again.entries, again.checkins, again.already) == (0, 0, 36)
    assert (DoseEntry.history.count(), CheckIn.history.count()) == (36, 18)


def test_new_patients_registered_together_each_with_diagnoses_and_audit_rows_of_their_first_row(
    clinic, prescriber, days
):
    data = csv_bytes(
        [
            {**person("NEW-1"), "date": days(2), "dose_mg": "0.5"},
            {**person("NEW-2", given_name="Ola", conditions="Fibromyalgia"), "date": days(2), "dose_mg": "1"},
            {**person("NEW-1"), "date": days(1), "dose_mg": "0.5"},
        ]
    )
    report = run(clinic, prescriber, data, name="two.csv")
    assert report.patients_created == 2
    assert [p["action"] for p in report.patients] == ["create", "create"]
    for mrn, given, row in (("NEW-1", "Iris", 2), ("NEW-2", "Ola", 3)):
        patient = Patient.objects.get(clinic=clinic, mrn=mrn)
        assert (patient.given_name, patient.prescriber) == (given, prescriber)
        why = f"imported from two.csv row {row} by dr.lee"
        assert (patient.history.get().history_change_reason, patient.history.get().history_user) == (why, prescriber)
        diagnosis = patient.diagnoses.get()
        assert diagnosis.condition.name == "Fibromyalgia"
        assert (diagnosis.history.get().history_change_reason, diagnosis.history.get().history_user) == (
            why,
            prescriber,
        )
    assert DoseEntry.objects.filter(patient__clinic=clinic).count() == 3
