"""The app's records as FHIR R4 resources: plain functions from a model instance to a JSON-ready dict.

They run no query: what a function reads beyond the instance's own fields (a ``select_related`` or prefetched
relation, an annotation) is named in its docstring, and ``sources`` loads it. Mapping as in the clinical
reference, "FHIR R4 mapping" and "Codes": naltrexone is RxNorm 7243, pain is LOINC 72514-3, doses are in UCUM
``mg``, conditions carry ICD-10-CM and SNOMED CT. Doses are numbers without trailing zeros (0.5, 4): ISMP.
"""

from __future__ import annotations

import datetime
import functools
import re
from decimal import Decimal
from typing import Any

from medications.models import MedicationEntry
from patients.models import Diagnosis, Patient
from titration.models import CheckIn, DoseEntry, DoseStatus, Flag, Formulation, SideEffect, TitrationPlan
from titration.rules import PlanState, Severity, format_dose, format_number

Resource = dict[str, Any]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
ASSERTED_DATE = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
# The app's own code systems, for what no standard code fits: its flag kinds and side-effect list.
FLAG_KIND_SYSTEM = "urn:ldn-tracker:flag-kind"
SIDE_EFFECT_SYSTEM = "urn:ldn-tracker:side-effect"

NALTREXONE_RXNORM = "7243"
PAIN_LOINC = "72514-3"
PAIN_LOINC_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"

# SNOMED CT routes (FHIR's route-codes value set) and severities (its condition-severity value set).
ROUTES: dict[str, tuple[str, str]] = {
    Formulation.CAPSULE: ("26643006", "Oral route"),
    Formulation.LIQUID: ("26643006", "Oral route"),
    Formulation.SUBLINGUAL: ("37839007", "Sublingual route"),
}
SIDE_EFFECT_SEVERITY = {
    SideEffect.Severity.MILD: ("255604002", "Mild"),
    SideEffect.Severity.MODERATE: ("6736007", "Moderate"),
    SideEffect.Severity.SEVERE: ("24484000", "Severe"),
}
FORMULATION_TEXT: dict[str, str] = {
    Formulation.CAPSULE: "compounded capsule",
    Formulation.LIQUID: "oral liquid",
    Formulation.SUBLINGUAL: "sublingual drops",
}
# FHIR timing: HS is "before the hour of sleep" (written "bedtime", never HS, on every page: ISMP), MORN morning.
WHEN = {"bedtime": ("HS", "at bedtime"), "morning": ("MORN", "in the morning")}
DETECTED_ISSUE_SEVERITY = {Severity.CRITICAL: "high", Severity.WARNING: "moderate", Severity.INFO: "low"}
DETECTED_ISSUE_STATUS = {
    Flag.ClosedAs.OPEN: "final",
    Flag.ClosedAs.ACKNOWLEDGED: "final",
    Flag.ClosedAs.ENTRY_VOIDED: "entered-in-error",
    Flag.ClosedAs.REASSESSED: "cancelled",  # the record no longer supports it
    Flag.ClosedAs.OPIOID_ENDED: "cancelled",  # the contraindicating opioid ended
}
MITIGATION_TEXT = {
    Flag.ClosedAs.ACKNOWLEDGED: "Acknowledged",
    Flag.ClosedAs.ENTRY_VOIDED: "Closed: the entry was voided",
    Flag.ClosedAs.REASSESSED: "Closed: no longer supported by the record",
    Flag.ClosedAs.OPIOID_ENDED: "Closed: the opioid ended",
}
ML_PLACES = Decimal("0.01")
_ICD10_CODE = re.compile(r"\b([A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(-|\.-)?")


# --- small types -------------------------------------------------------------------------------------


def number(value: Decimal) -> int | float:
    """A JSON number without trailing zeros: Decimal("0.50") → 0.5, Decimal("4.00") → 4.

    Doses have at most 2 decimal places, which a float's shortest representation keeps exactly.
    """
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def mg(value: Decimal) -> Resource:
    return {"value": number(value), "unit": "mg", "system": UCUM, "code": "mg"}


