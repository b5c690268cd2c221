"""Liquid doses measured in mL: the conversion edge by edge, the refusals, and one display on every surface."""

from __future__ import annotations

import datetime
import io
from csv import reader
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.urls import reverse

from titration import rules, services
from titration.models import DoseEntry, Flag
from titration.rules import FlagKind

D = Decimal


@pytest.mark.parametrize(
    ("volume", "concentration", "mg"),
    [("0.1", "1", "0.1"), ("20", "1", "20"), ("3", "0.5", "1.5"), ("1.5", "0.33", "0.5")],
)
def test_a_volume_converts_at_the_concentration_rounded_to_2_decimals(volume, concentration, mg):
    assert rules.liquid_dose(D(volume), D(concentration)).dose_mg == D(mg)


def test_the_rounding_is_shown():
    assert rules.liquid_dose(D("1.5"), D("0.33")).working == "1.5 mL of 0.33 mg/mL = 0.495 mg, rounded to 0.5 mg"
    assert rules.liquid_dose(D("3"), D("0.5")).working == "3 mL of 0.5 mg/mL = 1.5 mg"


def test_more_than_20_ml_is_refused():
    with pytest.raises(rules.DoseError, match="cannot be more than 20 mL"):
        rules.liquid_dose(D("20.1"), D("1"))


def test_a_volume_whose_mg_needs_more_than_2_decimals_is_refused():
    with pytest.raises(rules.DoseError, match=r"2\.345 mL of 1 mg/mL is 2\.345 mg, which needs more than 2 decimal"):
        rules.liquid_dose(D("2.345"), D("1"))


def test_ml_typed_in_the_mg_field_gets_the_conversion_spelled_out():
    assert (
        rules.ml_in_mg_field_message(D("3"), D("0.5"))
        == "This plan is a 0.5 mg/mL liquid: enter 3 mL in the mL field (= 1.5 mg)"
    )
    assert rules.is_volume("3 mL") and rules.is_volume("3ml") and not rules.is_volume("3")


def test_ml_and_mg_disagreeing_or_ml_on_a_plan_that_is_not_liquid_are_refused_saying_which():
    with pytest.raises(rules.DoseError, match=r"3 mL of 0.5 mg/mL is 1.5 mg, not 3 mg"):
        rules.resolve_liquid_dose(dose_mg=D("3"), volume_ml=D("3"), concentration=D("0.5"))
    with pytest.raises(rules.DoseError, match="not an oral liquid"):
        rules.resolve_liquid_dose(dose_mg=None, volume_ml=D("3"), concentration=None)
    assert rules.resolve_liquid_dose(dose_mg=D("1.5"), volume_ml=D("3"), concentration=D("0.5")).dose_mg == D("1.5")


def test_a_concentration_change_is_described_by_how_much_the_same_ml_now_gives():
    note = rules.supply_change_note(("liquid", D("1")), ("liquid", D("0.5")))
    assert note == "concentration changed from 1 mg/mL to 0.5 mg/mL: the same mL is now half the dose"
    assert rules.supply_change_note(("liquid", D("1")), ("liquid", D("1"))) == ""
    assert "formulation changed from compounded capsule to oral liquid of 1 mg/mL" in rules.supply_change_note(
        ("capsule", None), ("liquid", D("1"))
    )


# --- through the forms and the services --------------------------------------------------------------


