"""An MRN is unique within a clinic regardless of letter case: in the form, the service and the database."""

import datetime
import threading

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from patients.forms import DUPLICATE_MRN
from patients.migration_helpers import refuse_mrn_clashes
from patients.models import Patient
from patients.services import MRN_CONSTRAINT, DuplicateMrnError, patient_save
from tests.conftest import client_for

from .test_patient_views import patient_data, with_prescriber


@pytest.mark.django_db
def test_creating_dup_1_then_DUP_1_is_refused_with_the_form_message(prescriber_client, prescriber, fibromyalgia):
    first = prescriber_client.post(
        reverse("patients:create"), with_prescriber(patient_data(fibromyalgia, mrn="dup-1"), prescriber)
    )
    second = prescriber_client.post(
        reverse("patients:create"), with_prescriber(patient_data(fibromyalgia, mrn="DUP-1"), prescriber)
    )
    assert first.status_code == 302
    assert second.status_code == 200
    assert second.context["form"].errors["mrn"] == [DUPLICATE_MRN]
    assert list(Patient.objects.values_list("mrn", flat=True)) == ["dup-1"]


@pytest.mark.django_db
def test_the_database_refuses_the_same_mrn_in_another_case_but_not_in_another_clinic(
    make_patient, other_clinic, outsider
):
    make_patient(mrn="dup-1")
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        make_patient(mrn="DUP-1")
    assert MRN_CONSTRAINT in str(refused.value)
    make_patient(mrn="DUP-1", clinic=other_clinic, prescriber=outsider)


@pytest.mark.django_db
def test_the_service_maps_the_constraint_to_a_duplicate_mrn_error(make_patient, clinic, prescriber, fibromyalgia):
    make_patient(mrn="dup-1")
    clash = Patient(
        clinic=clinic,
        mrn="Dup-1",
        given_name="Grace",
        family_name="Hopper",
        date_of_birth=datetime.date(1975, 12, 9),
        prescriber=prescriber,
    )
    with pytest.raises(DuplicateMrnError):
        patient_save(patient=clash, diagnoses={fibromyalgia: None}, by=prescriber)
    assert Patient.objects.count() == 1


@pytest.mark.django_db
def test_the_migration_stops_and_lists_existing_clashes_rather_than_rename_them(make_patient):
    make_patient(mrn="dup-1")
    make_patient(mrn="other")
    with connection.cursor() as cursor:  # as before the migration; the test's transaction puts it back
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(MRN_CONSTRAINT)}")
    make_patient(mrn="DUP-1")
    with pytest.raises(RuntimeError) as stopped:
        refuse_mrn_clashes(apps, None)
    assert "clinic “North Pain Clinic”: DUP-1, dup-1" in str(stopped.value)
    assert "other" not in str(stopped.value)
    assert "Rename them first" in str(stopped.value)
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == ["DUP-1", "dup-1", "other"]


@pytest.mark.django_db
def test_the_migration_check_passes_without_clashes(make_patient):
    make_patient(mrn="dup-1")
    make_patient(mrn="dup-2")
    refuse_mrn_clashes(apps, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions (PostgreSQL)")
def test_racing_dup_1_and_DUP_1_store_one_patient_and_the_other_gets_the_form_message(
    prescriber, fibromyalgia, monkeypatch
):
    from patients.forms import PatientForm

    both_checked = threading.Barrier(2, timeout=10)
    real_clean = PatientForm.clean

    def clean_then_wait(self):
        cleaned = real_clean(self)
        both_checked.wait()  # both requests have passed the form's "MRN taken?" check
        return cleaned

    monkeypatch.setattr(PatientForm, "clean", clean_then_wait)
    outcomes: dict[str, object] = {}

    def submit(mrn: str) -> None:
        try:
            response = client_for(prescriber).post(
                reverse("patients:create"), with_prescriber(patient_data(fibromyalgia, mrn=mrn), prescriber)
            )
            errors = response.context["form"].errors.get("mrn") if response.status_code == 200 else None
            outcomes[mrn] = (response.status_code, errors)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(mrn,)) for mrn in ("dup-1", "DUP-1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values(), key=str) == sorted([(302, None), (200, [DUPLICATE_MRN])], key=str)
    assert Patient.objects.count() == 1
