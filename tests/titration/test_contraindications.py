"""Both directions of the contraindication check: an opioid recorded while LDN is active, and a plan set or
restarted while an opioid is current. The flag is derived: ending the opioid closes it as "opioid ended"."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from medications import services as medication_services
from medications.models import MedicationEntry, SafetyProfile
from medications.rules import HYPERSENSITIVITY_WARNING, PAEDIATRIC_WARNING, PREGNANCY_WARNING
from tests.dbstate import database_unchanged
from titration import rules, services
from titration.models import Flag
from titration.rules import FlagKind, PlanState, Severity

pytestmark = pytest.mark.django_db

TRAMADOL_CRITICAL = (
    "Tramadol (opioid) is recorded as current while LDN is active: naltrexone blocks opioid analgesia and can "
    "precipitate withdrawal."
)


def plan_data(today: datetime.date, **extra: str) -> dict[str, str]:
    return {
        "preset": "low_slow",
        "start_date": today.isoformat(),
        "starting_dose_mg": "0.5",
        "step_mg": "0.5",
        "step_interval_days": "7",
        "target_dose_mg": "4.5",
        "formulation": "capsule",
        "dosing_time": "bedtime",
        **extra,
    }


def set_plan(patient, by, today, **extra):
    return services.plan_set(
        patient=patient,
        by=by,
        start_date=today - datetime.timedelta(days=3),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        **extra,
    )


def tramadol(patient, by, today, name="tramadol 50 mg"):
    return medication_services.medication_record(
        patient=patient, by=by, name=name, start_date=today - datetime.timedelta(days=2)
    )


def contraindications(patient):
    return list(Flag.objects.filter(patient=patient, kind=FlagKind.CONTRAINDICATION).order_by("pk"))


def test_the_rule_raises_a_critical_finding_only_while_titrating_or_holding():
    message = [TRAMADOL_CRITICAL]
    for state in (PlanState.TITRATING, PlanState.HOLDING):
        [finding] = rules.contraindication_findings(message, state)
        assert (finding.kind, finding.severity, finding.message) == (
            FlagKind.CONTRAINDICATION,
            Severity.CRITICAL,
            TRAMADOL_CRITICAL,
        )
    for state in (PlanState.PAUSED, PlanState.STOPPED, None):
        assert rules.contraindication_findings(message, state) == []


def test_an_opioid_recorded_by_a_nurse_while_ldn_is_active_raises_the_critical_flag_naming_both_drugs(
    staff_client, patient, prescriber, today
):
    set_plan(patient, prescriber, today)
    response = staff_client.post(
        reverse("medications:create", args=[patient.pk]),
        {
            "reference": "",
            "name": "tramadol 50 mg",
            "active_ingredient": "",
            "dose": "",
            "route": "",
            "start_date": today.isoformat(),
        },
    )
    assert response.status_code == 302
    [flag] = contraindications(patient)
    assert (flag.severity, flag.message, flag.is_open) == (Severity.CRITICAL, TRAMADOL_CRITICAL, True)
    assert flag.medication == MedicationEntry.objects.get(patient=patient)


def test_a_current_opioid_without_a_plan_raises_no_flag(patient, staff, today):
    tramadol(patient, staff, today)
    assert contraindications(patient) == []


def test_loperamide_raises_no_flag(patient, staff, prescriber, today):
    set_plan(patient, prescriber, today)
    medication_services.medication_record(patient=patient, by=staff, name="Imodium", start_date=today)
    assert contraindications(patient) == []


def test_setting_a_plan_while_an_opioid_is_current_needs_a_confirmation_with_a_reason_then_raises_the_flag(
    prescriber_client, patient, staff, today
):
    tramadol(patient, staff, today)
    url = reverse("titration:plan", args=[patient.pk])
    form = prescriber_client.get(url)
    assert TRAMADOL_CRITICAL.split(":")[0] in form.content.decode()
    refused = prescriber_client.post(url, plan_data(today))
    assert refused.status_code == 200
    assert services.OPIOID_NEEDS_CONFIRMATION in refused.context["form"].errors["confirm_opioid"][0]
    no_reason = prescriber_client.post(url, plan_data(today, confirm_opioid="on"))
    assert refused.context["form"].errors and no_reason.context["form"].errors["confirm_opioid"] == [
        services.OPIOID_REASON_REQUIRED
    ]
    assert not patient.plans.exists() and contraindications(patient) == []
    saved = prescriber_client.post(
        url, plan_data(today, confirm_opioid="on", opioid_reason="Washout planned, ends Friday")
    )
    assert saved.status_code == 302
    plan = patient.plans.get()
    assert "Washout planned, ends Friday" in plan.safety_override_reason
    [flag] = contraindications(patient)
    assert (flag.severity, flag.message) == (Severity.CRITICAL, TRAMADOL_CRITICAL)


def test_ending_the_opioid_closes_the_flag_as_opioid_ended_with_the_date(
    staff_client, patient, staff, prescriber, today
):
    set_plan(patient, prescriber, today)
    entry = tramadol(patient, staff, today)
    response = staff_client.post(
        reverse("medications:end", args=[patient.pk, entry.pk]),
        {"stop_date": today.isoformat(), "reason": "Pain settled"},
    )
    assert response.status_code == 302
    [flag] = contraindications(patient)
    assert flag.closed_as == Flag.ClosedAs.OPIOID_ENDED
    assert flag.acknowledgement_note == f"Opioid ended on {today:%-d %b %Y}."
    history = staff_client.get(reverse("titration:history", args=[patient.pk])).content.decode()
    assert "closed because the opioid ended" in history


def test_voiding_the_opioid_entry_closes_the_flag_as_entry_voided(patient, staff, prescriber, today):
    set_plan(patient, prescriber, today)
    entry = tramadol(patient, staff, today)
    medication_services.medication_void(entry=entry, by=staff, reason="Wrong patient")
    [flag] = contraindications(patient)
    assert flag.closed_as == Flag.ClosedAs.ENTRY_VOIDED


def test_pausing_closes_the_flag_and_restarting_needs_a_confirmation_then_raises_it_again(
    prescriber_client, patient, staff, prescriber, today
):
    set_plan(patient, prescriber, today)
    tramadol(patient, staff, today)
    services.plan_state_set(patient=patient, by=prescriber, state=PlanState.PAUSED, reason="Opioid for surgery")
    [closed] = contraindications(patient)
    assert closed.closed_as == Flag.ClosedAs.REASSESSED
    url = reverse("titration:plan-state", args=[patient.pk])
    refused = prescriber_client.post(url, {"state": "titrating", "reason": "Surgery over"})
    assert refused.url.endswith("#state-heading")
    assert contraindications(patient) == [closed]
    prescriber_client.post(url, {"state": "titrating", "reason": "Surgery over, washout done", "confirm_opioid": "on"})
    assert [f.is_open for f in contraindications(patient)] == [False, True]


def test_an_acknowledged_flag_is_not_raised_again_while_the_same_opioid_stays_current(
    patient, staff, prescriber, today
):
    set_plan(patient, prescriber, today)
    tramadol(patient, staff, today)
    [flag] = contraindications(patient)
    services.flag_acknowledge(flag=flag, by=prescriber, note="Washout agreed with the pain team")
    services.plan_state_set(patient=patient, by=prescriber, state=PlanState.HOLDING, reason="Hold while reviewing")
    assert [f.is_open for f in contraindications(patient)] == [False]


def test_a_known_hypersensitivity_needs_a_confirmation_to_set_a_plan(prescriber_client, patient, prescriber, today):
    SafetyProfile.objects.create(patient=patient, naltrexone_hypersensitivity=True, updated_by=prescriber)
    url = reverse("titration:plan", args=[patient.pk])
    refused = prescriber_client.post(url, plan_data(today))
    assert refused.context["form"].errors["confirm_hypersensitivity"] == [HYPERSENSITIVITY_WARNING]
    saved = prescriber_client.post(
        url, plan_data(today, confirm_hypersensitivity="on", hypersensitivity_reason="Rash only, allergist agrees")
    )
    assert saved.status_code == 302
    assert "Rash only, allergist agrees" in patient.plans.get().safety_override_reason


def test_safety_warnings_are_shown_on_the_plan_form_and_after_saving_and_never_block(
    prescriber_client, make_patient, prescriber, today
):
    child = make_patient(date_of_birth=today.replace(year=today.year - 12))
    SafetyProfile.objects.create(patient=child, pregnant=True, updated_by=prescriber)
    url = reverse("titration:plan", args=[child.pk])
    page = prescriber_client.get(url).content.decode()
    assert PREGNANCY_WARNING in page and PAEDIATRIC_WARNING in page
    saved = prescriber_client.post(url, plan_data(today), follow=True)
    assert child.plans.exists()
    shown = [str(m) for m in saved.context["messages"]]
    assert PREGNANCY_WARNING in shown and PAEDIATRIC_WARNING in shown


def test_the_patient_header_shows_the_current_opioid_and_the_safety_alerts(
    staff_client, patient, staff, prescriber, today
):
    set_plan(patient, prescriber, today)
    SafetyProfile.objects.create(patient=patient, breastfeeding=True, updated_by=prescriber)
    tramadol(patient, staff, today)
    page = staff_client.get(patient.get_absolute_url()).content.decode()
    header = page.split('<header class="mb-3">')[1].split("</header>")[0]
    assert "Alerts for the prescriber" in header
    assert "Tramadol (opioid) is recorded as current" in header and "Breastfeeding: review" in header


def test_the_medications_app_calls_the_titration_reconciliation_it_does_not_import():
    from medications import services as medications

    assert services.contraindications_reconcile in medications._listeners
    source = Path(medications.__file__).read_text(encoding="utf-8")
    assert "import titration" not in source and "from titration" not in source


def test_a_staff_member_cannot_set_a_plan_with_the_confirmation_and_an_outsider_gets_404(
    outsider, staff_client, outsider_client, patient, today
):
    url = reverse("titration:plan", args=[patient.pk])
    data = plan_data(today, confirm_opioid="on", opioid_reason="Washout")
    assert staff_client.post(url, data).status_code == 403
    with database_unchanged(outsider):
        assert outsider_client.post(url, data).status_code == 404
    assert not patient.plans.exists()