def instant(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ref(resource_type: str, resource_id: object) -> Resource:
    return {"reference": f"{resource_type}/{resource_id}"}


def who(user: Any) -> Resource:
    """A person as a display-only reference: the username the pages and the audit trail show."""
    return {"display": user.get_username() if user is not None else "system"}


def coding(system: str, code: str, display: str = "") -> Resource:
    return {"system": system, "code": code, **({"display": display} if display else {})}


@functools.cache
def naltrexone(formulation: str, concentration: Decimal | None) -> Resource:
    """Naltrexone (RxNorm ingredient 7243) with the formulation, and the liquid's strength, as text.

    One dict per formulation and strength, shared by every resource that names it (never modified): a
    five-year record has thousands, and fewer objects mean fewer garbage collections while they are built.
    """
    text = "naltrexone"
    if formulation == Formulation.LIQUID and concentration:
        text += f" {format_number(concentration)} mg/mL"
    if formulation in FORMULATION_TEXT:
        text += f" {FORMULATION_TEXT[formulation]}"
    return {"coding": [coding(RXNORM, NALTREXONE_RXNORM, "naltrexone")], "text": text}


@functools.cache
def route(formulation: str) -> Resource | None:
    """The route of a formulation; shared, as ``naltrexone``."""
    if formulation not in ROUTES:
        return None
    code, display = ROUTES[formulation]
    return {"coding": [coding(SNOMED, code, display)]}


def liquid_volume(dose: Decimal, formulation: str, concentration: Decimal | None) -> str:
    """ " (1.5 mL of 1 mg/mL)" for a liquid dose, else "": dose in mg = volume in mL times concentration."""
    if formulation != Formulation.LIQUID or not concentration:
        return ""
    volume = (dose / concentration).quantize(ML_PLACES)
    return f" ({format_number(volume)} mL of {format_number(concentration)} mg/mL)"


def _drop_empty(resource: Resource) -> Resource:
    """FHIR forbids empty elements: leave out None, "" and [].

    For the few resources of a record (patient, conditions, plans, medications); those of each dose, check-in
    and flag are built without empty elements instead, as a five-year record has thousands of them.
    """
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


# --- Patient and Condition ---------------------------------------------------------------------------


def patient_resource(patient: Patient, *, mrn_system: str) -> Resource:
    """The patient, with the MRN as an identifier of the clinic's own system. Reads ``clinic`` and ``prescriber``."""
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "identifier": [
                {
                    "use": "usual",
                    "type": {"coding": [coding(V2_IDENTIFIER_TYPE, "MR", "Medical record number")]},
                    "system": mrn_system,
                    "value": patient.mrn,
                    "assigner": {"display": patient.clinic.name},
                }
            ],
            "active": patient.is_active,
            "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
            "gender": patient.sex or None,
            "birthDate": patient.date_of_birth.isoformat(),
            "generalPractitioner": [who(patient.prescriber)],
            "managingOrganization": {"display": patient.clinic.name},
        }
    )


def icd10_code(listed: str) -> str | None:
    """The one ICD-10-CM code a condition's reference row gives, or None when it lists several or none.

    "M79.7" → M79.7; "K50.-" (the category, subcodes unspecified) → K50. "E11.42 (type 2); E10.42 (type 1)"
    names alternatives the record does not choose between, so no code is claimed.
    """
    codes = {match.group(1) for match in _ICD10_CODE.finditer(listed)}
    return codes.pop() if len(codes) == 1 else None


