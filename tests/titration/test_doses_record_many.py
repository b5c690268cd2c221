"""doses_record_many: a batch of days gets the verdicts, entries and flags of the same days through dose_record."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from titration import rules, services
from titration.models import DoseEntry, DosingTime, Flag
from titration.services import NewDose

pytestmark = pytest.mark.django_db

# (days ago, dose or None for missed): steps, a slip (10 mg), an off-schedule run, three missed days.
COURSE = [
    *[(ago, "0.5") for ago in range(20, 13, -1)],
    *[(ago, "1") for ago in range(13, 9, -1)],
    (9, "10"),
    (8, "1"),
    (7, "0.75"),
    (6, "0.75"),
    (5, None),
    (4, None),
    (3, None),
    (2, "1"),
    (1, "1.5"),
]
REASON = "Checked with the pharmacy"


@pytest.fixture
def days(today):
    return lambda ago: today - datetime.timedelta(days=ago)


def _plan(patient, prescriber, days, **extra):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=days(20),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        **extra,
    )


def _position(entry):
    """Where the patient stood after the entry, but the plan's id (each patient has their own plan)."""
    return {key: value for key, value in (entry.course_after or {}).items() if key != "plan"}


def _record(patient):
    entries = [
        (e.taken_on, e.dose_mg, e.status, e.scheduled_dose_mg, e.time_of_day, e.override_reason, _position(e))
        for e in DoseEntry.objects.filter(patient=patient).order_by("taken_on")
    ]
    flags = sorted((f.dose_entry.taken_on, f.kind, f.severity, f.message) for f in Flag.objects.filter(patient=patient))
    return entries, flags


def test_a_batch_stores_the_entries_and_flags_that_dose_record_stores_day_by_day(
    patient, make_patient, prescriber, days
):
    twin = make_patient(mrn="TWIN-1")
    for who in (patient, twin):
        _plan(who, prescriber, days)
    for ago, dose in COURSE:
        services.dose_record(
            patient=patient,
            by=prescriber,
            taken_on=days(ago),
            dose_mg=None if dose is None else Decimal(dose),
            status="taken" if dose else "missed",
            confirmed=dose == "10",
            override_reason=REASON if dose == "10" else "",
        )
    doses = [
        NewDose(
            taken_on=days(ago),
            dose_mg=None if dose is None else Decimal(dose),
            taken=dose is not None,
            confirmed=dose == "10",
            override_reason=REASON if dose == "10" else "",
        )
        for ago, dose in reversed(COURSE)  # in any order: taken in date order
    ]
    outcomes = services.doses_record_many(patient=twin, by=prescriber, doses=doses, cause="a batch")
    assert all(o.entry_id for o in outcomes)
    one_by_one, batch = _record(patient), _record(twin)
    assert batch == one_by_one
    assert {kind for _, kind, _, _ in batch[1]} >= {"tenfold_change", "adherence"}


def test_a_batch_refuses_each_bad_dose_with_the_form_s_message_and_stores_the_rest(patient, prescriber, days, today):
    _plan(patient, prescriber, days)
    doses = [
        NewDose(taken_on=days(3), dose_mg=Decimal("0.5")),
        NewDose(taken_on=today.replace(year=today.year + 1), dose_mg=Decimal("0.5")),  # future
        NewDose(taken_on=days(2), dose_mg=Decimal("60")),  # above the hard limit
        NewDose(taken_on=days(1), dose_mg=Decimal("6")),  # out of range, no confirmation
        NewDose(taken_on=days(1), dose_mg=Decimal("0.5"), dose_ml=Decimal("2")),  # mL for a capsule plan
    ]
    outcomes = services.doses_record_many(patient=patient, by=prescriber, doses=doses, cause="a batch")
    assert outcomes[0].entry_id is not None
    assert outcomes[1].error.message == rules.check_record_day(
        doses[1].taken_on, today=today, born=patient.date_of_birth
    )
    assert outcomes[2].error.problem == services.Problem.DOSE
    assert outcomes[3].error.problem == services.Problem.CONFIRMATION
    assert outcomes[3].error.findings  # the findings that need a reason, for the caller to list
    assert outcomes[4].error.message == rules.ML_BUT_NOT_LIQUID
    assert DoseEntry.objects.filter(patient=patient).count() == 1


