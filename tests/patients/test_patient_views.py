import datetime

import pytest
from django.test import Client
from django.urls import reverse

from patients.concurrency import version_of
from patients.forms import BIRTH_IN_FUTURE, BIRTH_TOO_EARLY, DUPLICATE_MRN
from patients.models import Condition, Patient
from tests.dbstate import database_unchanged


def patient_data(condition: Condition, **overrides):
    data = {
        "mrn": "NEW-1",
        "given_name": "Grace",
        "family_name": "Hopper",
        "date_of_birth": "1975-12-09",
        "sex": "female",
        "conditions": [condition.pk],
        f"diagnosed_on_{condition.pk}": "2019-05-01",
        "is_active": "on",
        "notes": "",
    }
    data.update(overrides)
    return data


def with_prescriber(data, prescriber):
    return {**data, "prescriber": prescriber.pk}


@pytest.mark.django_db
class TestCreate:
    def test_a_prescriber_registers_a_patient_with_two_conditions(
        self, prescriber_client: Client, prescriber, clinic, fibromyalgia, crohns
    ):
        data = with_prescriber(patient_data(fibromyalgia), prescriber)
        data["conditions"] = [fibromyalgia.pk, crohns.pk]
        response = prescriber_client.post(reverse("patients:create"), data)
        patient = Patient.objects.get(mrn="NEW-1")
        assert response.status_code == 302
        assert response["Location"] == reverse("titration:patient", args=[patient.pk])
        assert patient.clinic == clinic
        assert patient.prescriber == prescriber
        diagnoses = {d.condition: d.diagnosed_on for d in patient.diagnoses.all()}
        assert diagnoses == {fibromyalgia: datetime.date(2019, 5, 1), crohns: None}

    def test_the_new_patient_page_shows_identity_age_and_conditions(self, prescriber_client, prescriber, fibromyalgia):
        prescriber_client.post(reverse("patients:create"), with_prescriber(patient_data(fibromyalgia), prescriber))
        patient = Patient.objects.get(mrn="NEW-1")
        page = prescriber_client.get(reverse("titration:patient", args=[patient.pk])).content.decode()
        assert "Grace Hopper" in page
        assert "MRN NEW-1" in page
        assert f"age {patient.age}" in page
        assert "Fibromyalgia" in page

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"date_of_birth": "2999-01-01"}, "date_of_birth", BIRTH_IN_FUTURE),
            ({"date_of_birth": "1899-12-31"}, "date_of_birth", BIRTH_TOO_EARLY),
            ({"date_of_birth": "not a date"}, "date_of_birth", "Enter a valid date."),
            ({"given_name": "   "}, "given_name", "This field is required."),
            ({"family_name": ""}, "family_name", "This field is required."),
            ({"given_name": "x" * 101}, "given_name", "Ensure this value has at most 100 characters"),
            ({"mrn": "M" * 33}, "mrn", "Ensure this value has at most 32 characters"),
            ({"conditions": []}, "conditions", "Choose at least one condition."),
            ({"conditions": [999999]}, "conditions", "999999 is not one of the available conditions."),
            ({"conditions": ["abc"]}, "conditions", "is not a valid condition"),
        ],
    )
    def test_bad_input_is_explained_on_the_form_and_nothing_is_stored(
        self, prescriber_client, prescriber, fibromyalgia, overrides, field, message
    ):
        data = with_prescriber(patient_data(fibromyalgia), prescriber)
        data.update(overrides)
        response = prescriber_client.post(reverse("patients:create"), data)
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors[field])
        assert not Patient.objects.filter(given_name="Grace").exists()

    def test_a_duplicate_mrn_in_the_same_clinic_is_refused(self, prescriber_client, prescriber, patient, fibromyalgia):
        data = with_prescriber(patient_data(fibromyalgia, mrn=patient.mrn.lower()), prescriber)
        response = prescriber_client.post(reverse("patients:create"), data)
        assert response.status_code == 200
        assert response.context["form"].errors["mrn"] == [DUPLICATE_MRN]
        assert Patient.objects.count() == 1

    def test_the_same_mrn_is_allowed_in_another_clinic(self, outsider_client, outsider, patient, fibromyalgia):
        data = with_prescriber(patient_data(fibromyalgia, mrn=patient.mrn), outsider)
        response = outsider_client.post(reverse("patients:create"), data)
        assert response.status_code == 302
        assert Patient.objects.filter(mrn=patient.mrn).count() == 2

    def test_a_diagnosis_date_before_birth_is_refused(self, prescriber_client, prescriber, fibromyalgia):
        data = with_prescriber(
            patient_data(fibromyalgia, **{f"diagnosed_on_{fibromyalgia.pk}": "1970-01-01"}), prescriber
        )
        response = prescriber_client.post(reverse("patients:create"), data)
        assert response.status_code == 200
        assert not Patient.objects.exists()

    def test_staff_cannot_create_patients(self, staff_client, prescriber, fibromyalgia):
        assert staff_client.get(reverse("patients:create")).status_code == 403
        response = staff_client.post(
            reverse("patients:create"), with_prescriber(patient_data(fibromyalgia), prescriber)
        )
        assert response.status_code == 403
        assert not Patient.objects.exists()


