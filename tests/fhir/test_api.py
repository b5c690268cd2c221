"""The API over HTTP: read, search by patient and date, paging, $everything, errors, headers, the access log."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import resolve, reverse

from patients.models import AccessLog
from titration.models import DoseEntry

from .conftest import validate


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    return json.loads(response.content)


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def test_the_api_urls_round_trip():
    assert reverse("fhir:metadata") == "/fhir/metadata"
    assert reverse("fhir:read", args=["Patient", "7"]) == "/fhir/Patient/7"
    assert reverse("fhir:search", args=["Observation"]) == "/fhir/Observation"
    assert reverse("fhir:everything", args=[7]) == "/fhir/Patient/7/$everything"
    assert reverse("fhir:token") == "/fhir/auth/token"
    assert reverse("fhir:download", args=[7]) == "/patients/7/export.fhir.json"
    assert resolve("/fhir/Patient/7/$everything").url_name == "everything"


@pytest.mark.django_db
def test_a_patient_is_read_by_id_as_valid_fhir_json_never_cached(api: Client, record):
    patient = record["patient"]
    response = api.get(f"/fhir/Patient/{patient.pk}")
    assert response.status_code == 200
    resource = body(response)
    validate(resource)
    assert resource["id"] == str(patient.pk)
    assert response["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("resource_type", "key"),
    [
        ("MedicationRequest", "plan"),
        ("MedicationAdministration", "taken"),
        ("DetectedIssue", "open_flag"),
    ],
)
def test_each_type_is_read_by_id(api: Client, record, resource_type, key):
    response = api.get(f"/fhir/{resource_type}/{record[key].pk}")
    assert response.status_code == 200
    validate(body(response))


@pytest.mark.django_db
def test_observations_and_provenance_are_read_by_their_prefixed_ids(api: Client, record):
    pain = body(api.get(f"/fhir/Observation/pain-{record['checkin'].pk}"))
    assert pain["valueInteger"] == 6
    effect = record["checkin"].side_effects.first()
    assert body(api.get(f"/fhir/Observation/side-effect-{effect.pk}"))["id"] == f"side-effect-{effect.pk}"
    history_id = DoseEntry.history.filter(id=record["taken"].pk).get().history_id
    provenance = body(api.get(f"/fhir/Provenance/dose-{history_id}"))
    assert provenance["target"] == [{"reference": f"MedicationAdministration/{record['taken'].pk}"}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/fhir/Patient/999999", "/fhir/Observation/12", "/fhir/Observation/pain-x", "/fhir/Provenance/nope-1"]
)
def test_an_unknown_id_is_a_404_operation_outcome(api: Client, record, path):
    response = api.get(path)
    assert response.status_code == 404
    outcome = body(response)
    validate(outcome)
    assert outcome["issue"][0]["code"] == "not-found"


@pytest.mark.django_db
def test_an_unknown_type_or_address_is_a_404_operation_outcome(api: Client):
    for path in ["/fhir/Practitioner", "/fhir/Patient/1/extra", "/fhir/"]:
        response = api.get(path)
        assert response.status_code == 404, path
        assert body(response)["resourceType"] == "OperationOutcome"


@pytest.mark.django_db
def test_the_api_is_read_only(api: Client, record):
    response = api.post(f"/fhir/Patient/{record['patient'].pk}", data="{}", content_type="application/fhir+json")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert body(response)["issue"][0]["code"] == "not-supported"


@pytest.mark.django_db
def test_a_search_by_patient_returns_a_valid_searchset_bundle(api: Client, record):
    patient = record["patient"]
    response = api.get("/fhir/MedicationAdministration", {"patient": f"Patient/{patient.pk}"})
    bundle = body(response)
    validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 4
    expected = [str(e.pk) for e in DoseEntry.objects.filter(patient=patient).order_by("pk")]
    assert ids(bundle) == expected
    assert bundle["entry"][0]["fullUrl"] == f"http://testserver/fhir/MedicationAdministration/{expected[0]}"


@pytest.mark.django_db
def test_a_search_never_finds_another_clinics_patient(api: Client, record, make_patient, other_clinic, outsider):
    stranger = make_patient(clinic=other_clinic, prescriber=outsider, mrn="S-1")
    assert body(api.get("/fhir/Condition", {"patient": stranger.pk}))["total"] == 0
    assert str(stranger.pk) not in ids(body(api.get("/fhir/Patient")))
    assert api.get(f"/fhir/Patient/{stranger.pk}").status_code == 404
    assert api.get(f"/fhir/Patient/{stranger.pk}/$everything").status_code == 404
    condition = stranger.diagnoses.get()
    assert api.get(f"/fhir/Condition/{condition.pk}").status_code == 404


@pytest.mark.django_db
def test_a_patient_is_found_by_mrn_in_any_case_with_or_without_the_system(api: Client, record):
    patient = record["patient"]
    system = f"urn:ldn-tracker:clinic:{patient.clinic_id}:mrn"
    assert ids(body(api.get("/fhir/Patient", {"identifier": "a-100"}))) == [str(patient.pk)]
    assert ids(body(api.get("/fhir/Patient", {"identifier": f"{system}|A-100"}))) == [str(patient.pk)]
    assert body(api.get("/fhir/Patient", {"identifier": "urn:other|A-100"}))["total"] == 0
    assert ids(body(api.get("/fhir/Patient", {"_id": patient.pk}))) == [str(patient.pk)]


@pytest.mark.django_db
def test_a_search_by_date_takes_ge_and_le(api: Client, record):
    patient = record["patient"]
    taken_on = record["taken"].taken_on
    query = {"patient": patient.pk, "date": [f"ge{taken_on.isoformat()}", f"le{taken_on.isoformat()}"]}
    assert ids(body(api.get("/fhir/MedicationAdministration", query))) == [str(record["taken"].pk)]
    after = (taken_on + datetime.timedelta(days=1)).isoformat()
    later = ids(body(api.get("/fhir/MedicationAdministration", {"patient": patient.pk, "date": f"ge{after}"})))
    assert str(record["taken"].pk) not in later and len(later) == 3
    before = ids(body(api.get("/fhir/MedicationAdministration", {"effective-time": f"lt{after}"})))
    assert before == [str(record["taken"].pk)]


@pytest.mark.django_db
def test_a_date_of_a_month_or_a_year_is_the_whole_month_or_year(api: Client, record):
    taken_on = record["taken"].taken_on
    month = body(api.get("/fhir/MedicationAdministration", {"date": taken_on.strftime("%Y-%m")}))
    in_month = DoseEntry.objects.filter(taken_on__year=taken_on.year, taken_on__month=taken_on.month).count()
    assert month["total"] == in_month
    assert body(api.get("/fhir/MedicationAdministration", {"date": f"gt{taken_on.year}"}))["total"] == 0


@pytest.mark.django_db
def test_a_search_by_date_on_a_date_time_compares_the_clinics_days(api: Client, record, today):
    flags = record["patient"].flags.count()
    assert body(api.get("/fhir/DetectedIssue", {"date": f"ge{today.isoformat()}"}))["total"] == flags
    assert body(api.get("/fhir/Provenance", {"recorded": f"lt{today.isoformat()}"}))["total"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "query", "words"),
    [
        ("/fhir/Observation", {"code": "72514-3"}, "Unknown search parameter code"),
        ("/fhir/Observation", {"date": "yesterday"}, "Cannot read the date"),
        ("/fhir/Observation", {"date": "2024-02-30"}, "no such date"),
        ("/fhir/Observation", {"patient": "Group/1"}, "Cannot read the patient"),
        ("/fhir/Observation", {"patient": ["1", "2"]}, "Give patient once"),
        ("/fhir/Observation", {"_count": "-1"}, "_count must be a whole number"),
        ("/fhir/Observation", {"_count": "5000"}, "at most 1000"),
        ("/fhir/Observation", {"_format": "xml"}, "JSON only"),
        ("/fhir/Patient", {"date": "2024"}, "Unknown search parameter date"),
        ("/fhir/Patient/1/$everything", {"_type": "Practitioner"}, "Unknown resource type"),
    ],
)
def test_a_bad_search_parameter_is_a_400_operation_outcome(api: Client, record, path, query, words):
    response = api.get(path.replace("/1/", f"/{record['patient'].pk}/"), query)
    assert response.status_code == 400
    outcome = body(response)
    validate(outcome)
    assert outcome["issue"][0]["code"] == "invalid"
    assert words in outcome["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_a_search_is_paged_by_count_with_next_links_until_the_last_page(api: Client, record):
    patient = record["patient"]
    seen: list[str] = []
    url = f"/fhir/Provenance?patient={patient.pk}&_count=7"
    pages = 0
    while url:
        bundle = body(api.get(url))
        validate(bundle)
        pages += 1
        seen += ids(bundle)
        assert len(ids(bundle)) <= 7
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"].startswith("http://testserver/fhir/Provenance?")
        url = links.get("next", "")
        if url:
            assert parse_qs(urlparse(url).query)["patient"] == [str(patient.pk)]
    assert len(seen) == len(set(seen)) == bundle["total"]
    assert pages == -(-bundle["total"] // 7)


@pytest.mark.django_db
def test_count_zero_gives_only_the_total(api: Client, record):
    bundle = body(api.get("/fhir/Observation", {"_count": "0"}))
    assert bundle["total"] == 4  # two pain scores, two side effects
    assert "entry" not in bundle
    assert [link["relation"] for link in bundle["link"]] == ["self"]


@pytest.mark.django_db
def test_everything_returns_every_record_of_the_patient_in_pages(api: Client, record):
    patient = record["patient"]
    resources: list[dict[str, Any]] = []
    url = f"/fhir/Patient/{patient.pk}/$everything?_count=10"
    while url:
        bundle = body(api.get(url))
        validate(bundle)
        resources += [entry["resource"] for entry in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
    types = [resource["resourceType"] for resource in resources]
    assert types[0] == "Patient"
    assert types.count("MedicationAdministration") == 4
    assert types.count("MedicationRequest") == 2
    assert types.count("MedicationStatement") == 3
    assert types.count("Observation") == 4
    assert types.count("Condition") == 1
    assert types.count("DetectedIssue") == patient.flags.count()
    assert types.count("Provenance") > 10
    assert len(resources) == bundle["total"]
    for resource in resources:
        validate(resource)


@pytest.mark.django_db
def test_everything_takes_start_end_and_type(api: Client, record):
    patient = record["patient"]
    taken_on = record["taken"].taken_on.isoformat()
    query = {"start": taken_on, "end": taken_on, "_type": "Patient,MedicationAdministration"}
    bundle = body(api.get(f"/fhir/Patient/{patient.pk}/$everything", query))
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]] == [
        ("Patient", str(patient.pk)),
        ("MedicationAdministration", str(record["taken"].pk)),
    ]


@pytest.mark.django_db
def test_every_api_read_goes_into_the_access_log_under_the_clients_name(api: Client, record, ehr):
    patient = record["patient"]
    AccessLog.objects.all().delete()
    api.get(f"/fhir/Patient/{patient.pk}", REMOTE_ADDR="10.1.2.3")
    api.get("/fhir/Observation", {"patient": patient.pk})
    api.get("/fhir/Observation", {"patient": 999999})
    api.get(f"/fhir/Patient/{patient.pk}/$everything", {"_count": 5})
    logs = list(AccessLog.objects.order_by("pk"))
    assert [(log.action, log.patient_id, log.result_count) for log in logs] == [
        ("fhir_read", patient.pk, None),
        ("fhir_read", patient.pk, 4),
        ("fhir_read", None, 0),
        ("fhir_read", patient.pk, 5),
    ]
    assert {log.user.username for log in logs} == {"fhir.north-ehr"}
    assert logs[0].ip_address == "10.1.2.3"
    assert logs[0].get_action_display() == "Read through the FHIR API"


@pytest.mark.django_db
def test_a_search_across_patients_logs_one_row_per_patient_shown(api: Client, record, make_patient):
    other = make_patient(mrn="B-200")
    AccessLog.objects.all().delete()
    api.get("/fhir/Condition")
    assert sorted(AccessLog.objects.values_list("patient_id", "result_count")) == sorted(
        [(record["patient"].pk, 1), (other.pk, 1)]
    )
