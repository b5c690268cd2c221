"""Each record as its FHIR resource: the codes of the clinical reference, statuses, and R4B validity."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from fhir_api import mapping
from fhir_api.provenance import AUDITED, provenance
from fhir_api.sources import SOURCES, Context, mrn_system, scoped
from medications.models import MedicationEntry
from patients.models import Condition, Diagnosis
from titration import services
from titration.models import CheckIn, DoseEntry, Flag, SideEffect, TitrationPlan
from titration.rules import Severity

from .conftest import validate


def one(resource_type: str, resource_id: str, record_clinic: int) -> dict:
    today = timezone.localdate()
    for source in SOURCES[resource_type]:
        pk = source.pk_of(resource_id)
        if pk is not None:
            row = scoped(source, clinic_id=record_clinic, pk=pk).first()
            if row is not None:
                return source.to_resource(row, Context(today=today))
    raise AssertionError(f"{resource_type}/{resource_id} not found")


@pytest.mark.django_db
def test_a_patient_has_the_mrn_as_an_identifier_of_the_clinics_own_system(record):
    patient = record["patient"]
    resource = mapping.patient_resource(patient, mrn_system=mrn_system(patient.clinic_id))
    validate(resource)
    (identifier,) = resource["identifier"]
    assert identifier["system"] == f"urn:ldn-tracker:clinic:{patient.clinic_id}:mrn"
    assert identifier["value"] == "A-100"
    assert identifier["type"]["coding"][0]["code"] == "MR"
    assert resource["name"] == [{"use": "official", "family": "Byron", "given": ["Ada"]}]
    assert resource["birthDate"] == "1980-06-01"
    assert "gender" not in resource  # not recorded: left out rather than guessed


@pytest.mark.django_db
def test_the_mrn_system_follows_the_setting(record, settings):
    settings.FHIR_MRN_SYSTEM = "https://ldn.example.org/fhir/sid/clinic-{clinic_id}-mrn"
    patient = record["patient"]
    assert mrn_system(patient.clinic_id) == f"https://ldn.example.org/fhir/sid/clinic-{patient.clinic_id}-mrn"


@pytest.mark.django_db
def test_a_condition_is_coded_in_icd_10_cm_and_snomed_ct(record):
    diagnosis = record["patient"].diagnoses.select_related("condition").get()
    resource = mapping.condition_resource(diagnosis)
    validate(resource)
    assert resource["code"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.7"},
        {"system": "http://snomed.info/sct", "code": "203082005"},
    ]
    assert resource["code"]["text"] == "Fibromyalgia"
    assert resource["extension"][0]["valueDateTime"] == "2020-01-01"


@pytest.mark.parametrize(
    ("listed", "code"),
    [
        ("M79.7", "M79.7"),
        ("K50.-", "K50"),
        ("B02.29", "B02.29"),
        ("E11.42 (type 2); E10.42 (type 1)", None),
        ("G90.50; G90.511, G90.512, G90.513 (upper limb R/L/both)", None),
        ("", None),
    ],
)
def test_a_condition_claims_an_icd_10_cm_code_only_when_its_reference_gives_one(listed, code):
    assert mapping.icd10_code(listed) == code


@pytest.mark.django_db
def test_a_condition_listing_several_icd_codes_keeps_snomed_and_its_name(patient):
    crps = Condition.objects.get(name="Complex regional pain syndrome type I")
    diagnosis = Diagnosis.objects.create(patient=patient, condition=crps)
    resource = mapping.condition_resource(Diagnosis.objects.select_related("condition").get(pk=diagnosis.pk))
    validate(resource)
    assert resource["code"]["coding"] == [{"system": "http://snomed.info/sct", "code": "128200000"}]
    assert "extension" not in resource  # no day of diagnosis recorded


@pytest.mark.django_db
def test_a_titration_plan_is_a_medication_request_with_one_sequenced_instruction_per_step(record):
    plan = record["plan"]
    resource = one("MedicationRequest", str(plan.pk), plan.patient.clinic_id)
    validate(resource)
    assert resource["medicationCodeableConcept"]["coding"] == [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7243", "display": "naltrexone"}
    ]
    assert resource["medicationCodeableConcept"]["text"] == "naltrexone 0.5 mg/mL oral liquid"
    steps = resource["dosageInstruction"]
    assert [step["sequence"] for step in steps] == [1, 2, 3, 4, 5]
    assert [step["doseAndRate"][0]["doseQuantity"]["value"] for step in steps] == [1, 1.5, 2, 2.5, 3]
    assert steps[0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 1,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    first, last = steps[0]["timing"]["repeat"], steps[-1]["timing"]["repeat"]
    assert first["when"] == ["HS"] and first["frequency"] == 1 and first["periodUnit"] == "d"
    start = plan.start_date
    assert first["boundsPeriod"] == {
        "start": start.isoformat(),
        "end": (start + datetime.timedelta(days=6)).isoformat(),
    }
    assert last["boundsPeriod"] == {"start": (start + datetime.timedelta(days=28)).isoformat()}  # the target: held
    assert steps[1]["text"].startswith("1.5 mg (3 mL of 0.5 mg/mL) once daily at bedtime")


@pytest.mark.django_db
def test_the_medication_request_status_follows_the_plan_state(record):
    plan, first = record["plan"], record["first_plan"]
    paused = one("MedicationRequest", str(plan.pk), plan.patient.clinic_id)
    assert paused["status"] == "on-hold"
    assert paused["statusReason"] == {"text": "nausea"}
    assert paused["note"][-1]["text"].startswith("Paused from")
    replaced = one("MedicationRequest", str(first.pk), plan.patient.clinic_id)
    assert replaced["status"] == "completed"
    assert paused["priorPrescription"] == {"reference": f"MedicationRequest/{first.pk}"}
    assert "priorPrescription" not in replaced


@pytest.mark.parametrize(
    ("state", "active", "status"),
    [
        (None, True, "active"),
        ("holding", True, "active"),
        ("paused", True, "on-hold"),
        ("stopped", True, "stopped"),
        (None, False, "completed"),
        ("stopped", False, "stopped"),
    ],
)
def test_each_plan_state_has_its_medication_request_status(state, active, status):
    assert mapping.medication_request_status(TitrationPlan(is_active=active), state) == status


def test_a_plan_without_a_step_is_one_instruction_at_its_starting_dose():
    plan = TitrationPlan(
        start_date=datetime.date(2026, 1, 1),
        starting_dose_mg=Decimal("1.5"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    assert mapping.titration_steps(plan) == [(Decimal("1.5"), datetime.date(2026, 1, 1), None)]


def test_a_downward_plan_steps_down_to_its_target():
    plan = TitrationPlan(
        start_date=datetime.date(2026, 1, 1),
        starting_dose_mg=Decimal("3"),
        step_mg=Decimal("1"),
        step_interval_days=14,
        target_dose_mg=Decimal("1.5"),
    )
    assert [dose for dose, _, _ in mapping.titration_steps(plan)] == [Decimal("3"), Decimal("2"), Decimal("1.5")]


@pytest.mark.django_db
def test_each_dose_entry_is_a_medication_administration_with_its_status(record):
    clinic = record["patient"].clinic_id
    taken = one("MedicationAdministration", str(record["taken"].pk), clinic)
    missed = one("MedicationAdministration", str(record["missed"].pk), clinic)
    voided = one("MedicationAdministration", str(record["voided"].pk), clinic)
    for resource in (taken, missed, voided):
        validate(resource)
    assert taken["status"] == "completed"
    assert taken["dosage"]["dose"] == {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert taken["dosage"]["text"] == "1 mg (2 mL of 0.5 mg/mL)"
    assert taken["effectiveDateTime"] == record["taken"].taken_on.isoformat()
    assert taken["request"] == {"reference": f"MedicationRequest/{record['plan'].pk}"}
    assert missed["status"] == "not-done"
    assert missed["statusReason"] == [{"text": "Dose missed"}]
    assert "dosage" not in missed
    assert voided["status"] == "entered-in-error"
    assert voided["note"][-1]["text"] == "Voided: transcription error"


def test_doses_are_numbers_without_trailing_zeros():
    assert [mapping.number(Decimal(v)) for v in ("0.50", "4.00", "1.25", "10", "0.05")] == [0.5, 4, 1.25, 10, 0.05]
    assert isinstance(mapping.number(Decimal("4.00")), int)


@pytest.mark.django_db
def test_the_medication_list_is_medication_statements_active_completed_or_entered_in_error(record, today):
    medications = record["medications"]
    clinic = record["patient"].clinic_id
    statuses = {key: one("MedicationStatement", str(entry.pk), clinic)["status"] for key, entry in medications.items()}
    assert statuses == {"current": "active", "ended": "completed", "voided": "entered-in-error"}
    ended = one("MedicationStatement", str(medications["ended"].pk), clinic)
    validate(ended)
    # The stop date is the first day without it: the period ends the day before.
    assert ended["effectivePeriod"]["end"] == (medications["ended"].stop_date - datetime.timedelta(days=1)).isoformat()
    assert ended["statusReason"] == [{"text": "before LDN"}]


@pytest.mark.django_db
def test_a_medication_chosen_from_the_opioid_list_carries_its_atc_code(patient, staff, today):
    from medications.models import OpioidIngredient
    from medications.services import medication_record

    tramadol = OpioidIngredient.objects.get(name="tramadol")
    entry = medication_record(patient=patient, by=staff, reference=tramadol, start_date=today)
    resource = mapping.medication_statement(
        MedicationEntry.objects.select_related("reference").get(pk=entry.pk), today=today
    )
    validate(resource)
    assert resource["medicationCodeableConcept"]["coding"] == [
        {"system": "http://www.whocc.no/atc", "code": "N02AX02", "display": "tramadol"}
    ]


@pytest.mark.django_db
def test_pain_is_an_observation_coded_loinc_72514_3_with_an_integer_value(record):
    checkin = record["checkin"]
    resource = mapping.pain_observation(checkin)
    validate(resource)
    assert resource["id"] == f"pain-{checkin.pk}"
    assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
    assert resource["code"]["coding"][0]["code"] == "72514-3"
    assert resource["valueInteger"] == 6
    assert resource["status"] == "final"
    voided = mapping.pain_observation(CheckIn.objects.get(pk=record["voided_checkin"].pk))
    assert voided["status"] == "entered-in-error"


@pytest.mark.django_db
def test_each_side_effect_is_an_observation_with_its_severity_in_snomed_ct(record):
    effects = SideEffect.objects.select_related("checkin").filter(checkin=record["checkin"]).order_by("kind")
    resources = [mapping.side_effect_observation(effect) for effect in effects]
    for resource in resources:
        validate(resource)
    nausea, dreams = resources  # ordered by kind: nausea, vivid_dreams
    assert nausea["code"]["coding"][0] == {
        "system": "urn:ldn-tracker:side-effect",
        "code": "nausea",
        "display": "Nausea / GI discomfort",
    }
    assert nausea["valueCodeableConcept"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}
    ]
    assert dreams["valueCodeableConcept"]["coding"][0]["code"] == "255604002"  # mild
    assert nausea["derivedFrom"] == [{"reference": f"Observation/pain-{record['checkin'].pk}"}]


@pytest.mark.django_db
def test_a_flag_is_a_detected_issue_with_severity_status_and_what_it_implicates(record):
    open_flag = Flag.objects.select_related("acknowledged_by").get(pk=record["open_flag"].pk)
    resource = mapping.detected_issue(open_flag)
    validate(resource)
    assert resource["status"] == "final"
    assert resource["severity"] == "moderate"  # warning
    assert resource["implicated"] == [{"reference": f"MedicationAdministration/{record['outside'].pk}"}]
    assert "mitigation" not in resource
    acknowledged = mapping.detected_issue(
        Flag.objects.select_related("acknowledged_by").get(pk=record["acknowledged_flag"].pk)
    )
    validate(acknowledged)
    assert acknowledged["implicated"] == [{"reference": f"Observation/pain-{record['checkin'].pk}"}]
    assert acknowledged["mitigation"][0]["author"] == {"display": "dr.lee"}
    assert acknowledged["mitigation"][0]["action"]["text"].startswith("Acknowledged")
    voided = mapping.detected_issue(
        Flag.objects.select_related("acknowledged_by").get(dose_entry=record["voided"], kind="tenfold_change")
    )
    assert voided["status"] == "entered-in-error"
    assert voided["severity"] == "high"  # critical


@pytest.mark.parametrize(
    ("severity", "expected"), [(Severity.CRITICAL, "high"), (Severity.WARNING, "moderate"), (Severity.INFO, "low")]
)
def test_flag_severities_map_to_high_moderate_and_low(severity, expected):
    assert mapping.DETECTED_ISSUE_SEVERITY[severity] == expected


@pytest.mark.parametrize(
    ("closed_as", "status"),
    [("", "final"), ("acknowledged", "final"), ("entry_voided", "entered-in-error"), ("reassessed", "cancelled")],
)
def test_a_flags_status_follows_how_it_was_closed(closed_as, status):
    assert mapping.DETECTED_ISSUE_STATUS[Flag.ClosedAs(closed_as)] == status


@pytest.mark.django_db
def test_provenance_says_who_recorded_and_who_voided_a_dose_and_why(record):
    audited = next(a for a in AUDITED if a.model is DoseEntry)
    rows = DoseEntry.history.filter(id=record["voided"].pk).select_related("history_user").order_by("history_id")
    created, voided = (provenance(row, audited) for row in rows)
    for resource in (created, voided):
        validate(resource)
        assert resource["target"] == [{"reference": f"MedicationAdministration/{record['voided'].pk}"}]
        assert resource["agent"][0]["who"] == {"display": "dr.lee"}
    assert created["activity"]["coding"][0]["code"] == "CREATE"
    assert voided["activity"]["coding"][0]["code"] == "UPDATE"
    assert voided["reason"] == [{"text": "transcription error"}]


@pytest.mark.django_db
def test_a_plan_state_change_is_provenance_of_its_medication_request(record):
    audited = next(a for a in AUDITED if a.prefix == "plan-state")
    row = record["state"].history.select_related("history_user").get()
    resource = provenance(row, audited)
    validate(resource)
    assert resource["target"] == [{"reference": f"MedicationRequest/{record['plan'].pk}"}]
    assert resource["activity"]["coding"][0]["code"] == "UPDATE"
    assert resource["reason"] == [{"text": "nausea"}]


@pytest.mark.django_db
def test_mapping_runs_no_query(record, django_assert_num_queries, today):
    entry = DoseEntry.objects.select_related("plan").get(pk=record["taken"].pk)
    flag = Flag.objects.select_related("acknowledged_by").get(pk=record["acknowledged_flag"].pk)
    with django_assert_num_queries(0):
        mapping.medication_administration(entry)
        mapping.detected_issue(flag)
        mapping.pain_observation(record["checkin"])


@pytest.mark.django_db
def test_each_source_loads_every_field_its_mapping_reads(record, django_assert_num_queries, today):
    """The sources load only some columns of the largest tables: a field left out would cost a query per row."""
    context = Context(today=today)
    for sources in SOURCES.values():
        for source in sources:
            rows = list(scoped(source, clinic_id=record["patient"].clinic_id, patient_id=record["patient"].pk))
            assert rows, source
            with django_assert_num_queries(0):
                for row in rows:
                    source.to_resource(row, context)


@pytest.mark.django_db
def test_holding_at_the_best_tolerated_dose_keeps_the_request_active_with_a_note(record, prescriber):
    services.plan_state_set(patient=record["patient"], by=prescriber, state="holding", reason="best tolerated")
    plan = record["plan"]
    resource = one("MedicationRequest", str(plan.pk), plan.patient.clinic_id)
    validate(resource)
    assert resource["status"] == "active"
    assert "statusReason" not in resource
    assert resource["note"][-1]["text"].startswith("Holding at the current dose from")
    assert resource["note"][-1]["text"].endswith(": best tolerated")
