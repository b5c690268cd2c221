"""The app's own export imported back, and the import_doses command."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from importer.formats import VOIDED_IN_EXPORT, parse
from importer.models import ImportBatch
from importer.services import import_run
from patients.models import Membership, Patient
from patients.roles import Role
from tests.conftest import make_user
from titration import services
from titration.models import CheckIn, DoseEntry

from .conftest import csv_bytes, person

pytestmark = pytest.mark.django_db


def _history(patient, prescriber, days):
    services.dose_record(patient=patient, by=prescriber, taken_on=days(4), dose_mg=Decimal("0.5"), notes="=cmd|x")
    services.dose_record(patient=patient, by=prescriber, taken_on=days(3), dose_mg=None, status="missed")
    wrong, _ = services.dose_record(patient=patient, by=prescriber, taken_on=days(2), dose_mg=Decimal("1"))
    services.dose_void(entry=wrong, by=prescriber, reason="typo")
    services.dose_record(
        patient=patient, by=prescriber, taken_on=days(2), dose_mg=Decimal("6"), confirmed=True, override_reason="-ok"
    )
    services.checkin_record(
        patient=patient, by=prescriber, checked_on=days(2), pain_score=6, side_effects=[("insomnia", "severe", "")]
    )


def _live(patient):
    doses = [
        (e.taken_on, e.dose_mg, e.status, e.notes, e.override_reason)
        for e in DoseEntry.objects.live().filter(patient=patient).order_by("taken_on")
    ]
    checkins = [
        (c.checked_on, c.pain_score, [(s.kind, s.severity) for s in c.side_effects.all()])
        for c in CheckIn.objects.live().filter(patient=patient)
    ]
    flags = sorted((f.kind, f.severity, f.message) for f in patient.flags.filter(acknowledged_at__isnull=True))
    return doses, checkins, flags


def test_a_patient_s_export_imports_into_another_clinic_unchanged(
    patient, prescriber, prescriber_client, other_clinic, make_patient, days
):
    _history(patient, prescriber, days)
    exported = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in prescriber_client.get(f"/patients/{patient.pk}/export.csv").streaming_content
    )
    Membership.objects.create(user=prescriber, clinic=other_clinic)
    twin = make_patient(clinic=other_clinic, mrn="TWIN-1")
    parsed = parse(exported, f"patient-{patient.pk}.csv", mrn="twin-1")
    assert parsed.format == "export"
    report = import_run(clinic=other_clinic, by=prescriber, parsed=parsed, file_name="x.csv", reasons={}, commit=True)
    assert [item["message"] for item in report.skipped] == [VOIDED_IN_EXPORT]
    assert _live(twin) == _live(patient)
    assert DoseEntry.objects.get(patient=twin, taken_on=days(4)).notes == "=cmd|x"  # the export's ' is taken off


def test_an_export_imported_after_voiding_restores_the_record(patient, prescriber, prescriber_client, days, clinic):
    _history(patient, prescriber, days)
    before = _live(patient)
    exported = b"".join(prescriber_client.get(f"/patients/{patient.pk}/export.csv").streaming_content)
    for entry in DoseEntry.objects.live().filter(patient=patient):
        services.dose_void(entry=entry, by=prescriber, reason="re-import")
    for checkin in CheckIn.objects.live().filter(patient=patient):
        services.checkin_void(checkin=checkin, by=prescriber, reason="re-import")
    parsed = parse(exported, "export.csv", mrn="A-100")
    import_run(clinic=clinic, by=prescriber, parsed=parsed, file_name="export.csv", commit=True)
    assert _live(patient) == before
    again = import_run(clinic=clinic, by=prescriber, parsed=parsed, file_name="export.csv", commit=True)
    assert (again.entries, again.checkins) == (0, 0)


def test_an_export_is_matched_by_the_mrn_it_names_or_the_one_given(
    prescriber_client, clinic, patient, prescriber, days
):
    from tests.importer.conftest import upload

    services.dose_record(patient=patient, by=prescriber, taken_on=days(1), dose_mg=Decimal("1"))
    exported = b"".join(prescriber_client.get(f"/patients/{patient.pk}/export.csv").streaming_content)
    response = upload(prescriber_client, exported, "export.csv", clinic=clinic)
    assert response.status_code == 302, response.content.decode()[-3000:]
    preview = ImportBatch.objects.get().preview
    assert preview["format"] == "export" and preview["patients"][0]["mrn"] == "A-100"
    assert preview["already"] == 1  # the dose is in the record already
    table = exported.decode().split("\n", 5)[5]  # the table without the rows naming the patient
    response = upload(prescriber_client, table.encode(), "table.csv", clinic=clinic)
    assert "give the patient&#x27;s MRN on the upload form" in response.content.decode()
    report = import_run(clinic=clinic, by=prescriber, parsed=parse(exported, "e.csv", mrn="NOPE"), file_name="e.csv")
    assert "MRN NOPE is not a patient of the clinic" in report.refused[0]["message"]


def test_the_command_dry_runs_unless_told_to_commit(tmp_path, clinic, prescriber, days):
    path = tmp_path / "north.csv"
    path.write_bytes(
        csv_bytes([{**person(), "date": days(2), "dose_mg": "1"}, {**person(), "date": days(1), "dose_mg": "9"}])
    )
    out = StringIO()
    call_command("import_doses", str(path), "--clinic", clinic.name, "--no-progress", stdout=out)
    assert "Dry run, nothing saved. Would import: 1 dose entries" in out.getvalue()
    assert "row 3 needs a reason" in out.getvalue()
    assert not Patient.objects.filter(mrn="IMP-1").exists()
    call_command("import_doses", str(path), "--clinic", clinic.name, "--commit", "--no-progress", stdout=StringIO())
    entry = DoseEntry.objects.get()
    assert entry.history.get().history_change_reason == "imported from north.csv row 2 by dr.lee"
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.entries_added, batch.patients_created) == ("committed", 1, 1)


def test_the_command_names_the_importer_when_the_clinic_has_several_prescribers(tmp_path, clinic, prescriber, days):
    make_user("dr.second", Role.PRESCRIBER, clinic)
    path = tmp_path / "north.csv"
    path.write_bytes(csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}]))
    with pytest.raises(CommandError, match="--user"):
        call_command("import_doses", str(path), "--clinic", clinic.name, "--no-progress")
    path.write_bytes(b"mrn,dose_mg\nA,1\n")
    with pytest.raises(CommandError, match="The file has no “date” column"):
        call_command("import_doses", str(path), "--clinic", clinic.name, "--user", "dr.lee", "--no-progress")
    assert not Patient.objects.filter(mrn="IMP-1").exists()