def liquid_plan(patient, by, today, concentration="0.5", days_ago=10):
    return services.plan_set(
        patient=patient,
        by=by,
        start_date=today - datetime.timedelta(days=days_ago),
        starting_dose_mg=D("1.5"),
        step_mg=D("0"),
        step_interval_days=7,
        target_dose_mg=D("1.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=D(concentration),
    )


def post_dose(client, patient, day, **fields):
    data = {"taken_on": day.isoformat(), "dose_mg": "", "formulation": "liquid", "status": "taken", **fields}
    return client.post(reverse("titration:dose-create", args=[patient.pk]), data)


@pytest.mark.django_db
def test_3_ml_of_a_half_mg_per_ml_liquid_stores_1_5_mg_and_shows_it_everywhere(
    prescriber_client, patient, prescriber, today
):
    liquid_plan(patient, prescriber, today)
    form = prescriber_client.get(reverse("titration:dose-create", args=[patient.pk])).content.decode()
    assert 'data-concentration="0.5"' in form and "liquid-dose.js" in form
    response = post_dose(prescriber_client, patient, today, dose_ml="3")
    assert response.status_code == 302
    entry = DoseEntry.objects.get(patient=patient)
    assert (entry.dose_mg, entry.dose_ml, entry.concentration_mg_per_ml) == (D("1.5"), D("3"), D("0.5"))
    shown = "1.5 mg (3 mL of 0.5 mg/mL)"
    assert shown in prescriber_client.get(patient.get_absolute_url()).content.decode()
    assert shown in prescriber_client.get(reverse("titration:history", args=[patient.pk])).content.decode()
    csv = b"".join(prescriber_client.get(reverse("titration:export", args=[patient.pk])).streaming_content).decode()
    rows = [row for row in reader(io.StringIO(csv)) if row]
    start = next(i for i, row in enumerate(rows) if "Dose (mL)" in row)
    columns = dict(zip(rows[start], rows[start + 1], strict=False))
    # Separate columns for the volume and the concentration, beside the mg.
    assert [D(columns[name]) for name in ("Dose (mg)", "Dose (mL)", "Concentration (mg/mL)")] == [
        D("1.5"),
        D("3"),
        D("0.5"),
    ]


@pytest.mark.django_db
def test_3_ml_typed_in_the_mg_field_is_refused_with_the_conversion(prescriber_client, patient, prescriber, today):
    liquid_plan(patient, prescriber, today)
    response = post_dose(prescriber_client, patient, today, dose_mg="3 mL")
    assert response.context["form"].errors["dose_mg"] == [
        "This plan is a 0.5 mg/mL liquid: enter 3 mL in the mL field (= 1.5 mg)"
    ]
    response = post_dose(prescriber_client, patient, today, dose_mg="3 ml")
    assert "enter 3 mL in the mL field (= 1.5 mg)" in response.context["form"].errors["dose_mg"][0]
    assert not DoseEntry.objects.exists()


@pytest.mark.django_db
def test_ml_on_a_capsule_plan_and_ml_disagreeing_with_mg_are_refused_on_the_ml_field(
    prescriber_client, patient, prescriber, today, low_slow_plan
):
    response = post_dose(prescriber_client, patient, today, dose_ml="3", formulation="capsule")
    assert response.context["form"].errors["dose_ml"] == [rules.ML_BUT_NOT_LIQUID]
    liquid_plan(patient, prescriber, today, days_ago=0)
    response = post_dose(prescriber_client, patient, today, dose_ml="3", dose_mg="3")
    assert "3 mL of 0.5 mg/mL is 1.5 mg, not 3 mg" in response.context["form"].errors["dose_ml"][0]
    response = post_dose(prescriber_client, patient, today, dose_ml="20.1")
    assert response.context["form"].errors["dose_ml"] == [rules.VOLUME_ABOVE_MAX]
    assert not DoseEntry.objects.exists()


@pytest.mark.django_db
def test_the_confirmation_step_shows_the_mg_of_a_volume(prescriber_client, patient, prescriber, today):
    liquid_plan(patient, prescriber, today)
    response = post_dose(prescriber_client, patient, today, dose_ml="15")
    page = response.content.decode()
    assert response.status_code == 200 and 'id="dose-confirmation"' in page
    assert "Measured: 15 mL of 0.5 mg/mL = 7.5 mg." in page


@pytest.mark.django_db
def test_a_concentration_change_shows_in_the_plan_history_and_the_audit_trail_and_notes_the_first_dose(
    prescriber_client, patient, prescriber, today
):
    liquid_plan(patient, prescriber, today, concentration="1", days_ago=20)
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=2),
        dose_mg=None,
        dose_ml=D("1.5"),
        formulation="liquid",
    )
    liquid_plan(patient, prescriber, today, concentration="0.5", days_ago=0)
    note = "concentration changed from 1 mg/mL to 0.5 mg/mL: the same mL is now half the dose"
    plan_page = prescriber_client.get(reverse("titration:plan", args=[patient.pk])).content.decode()
    assert note[0].upper() + note[1:] in plan_page
    trail = prescriber_client.get(reverse("titration:history", args=[patient.pk])).content.decode()
    assert note[0].upper() + note[1:] in trail
    entry, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=None, dose_ml=D("3"), formulation="liquid"
    )
    assert entry.dose_mg == D("1.5")
    flag = Flag.objects.get(dose_entry=entry, kind=FlagKind.SUPPLY_CHANGED)
    assert flag.message == f"First dose since the plan's {note}."


@pytest.mark.django_db
def test_a_dose_in_another_formulation_than_the_plan_gets_an_info_note_unless_the_plan_changed_that_day(
    patient, prescriber, today
):
    liquid_plan(patient, prescriber, today, days_ago=0)
    same_day, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=D("1.5"), formulation="capsule"
    )
    assert not Flag.objects.filter(dose_entry=same_day, kind=FlagKind.FORMULATION_MISMATCH).exists()
    liquid_plan(patient, prescriber, today, days_ago=5)
    DoseEntry.objects.filter(pk=same_day.pk).update(voided_at=same_day.recorded_at, void_reason="test")
    later, _ = services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=D("1.5"),
        formulation="capsule",
    )
    flag = Flag.objects.get(dose_entry=later, kind=FlagKind.FORMULATION_MISMATCH)
    assert flag.message == "Recorded as compounded capsule, but the plan is oral liquid."


@pytest.mark.django_db
def test_the_database_refuses_a_volume_without_its_concentration(patient, prescriber, today):
    with pytest.raises(IntegrityError):
        DoseEntry.objects.create(
            patient=patient, taken_on=today, dose_mg=D("1.5"), dose_ml=D("3"), recorded_by=prescriber
        )