def test_a_batch_sent_again_adds_nothing_and_a_changed_day_is_a_duplicate(patient, prescriber, days):
    _plan(patient, prescriber, days)
    doses = [NewDose(taken_on=days(2), dose_mg=Decimal("0.5")), NewDose(taken_on=days(1), dose_mg=None, taken=False)]
    services.doses_record_many(patient=patient, by=prescriber, doses=doses, cause="a batch")
    again = services.doses_record_many(patient=patient, by=prescriber, doses=doses, cause="a batch")
    assert [o.already_recorded for o in again] == [True, True]
    changed = services.doses_record_many(
        patient=patient, by=prescriber, doses=[NewDose(taken_on=days(2), dose_mg=Decimal("1"))], cause="a batch"
    )
    assert changed[0].error.message == services.DUPLICATE_DAY
    assert DoseEntry.objects.filter(patient=patient).count() == 2
    assert DoseEntry.history.filter(patient_id=patient.pk).count() == 2


def test_a_batch_converts_volumes_at_the_plan_s_concentration_and_keeps_the_time_and_the_audit_reason(
    patient, prescriber, days
):
    _plan(patient, prescriber, days, formulation="liquid", liquid_concentration_mg_per_ml=Decimal("0.5"))
    doses = [
        NewDose(taken_on=days(2), dose_mg=None, dose_ml=Decimal("1"), audit_reason="from the file, row 2"),
        NewDose(taken_on=days(1), dose_mg=Decimal("1"), dose_ml=Decimal("3")),  # 3 mL is 1.5 mg, not 1
        NewDose(taken_on=days(3), dose_mg=None, dose_ml=Decimal("25")),
    ]
    first, disagreeing, too_much = services.doses_record_many(
        patient=patient, by=prescriber, doses=doses, cause="a batch"
    )
    entry = DoseEntry.objects.get(pk=first.entry_id)
    assert (entry.dose_mg, entry.dose_ml, entry.concentration_mg_per_ml) == (Decimal("0.5"), 1, Decimal("0.5"))
    assert entry.time_of_day == DosingTime.BEDTIME  # the plan's
    assert entry.history.get().history_change_reason == "from the file, row 2"
    assert entry.history.get().history_user == prescriber
    assert disagreeing.error.problem == services.Problem.VOLUME
    assert "disagree" in disagreeing.error.message
    assert too_much.error.message == rules.VOLUME_ABOVE_MAX


def test_many_doses_are_written_in_a_constant_number_of_queries(
    patient, prescriber, days, django_assert_max_num_queries
):
    _plan(patient, prescriber, days)
    doses = [NewDose(taken_on=days(ago), dose_mg=Decimal("0.5"), time_of_day="morning") for ago in range(90, 0, -1)]
    with django_assert_max_num_queries(20):
        outcomes = services.doses_record_many(patient=patient, by=prescriber, doses=doses, cause="a batch")
    assert len({o.entry_id for o in outcomes}) == 90
    assert set(DoseEntry.objects.values_list("time_of_day", flat=True)) == {"morning"}
    assert DoseEntry.history.filter(patient_id=patient.pk).count() == 90


def test_a_patient_registered_in_the_transaction_gets_the_same_record_without_reading_it(
    patient, make_patient, prescriber, days, django_assert_max_num_queries
):
    """``registered``: nothing on record yet, so the batch neither locks nor reads the record, and stores the
    same entries and flags as a batch that reads it."""
    twin = make_patient(mrn="TWIN-2")
    doses = [
        NewDose(
            taken_on=days(ago),
            dose_mg=None if dose is None else Decimal(dose),
            taken=dose is not None,
            confirmed=dose == "10",
            override_reason=REASON if dose == "10" else "",
        )
        for ago, dose in COURSE
    ]
    services.doses_record_many(patient=patient, by=prescriber, doses=doses, cause="a batch")
    with django_assert_max_num_queries(12) as captured:
        services.doses_record_many(patient=twin, by=prescriber, doses=doses, cause="a batch", registered=True)
    assert not any("FOR UPDATE" in q["sql"] or "titration_titrationplan" in q["sql"] for q in captured)
    assert _record(twin) == _record(patient)
    assert _record(twin)[1]  # flags raised (no plan: off the usual range, missed days)