def condition_resource(diagnosis: Diagnosis) -> Resource:
    """A diagnosis: ICD-10-CM and SNOMED CT codings from the condition reference. Reads ``condition``."""
    condition = diagnosis.condition
    codings = []
    if icd10 := icd10_code(condition.icd10_code):
        codings.append(coding(ICD10CM, icd10))
    if condition.snomed_code:
        codings.append(coding(SNOMED, condition.snomed_code))
    asserted = diagnosis.diagnosed_on
    return _drop_empty(
        {
            "resourceType": "Condition",
            "id": str(diagnosis.pk),
            # The day of diagnosis is when the condition was asserted, not its onset.
            "extension": [{"url": ASSERTED_DATE, "valueDateTime": asserted.isoformat()}] if asserted else [],
            "clinicalStatus": {"coding": [coding(CONDITION_CLINICAL, "active", "Active")]},
            "verificationStatus": {"coding": [coding(CONDITION_VERIFICATION, "confirmed", "Confirmed")]},
            "category": [{"coding": [coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}],
            "code": _drop_empty({"coding": codings, "text": condition.name}),
            "subject": ref("Patient", diagnosis.patient_id),
        }
    )


# --- MedicationRequest: the titration plan -----------------------------------------------------------


def titration_steps(plan: TitrationPlan) -> list[tuple[Decimal, datetime.date, datetime.date | None]]:
    """The plan as written: (dose, first day, last day) of each step; the last step (the target) has no end.

    Step k starts k times ``step_interval_days`` days after the start, one step toward the target each time, never
    past it (as ``titration.rules.scheduled_dose``). A plan without a step stays at its starting dose.
    """
    steps: list[tuple[Decimal, datetime.date, datetime.date | None]] = []
    dose, day = plan.starting_dose_mg, plan.start_date
    interval = datetime.timedelta(days=plan.step_interval_days)
    upward = plan.target_dose_mg >= plan.starting_dose_mg
    while True:
        following = (
            min(dose + plan.step_mg, plan.target_dose_mg) if upward else max(dose - plan.step_mg, plan.target_dose_mg)
        )
        if following == dose:
            steps.append((dose, day, None))
            return steps
        steps.append((dose, day, day + interval - datetime.timedelta(days=1)))
        dose, day = following, day + interval


def _state_now(plan: TitrationPlan, today: datetime.date) -> Any:
    """The plan's latest state change in force today, or None (titrating). Reads prefetched ``state_changes``."""
    current = None
    for change in plan.state_changes.all():
        if change.effective_on <= today:
            current = change
    return current


def medication_request_status(plan: TitrationPlan, state: str | None) -> str:
    """active (titrating or holding), on-hold (paused), stopped; a plan replaced by a newer one is completed."""
    if state == PlanState.STOPPED:
        return "stopped"
    if not plan.is_active:
        return "completed"
    return "on-hold" if state == PlanState.PAUSED else "active"


def medication_request(plan: TitrationPlan, *, today: datetime.date) -> Resource:
    """The titration plan, each step a sequenced ``dosageInstruction``.

    Reads ``created_by``, the prefetched ``state_changes`` and the annotation ``prior_plan_id`` (the plan it
    replaced). The states (hold, pause, stop) with their reasons are notes; the latest in force sets the status.
    """
    concentration = plan.liquid_concentration_mg_per_ml
    when, when_text = WHEN.get(plan.dosing_time, ("", ""))
    instructions = []
    for sequence, (dose, first, last) in enumerate(titration_steps(plan), start=1):
        span = f"from {first.isoformat()} to {last.isoformat()}" if last else f"from {first.isoformat()} on"
        repeat = _drop_empty(
            {
                "boundsPeriod": _drop_empty({"start": first.isoformat(), "end": last.isoformat() if last else None}),
                "frequency": 1,
                "period": 1,
                "periodUnit": "d",
                "when": [when] if when else [],
            }
        )
        volume = liquid_volume(dose, plan.formulation, concentration)
        instructions.append(
            _drop_empty(
                {
                    "sequence": sequence,
                    "text": f"{format_dose(dose)}{volume} once daily {when_text or 'at the agreed time'} {span}",
                    "timing": {"repeat": repeat},
                    "route": route(plan.formulation),
                    "doseAndRate": [
                        {"type": {"coding": [coding(DOSE_RATE_TYPE, "ordered", "Ordered")]}, "doseQuantity": mg(dose)}
                    ],
                }
            )
        )
    state = _state_now(plan, today)
    status = medication_request_status(plan, state.state if state else None)
    notes: list[Resource] = [{"text": plan.notes}] if plan.notes else []
    notes += [
        {
            "authorReference": who(change.changed_by),
            "time": instant(change.changed_at),
            "text": f"{PlanState(change.state).label} from {change.effective_on.isoformat()}: {change.reason}",
        }
        for change in plan.state_changes.all()
    ]
    prior = getattr(plan, "prior_plan_id", None)
    return _drop_empty(
        {
            "resourceType": "MedicationRequest",
            "id": str(plan.pk),
            "status": status,
            # Why it is paused or stopped; holding at the best-tolerated dose is the plan going on (a note).
            "statusReason": {"text": state.reason} if state and status in ("on-hold", "stopped") else None,
            "intent": "order",
            "medicationCodeableConcept": naltrexone(plan.formulation, concentration),
            "subject": ref("Patient", plan.patient_id),
            "authoredOn": instant(plan.created_at),
            "requester": who(plan.created_by),
            "note": notes,
            "dosageInstruction": instructions,
            "priorPrescription": ref("MedicationRequest", prior) if prior else None,
        }
    )


# --- MedicationAdministration, MedicationStatement ---------------------------------------------------


def medication_administration_status(entry: DoseEntry) -> str:
    if entry.voided_at is not None:
        return "entered-in-error"
    return "completed" if entry.status == DoseStatus.TAKEN else "not-done"


def medication_administration(entry: DoseEntry) -> Resource:
    """One day's dose: completed when taken, not-done when missed, entered-in-error when voided.

    Reads ``plan`` (for a liquid's concentration; select_related) and no field beyond ``sources.DOSE_FIELDS``
    (the only ones loaded). Each optional element is added only when it has a value, rather than dropped empty
    afterwards (``_drop_empty``): a five-year record has thousands.
    """
    plan = entry.plan
    concentration = plan.liquid_concentration_mg_per_ml if plan is not None else None
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": str(entry.pk),
        "status": medication_administration_status(entry),
    }
    if entry.status == DoseStatus.MISSED:
        resource["statusReason"] = [{"text": "Dose missed"}]
    resource["medicationCodeableConcept"] = naltrexone(entry.formulation, concentration)
    resource["subject"] = ref("Patient", entry.patient_id)
    resource["effectiveDateTime"] = entry.taken_on.isoformat()
    if entry.plan_id:
        resource["request"] = ref("MedicationRequest", entry.plan_id)
    notes = [{"text": entry.notes}] if entry.notes else []
    if entry.override_reason:
        notes.append({"text": f"Dose outside 0.5–4.5 mg confirmed: {entry.override_reason}"})
    if entry.voided_at is not None:
        notes.append({"time": instant(entry.voided_at), "text": f"Voided: {entry.void_reason}"})
    if notes:
        resource["note"] = notes
    if entry.dose_mg is not None:  # a missed dose has no dosage (FHIR: a dosage needs a dose or a rate)
        volume = liquid_volume(entry.dose_mg, entry.formulation, concentration)
        dosage: Resource = {"text": f"{format_dose(entry.dose_mg)}{volume}"}
        if (way := route(entry.formulation)) is not None:
            dosage["route"] = way
        dosage["dose"] = mg(entry.dose_mg)
        resource["dosage"] = dosage
    return resource