@pytest.mark.django_db
class TestEdit:
    def test_a_prescriber_edits_a_patient_and_changes_conditions(self, prescriber_client, prescriber, patient, crohns):
        data = with_prescriber(patient_data(crohns, mrn=patient.mrn, given_name="Augusta"), prescriber)
        data["change_reason"] = "preferred name"
        data["version"] = version_of(patient)
        response = prescriber_client.post(reverse("patients:edit", args=[patient.pk]), data)
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.given_name == "Augusta"
        assert [d.condition for d in patient.diagnoses.all()] == [crohns]

    def test_the_edit_form_is_prefilled(self, prescriber_client, patient, fibromyalgia):
        form = prescriber_client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
        assert form.initial["mrn"] == patient.mrn
        assert form.fields["conditions"].initial == [fibromyalgia.pk]

    def test_editing_to_another_patients_mrn_is_refused(
        self, prescriber_client, prescriber, make_patient, fibromyalgia
    ):
        make_patient(mrn="ONE")
        second = make_patient(mrn="TWO")
        data = with_prescriber(patient_data(fibromyalgia, mrn="ONE", change_reason="typo"), prescriber)
        data["version"] = version_of(second)
        response = prescriber_client.post(reverse("patients:edit", args=[second.pk]), data)
        assert response.context["form"].errors["mrn"] == [DUPLICATE_MRN]
        second.refresh_from_db()
        assert second.mrn == "TWO"

    def test_staff_cannot_edit(self, staff_client, prescriber, patient, fibromyalgia):
        data = with_prescriber(patient_data(fibromyalgia, given_name="Changed"), prescriber)
        assert staff_client.get(reverse("patients:edit", args=[patient.pk])).status_code == 403
        assert staff_client.post(reverse("patients:edit", args=[patient.pk]), data).status_code == 403
        patient.refresh_from_db()
        assert patient.given_name == "Ada"


@pytest.mark.django_db
class TestClinicIsolation:
    @pytest.mark.parametrize("path", ["/patients/{pk}/", "/patients/{pk}/edit/"])
    def test_another_clinics_patient_is_not_found(self, outsider_client, outsider, patient, fibromyalgia, path):
        url = path.format(pk=patient.pk)
        assert outsider_client.get(url).status_code == 404
        data = with_prescriber(patient_data(fibromyalgia, given_name="Hacked"), outsider)
        with database_unchanged(outsider):
            assert outsider_client.post(url, data).status_code in (404, 405)
        patient.refresh_from_db()
        assert patient.given_name == "Ada"

    def test_the_list_shows_only_the_users_clinic(self, outsider_client, staff_client, patient):
        assert patient.mrn not in outsider_client.get(reverse("patients:list")).content.decode()
        assert patient.mrn in staff_client.get(reverse("patients:list")).content.decode()

    def test_a_missing_patient_is_not_found(self, prescriber_client, db):
        assert prescriber_client.get("/patients/999999/").status_code == 404


@pytest.mark.django_db
class TestSearch:
    @pytest.fixture
    def patients(self, make_patient, crohns):
        hopper = make_patient(mrn="Q-555", given_name="Grace", family_name="Hopper")
        lovelace = make_patient(mrn="Q-777", given_name="Ada", family_name="Lovelace", is_active=False)
        lovelace.diagnoses.create(condition=crohns)
        return hopper, lovelace

    def names(self, client, query):
        page = client.get(reverse("patients:list"), query).context["page"]
        return sorted(p.family_name for p in page)

    def test_search_by_mrn(self, staff_client, patients):
        assert self.names(staff_client, {"q": "q-555"}) == ["Hopper"]

    def test_search_by_name_fragment(self, staff_client, patients):
        assert self.names(staff_client, {"q": "opp"}) == ["Hopper"]

    def test_filter_by_condition_and_status(self, staff_client, patients, crohns):
        assert self.names(staff_client, {"condition": crohns.pk, "status": "all"}) == ["Lovelace"]
        assert self.names(staff_client, {"status": "inactive"}) == ["Lovelace"]
        assert self.names(staff_client, {}) == ["Hopper"]

    @pytest.mark.parametrize("query", [{"condition": "abc"}, {"status": "nonsense"}, {"page": "x"}, {"q": "x" * 500}])
    def test_nonsense_filters_never_break_the_page(self, staff_client, patients, query):
        assert staff_client.get(reverse("patients:list"), query).status_code == 200

    def test_the_list_is_paginated(self, staff_client, make_patient):
        for _ in range(30):
            make_patient()
        first = staff_client.get(reverse("patients:list")).context["page"]
        assert len(first.object_list) == 25
        assert len(staff_client.get(reverse("patients:list"), {"page": 2}).context["page"].object_list) == 5


def test_patient_urls_round_trip():
    assert reverse("patients:create") == reverse("patients:create")
    assert reverse("patients:list") == reverse("patients:list")
    assert reverse("patients:edit", args=[7]) == "/patients/7/edit/"
    assert reverse("titration:patient", args=[7]) == "/patients/7/"