def test_an_unsaved_record_of_the_bulk_writer_is_the_one_the_model_builds(
    patient, prescriber, today, django_assert_num_queries
):
    from titration import bulk
    from titration.models import CheckIn

    values = {"checked_on": today, "pain_score": 4, "sleep_quality": None, "notes": "n"}
    fast = bulk.unsaved(CheckIn, related={"patient": patient, "recorded_by": prescriber}, **values)
    slow = CheckIn(patient=patient, recorded_by=prescriber, **values)
    fields = [f.attname for f in CheckIn._meta.concrete_fields]
    assert [getattr(fast, name) for name in fields] == [getattr(slow, name) for name in fields]
    assert (fast._state.adding, fast._state.db, fast.pk) == (True, None, None)
    with django_assert_num_queries(0):
        assert (fast.patient, fast.recorded_by) == (patient, prescriber)
    fast.save()
    assert CheckIn.objects.get(pk=fast.pk).pain_score == 4


def unsaved_checkins(patient, by, today: datetime.date, *, first: int, count: int) -> list:
    """``count`` unsaved check-ins of the bulk writer, ``first`` days ago and the days before."""
    from titration import bulk
    from titration.models import CheckIn

    return [
        bulk.unsaved(
            CheckIn,
            related={"patient": patient, "recorded_by": by},
            checked_on=today - datetime.timedelta(days=first + n),
            pain_score=3,
            sleep_quality=None,
            notes="",
        )
        for n in range(count)
    ]


def test_deferred_copies_are_seen_by_every_later_statement_and_written_when_the_block_ends(
    patient, prescriber, today, django_assert_max_num_queries
):
    """Inside ``bulk.deferred_copies`` (PostgreSQL) the rows wait, but any statement run after them sees them;
    the rest are written when the block ends. Elsewhere it changes nothing."""
    from django.db import transaction

    from titration import bulk
    from titration.models import CheckIn

    def batch(first: int) -> list[CheckIn]:
        return unsaved_checkins(patient, prescriber, today, first=first, count=3)

    with transaction.atomic(), bulk.deferred_copies():
        first = bulk.insert_with_history(batch(0), by=prescriber, reasons=["a"] * 3)
        assert all(c.pk for c in first)
        assert CheckIn.objects.filter(patient=patient).count() == 3  # a read sees the rows given before it
        second = bulk.insert_with_history(batch(3), by=prescriber, reasons=["b"] * 3)
    assert CheckIn.objects.filter(pk__in=[c.pk for c in first + second]).count() == 6
    assert [h.history_change_reason for h in CheckIn.history.filter(id__in=[c.pk for c in second])] == ["b"] * 3

    with pytest.raises(RuntimeError), transaction.atomic(), bulk.deferred_copies():
        bulk.insert_with_history(batch(6), by=prescriber, reasons=["c"] * 3)
        raise RuntimeError("fails midway")
    assert CheckIn.objects.filter(patient=patient).count() == 6


def test_inside_fresh_ids_records_are_newer_than_any_taken_after_the_reserved_block(patient, prescriber, today):
    """A patient already on record, locked by the import, gets ids newer than every record committed before the
    lock (the outcome figures tell a newer record by its id), not ids of a block reserved earlier."""
    from django.db import connection, transaction

    from titration import bulk
    from titration.models import CheckIn

    if connection.vendor != "postgresql":
        pytest.skip("ids are reserved in blocks on PostgreSQL only")

    def batch(first: int) -> list[CheckIn]:
        return unsaved_checkins(patient, prescriber, today, first=first, count=2)

    with transaction.atomic(), bulk.deferred_copies():
        reserved = bulk.insert_with_history(batch(0), by=prescriber, reasons=["a"] * 2)
        [taken_elsewhere] = bulk._nextval(CheckIn._meta.db_table, "id", 1)  # as another writer's record would
        with bulk.fresh_ids():
            fresh = bulk.insert_with_history(batch(2), by=prescriber, reasons=["b"] * 2)
        again = bulk.insert_with_history(batch(4), by=prescriber, reasons=["c"] * 2)
    assert max(c.pk for c in reserved) < taken_elsewhere < min(c.pk for c in fresh)
    assert max(c.pk for c in again) < taken_elsewhere  # the block serves the rest (new patients)
    assert CheckIn.objects.filter(patient=patient).count() == 6
