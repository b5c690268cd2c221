"""Liquid volumes (dose_ml) and the time of day: read from the template and the app's own export, converted and
checked exactly as the dose form does, with a per-row message for a bad value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from importer.formats import TEMPLATE_COLUMNS, UNKNOWN_TIME_OF_DAY, parse
from importer.services import import_run
from titration import rules, services
from titration.models import DoseEntry

from .conftest import csv_bytes

pytestmark = pytest.mark.django_db


def run(clinic, by, rows, *, commit=True, mrn=""):
    data = csv_bytes(rows)
    return import_run(
        clinic=clinic, by=by, parsed=parse(data, "doses.csv", mrn=mrn), file_name="doses.csv", commit=commit
    )


@pytest.fixture
def liquid_patient(patient, prescriber, days):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=days(10),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=Decimal("0.5"),
    )
    return patient


def test_the_template_has_the_volume_and_time_of_day_columns():
    assert list(TEMPLATE_COLUMNS)[7:9] == ["dose_mg", "dose_ml"]
    assert "time_of_day" in TEMPLATE_COLUMNS


def test_a_volume_is_converted_at_the_plan_s_concentration_and_the_time_is_kept(
    clinic, prescriber, liquid_patient, days
):
    report = run(
        clinic,
        prescriber,
        [
            {"mrn": "A-100", "date": days(3), "dose_ml": "1"},
            {"mrn": "A-100", "date": days(2), "dose_ml": "1 mL", "dose_mg": "0.5", "time_of_day": "Morning"},
            {"mrn": "A-100", "date": days(1), "dose_mg": "0.5", "time_of_day": "other"},
        ],
    )
    assert (report.entries, report.refused) == (3, [])
    entries = list(DoseEntry.objects.filter(patient=liquid_patient).order_by("taken_on"))
    assert [(e.dose_mg, e.dose_ml, e.concentration_mg_per_ml) for e in entries[:2]] == [
        (Decimal("0.5"), Decimal("1"), Decimal("0.5"))
    ] * 2
    assert entries[2].dose_ml is None
    assert [e.time_of_day for e in entries] == ["bedtime", "morning", "other"]  # bedtime: the plan's
    assert entries[0].dose_display == "0.5 mg (1 mL of 0.5 mg/mL)"
    again = run(clinic, prescriber, [{"mrn": "A-100", "date": days(3), "dose_ml": "1"}])
    assert (again.entries, again.already) == (0, 1)  # the volume, once converted, is the dose recorded


def test_bad_volumes_and_times_are_refused_per_row_with_the_form_s_messages(clinic, prescriber, liquid_patient, days):
    report = run(
        clinic,
        prescriber,
        [
            {"mrn": "A-100", "date": days(6), "dose_ml": "25"},
            {"mrn": "A-100", "date": days(5), "dose_ml": "3", "dose_mg": "1"},
            {"mrn": "A-100", "date": days(4), "dose_ml": "three"},
            {"mrn": "A-100", "date": days(3), "dose_mg": "3 mL"},
            {"mrn": "A-100", "date": days(2), "dose_mg": "0.5", "time_of_day": "HS"},
            {"mrn": "A-100", "date": days(1), "dose_ml": "0"},
        ],
    )
    messages = {item["row"]: item["message"] for item in report.refused}
    assert messages[2] == rules.VOLUME_ABOVE_MAX
    assert messages[3] == rules.ML_AND_MG_DISAGREE.format(ml="3", conc="0.5", mg="1.5 mg", given="1 mg")
    assert messages[4] == f"three: {rules.NOT_A_VOLUME}"
    assert messages[5] == rules.ml_in_mg_field_message(Decimal("3"), Decimal("0.5"))
    assert messages[6] == UNKNOWN_TIME_OF_DAY.format(raw="HS")
    assert messages[7] == rules.VOLUME_NOT_POSITIVE
    assert not DoseEntry.objects.exists()


def test_a_volume_for_a_patient_without_a_liquid_plan_is_refused(clinic, prescriber, patient, days):
    report = run(clinic, prescriber, [{"mrn": "A-100", "date": days(1), "dose_ml": "2"}])
    assert report.refused == [{"row": 2, "mrn": "A-100", "message": rules.ML_BUT_NOT_LIQUID}]


def test_the_export_s_volumes_and_times_come_back_in_a_round_trip(
    prescriber_client, prescriber, clinic, liquid_patient, make_patient, days
):
    services.dose_record(
        patient=liquid_patient,
        by=prescriber,
        taken_on=days(2),
        dose_mg=None,
        dose_ml=Decimal("3"),
        time_of_day="morning",
    )
    services.dose_record(patient=liquid_patient, by=prescriber, taken_on=days(1), dose_mg=Decimal("1"))
    exported = b"".join(prescriber_client.get(f"/patients/{liquid_patient.pk}/export.csv").streaming_content)
    twin = make_patient(mrn="TWIN-1")
    services.plan_set(
        patient=twin,
        by=prescriber,
        start_date=days(10),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=Decimal("0.5"),
    )
    parsed = parse(exported, "export.csv", mrn="TWIN-1")
    report = import_run(clinic=clinic, by=prescriber, parsed=parsed, file_name="export.csv", commit=True)
    assert (report.entries, report.refused) == (2, [])

    def doses(who):
        return [
            (e.taken_on, e.dose_mg, e.dose_ml, e.concentration_mg_per_ml, e.time_of_day)
            for e in DoseEntry.objects.filter(patient=who).order_by("taken_on")
        ]

    assert doses(twin) == doses(liquid_patient)
    assert doses(twin)[0][1:] == (Decimal("1.5"), Decimal("3"), Decimal("0.5"), "morning")
