"""The reads the titration app calls: current opioids and safety warnings for a day, in bounded queries."""

from __future__ import annotations

import datetime

import pytest

from medications import rules, selectors, services

pytestmark = pytest.mark.django_db


def record(patient, by, name, start):
    return services.medication_record(patient=patient, by=by, name=name, start_date=start)


def test_a_current_opioid_is_returned_with_the_critical_message_and_its_entries(patient, staff, today):
    first = record(patient, staff, "tramadol 50 mg", today - datetime.timedelta(days=10))
    second = record(patient, staff, "Ultram", today - datetime.timedelta(days=2))
    record(patient, staff, "Imodium", today - datetime.timedelta(days=2))
    record(patient, staff, "ibuprofen", today - datetime.timedelta(days=2))
    [active] = selectors.active_opioids_for(patient, on=today)
    assert active.ingredient == "tramadol"
    assert active.entry_ids == (first.pk, second.pk)
    assert active.recorded_as == ("tramadol 50 mg", "Ultram")
    assert active.message == rules.OPIOID_WHILE_LDN_ACTIVE.format(drug="Tramadol")


def test_an_opioid_ended_today_is_no_longer_active_today_but_was_yesterday(patient, staff, today):
    entry = record(patient, staff, "co-codamol 30/500", today - datetime.timedelta(days=10))
    services.medication_end(entry=entry, by=staff, stop_date=today, reason="opioid ended")
    assert selectors.active_opioids_for(patient, on=today) == []
    [active] = selectors.active_opioids_for(patient, on=today - datetime.timedelta(days=1))
    assert active.ingredient == "codeine"


def test_a_voided_or_not_yet_started_opioid_is_not_active(patient, staff, today):
    entry = record(patient, staff, "OxyContin", today - datetime.timedelta(days=3))
    assert selectors.active_opioids_for(patient, on=today - datetime.timedelta(days=4)) == []
    services.medication_void(entry=entry, by=staff, reason="wrong patient")
    assert selectors.active_opioids_for(patient, on=today) == []


def test_other_patients_opioids_do_not_count(make_patient, patient, staff, today):
    record(make_patient(mrn="B-1"), staff, "methadone", today)
    assert selectors.active_opioids_for(patient, on=today) == []


def test_active_opioids_take_three_queries_however_many_entries(patient, staff, today, django_assert_num_queries):
    for name in ("tramadol", "Percocet", "MS Contin", "Duragesic", "ibuprofen", "Imodium"):
        record(patient, staff, name, today)
    with django_assert_num_queries(3):
        found = selectors.active_opioids_for(patient, on=today)
    assert [item.ingredient for item in found] == ["tramadol", "oxycodone", "morphine", "fentanyl"]


def test_safety_warnings_take_one_query(patient, staff, today, django_assert_num_queries):
    services.safety_profile_save(
        patient=patient,
        by=staff,
        version=None,
        pregnant=True,
        breastfeeding=False,
        hepatic_impairment="moderate",
        naltrexone_hypersensitivity=False,
    )
    with django_assert_num_queries(1):
        warnings = selectors.safety_warnings_for(patient, on=today)
    assert [w.kind for w in warnings] == [rules.SafetyWarningKind.PREGNANCY, rules.SafetyWarningKind.HEPATIC]


def test_without_a_profile_an_adult_has_no_safety_warning(patient, today):
    assert selectors.safety_warnings_for(patient, on=today) == []