def medication_statement_status(medication: MedicationEntry, today: datetime.date) -> str:
    if medication.voided_at is not None:
        return "entered-in-error"
    if medication.stop_date is not None and medication.stop_date <= today:
        return "completed"
    return "active"


def medication_statement(medication: MedicationEntry, *, today: datetime.date) -> Resource:
    """An entry of the medication list, ATC-coded when it was chosen from the opioid list. Reads ``reference``."""
    medicine: Resource = {"text": medication.name}
    if medication.reference is not None:
        medicine["coding"] = [coding(ATC, medication.reference.atc_code, medication.reference.name)]
    period: Resource = {"start": medication.start_date.isoformat()}
    if medication.stop_date is not None:
        # stop_date is the first day without it; a FHIR period ends on its last day.
        last = max(medication.start_date, medication.stop_date - datetime.timedelta(days=1))
        period["end"] = last.isoformat()
    dosage = " ".join(part for part in (medication.dose, medication.route) if part)
    notes = []
    if medication.voided_at is not None:
        notes.append({"time": instant(medication.voided_at), "text": f"Voided: {medication.void_reason}"})
    return _drop_empty(
        {
            "resourceType": "MedicationStatement",
            "id": str(medication.pk),
            "status": medication_statement_status(medication, today),
            "statusReason": [{"text": medication.stop_reason}] if medication.stop_reason else [],
            "medicationCodeableConcept": medicine,
            "subject": ref("Patient", medication.patient_id),
            "effectivePeriod": period,
            "dateAsserted": instant(medication.recorded_at),
            "note": notes,
            "dosage": [{"text": dosage}] if dosage else [],
        }
    )


# --- Observation: pain and side effects --------------------------------------------------------------

