"""The import pages over HTTP: template downloads, upload, preview with reasons, commit, and who may."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.urls import resolve, reverse
from openpyxl import load_workbook

from importer.batches import ALREADY_COMMITTED, REASONS_CHANGED
from importer.models import ImportBatch
from importer.services import PREVIEW_CHANGED
from patients.models import Patient
from tests.conftest import client_for
from titration import services
from titration.models import DoseEntry, Flag

from .conftest import csv_bytes, person, upload

pytestmark = pytest.mark.django_db


def test_the_public_paths_round_trip():
    assert reverse("importer:upload") == "/import/"
    assert reverse("importer:template-csv") == "/import/template.csv"
    assert reverse("importer:template-xlsx") == "/import/template.xlsx"
    assert resolve("/import/7/").kwargs == {"batch_id": 7}


def test_the_csv_template_downloads_fills_and_imports(prescriber_client, clinic, days):
    response = prescriber_client.get("/import/template.csv")
    assert response["Content-Disposition"] == 'attachment; filename="ldn-import-template.csv"'
    template = response.content.decode()
    filled = template + csv_bytes([{**person("OWN-1"), "date": days(2), "dose_mg": "1"}]).decode().split("\n", 1)[1]
    batch_page = upload(prescriber_client, filled.encode(), "filled.csv", clinic=clinic)
    batch = ImportBatch.objects.get()
    assert batch_page["Location"] == f"/import/{batch.pk}/"
    page = prescriber_client.get(batch_page["Location"]).content.decode()
    assert "EXAMPLE-001" in page and "OWN-1" in page and "new: registered" in page
    assert not Patient.objects.filter(mrn="OWN-1").exists()  # a preview saves nothing
    prescriber_client.post(f"/import/{batch.pk}/", {"action": "commit"})
    assert set(Patient.objects.filter(clinic=clinic).values_list("mrn", flat=True)) == {
        "EXAMPLE-001",
        "EXAMPLE-002",
        "OWN-1",
    }
    batch.refresh_from_db()
    assert (batch.status, batch.entries_added, batch.patients_created, batch.rows_refused) == ("committed", 8, 3, 0)


def test_the_xlsx_template_holds_the_columns_and_the_examples(prescriber_client, clinic):
    response = prescriber_client.get("/import/template.xlsx")
    workbook = load_workbook(io.BytesIO(response.content))
    rows = list(workbook["Doses"].iter_rows(values_only=True))
    assert rows[0][:3] == ("mrn", "given_name", "family_name")
    assert len(rows) == 8
    upload(prescriber_client, response.content, "template.xlsx", clinic=clinic)
    batch = ImportBatch.objects.get()
    assert (batch.preview["entries"], batch.preview["checkins"], batch.preview["refused_count"]) == (7, 5, 0)


def test_a_reason_given_in_the_preview_is_previewed_before_it_is_imported(prescriber_client, clinic, days):
    data = csv_bytes(
        [
            {**person(), "date": days(3), "dose_mg": "1"},
            {**person(), "date": days(2), "dose_mg": "15"},
            {**person(), "date": days(1), "dose_mg": "abc"},
        ]
    )
    upload(prescriber_client, data, clinic=clinic)
    batch = ImportBatch.objects.get()
    page = prescriber_client.get(f"/import/{batch.pk}/").content.decode()
    assert 'name="reason-3"' in page and "no: give a reason" in page
    assert "abc: Enter the dose as a number of mg" in page
    response = prescriber_client.post(
        f"/import/{batch.pk}/", {"action": "commit", "reason-3": "Prescribed 15 mg by mistake, checked"}, follow=True
    )
    assert REASONS_CHANGED in response.content.decode()
    assert not DoseEntry.objects.exists()
    assert "Critical" in response.content.decode()  # the slip's flag, now that it would be imported
    prescriber_client.post(
        f"/import/{batch.pk}/", {"action": "commit", "reason-3": "Prescribed 15 mg by mistake, checked"}
    )
    entry = DoseEntry.objects.get(dose_mg=15)
    assert entry.override_reason == "Prescribed 15 mg by mistake, checked"
    assert Flag.objects.filter(dose_entry=entry, kind="tenfold_change").exists()
    assert DoseEntry.objects.count() == 2
    again = prescriber_client.post(f"/import/{batch.pk}/", {"action": "commit", "reason-3": "x"}, follow=True)
    assert ALREADY_COMMITTED in again.content.decode()
    assert DoseEntry.objects.count() == 2


def test_a_record_changed_since_the_preview_is_not_imported_blindly(prescriber_client, clinic, patient, days):
    upload(prescriber_client, csv_bytes([{"mrn": "A-100", "date": days(1), "dose_mg": "1"}]), clinic=clinic)
    batch = ImportBatch.objects.get()
    services.dose_record(patient=patient, by=patient.prescriber, taken_on=days(1), dose_mg=Decimal("2"))
    response = prescriber_client.post(f"/import/{batch.pk}/", {"action": "commit"}, follow=True)
    assert PREVIEW_CHANGED in response.content.decode()
    assert DoseEntry.objects.get().dose_mg == 2
    batch.refresh_from_db()
    assert batch.status == "previewed" and batch.preview["refused_count"] == 1


def test_staff_get_403_on_every_import_page(staff_client, clinic, days):
    for path in ("/import/", "/import/template.csv", "/import/template.xlsx"):
        assert staff_client.get(path).status_code == 403
    response = upload(staff_client, csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}]), clinic=clinic)
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_a_prescriber_cannot_import_into_another_clinic(outsider_client, clinic, days):
    response = upload(outsider_client, csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}]), clinic=clinic)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ImportBatch.objects.exists() and not Patient.objects.filter(mrn="IMP-1").exists()


def test_another_user_s_import_is_a_404(prescriber_client, outsider, clinic, days, prescriber):
    upload(prescriber_client, csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}]), clinic=clinic)
    batch = ImportBatch.objects.get()
    other = client_for(outsider)
    assert other.get(f"/import/{batch.pk}/").status_code == 404
    assert other.post(f"/import/{batch.pk}/", {"action": "commit"}).status_code == 404
    assert not Patient.objects.filter(mrn="IMP-1").exists()


def test_the_navigation_offers_import_to_prescribers_only(prescriber_client, staff_client):
    assert 'href="/import/"' in prescriber_client.get("/").content.decode()
    assert 'href="/import/"' not in staff_client.get("/").content.decode()