SURVEY = {"coding": [coding(OBSERVATION_CATEGORY, "survey", "Survey")]}


def pain_observation_id(checkin_id: int) -> str:
    return f"pain-{checkin_id}"


def side_effect_observation_id(side_effect_id: int) -> str:
    return f"side-effect-{side_effect_id}"


def _observation_status(checkin: CheckIn) -> str:
    return "entered-in-error" if checkin.voided_at is not None else "final"


def pain_observation(checkin: CheckIn) -> Resource:
    """A check-in's pain on the 0–10 numeric rating scale: LOINC 72514-3, ``valueInteger``."""
    resource: Resource = {
        "resourceType": "Observation",
        "id": pain_observation_id(checkin.pk),
        "status": _observation_status(checkin),
        "category": [SURVEY],
        "code": {"coding": [coding(LOINC, PAIN_LOINC, PAIN_LOINC_DISPLAY)], "text": "Pain (0–10)"},
        "subject": ref("Patient", checkin.patient_id),
        "effectiveDateTime": checkin.checked_on.isoformat(),
        "issued": instant(checkin.recorded_at),
        "valueInteger": checkin.pain_score,
    }
    notes = [{"text": checkin.notes}] if checkin.notes else []
    if checkin.voided_at is not None:
        notes.append({"time": instant(checkin.voided_at), "text": f"Voided: {checkin.void_reason}"})
    if notes:
        resource["note"] = notes
    return resource


def side_effect_observation(effect: SideEffect) -> Resource:
    """One side effect reported at a check-in: the effect is the code, its severity (SNOMED CT) the value.

    One Observation per side effect, rather than a component of the pain Observation, so that each can be
    searched for and named by a flag. Reads ``checkin`` (select_related).
    """
    checkin = effect.checkin
    severity_code, severity_display = SIDE_EFFECT_SEVERITY[SideEffect.Severity(effect.severity)]
    return {  # every element always has a value
        "resourceType": "Observation",
        "id": side_effect_observation_id(effect.pk),
        "status": _observation_status(checkin),
        "category": [SURVEY],
        "code": {
            "coding": [coding(SIDE_EFFECT_SYSTEM, effect.kind, str(effect.get_kind_display()))],
            "text": f"Side effect: {effect.label}",
        },
        "subject": ref("Patient", checkin.patient_id),
        "effectiveDateTime": checkin.checked_on.isoformat(),
        "issued": instant(checkin.recorded_at),
        "valueCodeableConcept": {"coding": [coding(SNOMED, severity_code, severity_display)]},
        "derivedFrom": [ref("Observation", pain_observation_id(checkin.pk))],
    }


# --- DetectedIssue: flags ----------------------------------------------------------------------------


def detected_issue(flag: Flag) -> Resource:
    """A flag: severity high/moderate/low from critical/warning/info; it implicates the dose or the check-in.

    Reads ``acknowledged_by`` (select_related).
    """
    kind = Flag.Kind(flag.kind)
    resource: Resource = {
        "resourceType": "DetectedIssue",
        "id": str(flag.pk),
        "status": DETECTED_ISSUE_STATUS[Flag.ClosedAs(flag.closed_as)],
        "code": {"coding": [coding(FLAG_KIND_SYSTEM, kind.value, kind.label)], "text": kind.label},
        "severity": DETECTED_ISSUE_SEVERITY[Severity(flag.severity)],
        "patient": ref("Patient", flag.patient_id),
        "identifiedDateTime": instant(flag.created_at),
    }
    implicated = []
    if flag.dose_entry_id:
        implicated.append(ref("MedicationAdministration", flag.dose_entry_id))
    if flag.checkin_id:
        implicated.append(ref("Observation", pain_observation_id(flag.checkin_id)))
    if implicated:
        resource["implicated"] = implicated
    if flag.message:
        resource["detail"] = flag.message
    if flag.acknowledged_at is not None:
        action = MITIGATION_TEXT.get(Flag.ClosedAs(flag.closed_as), "Closed")
        text = f"{action}: {flag.acknowledgement_note}" if flag.acknowledgement_note else action
        resource["mitigation"] = [
            {"action": {"text": text}, "date": instant(flag.acknowledged_at), "author": who(flag.acknowledged_by)}
        ]
    return resource
