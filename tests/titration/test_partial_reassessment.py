"""A dose re-assesses only the days it can alter, resumed from the positions stored with the entries before it.

Each test compares what the service stored with what a re-assessment of the whole course gives, so a partial
re-assessment that missed a flag, or changed one it should have left, fails here.
"""

import datetime
from decimal import Decimal

import pytest

from titration import course, selectors, services
from titration.models import DoseEntry, DoseStatus, Flag
from titration.rules import FlagKind

from .conftest import plan_for, take

pytestmark = pytest.mark.django_db


def stored_state(patient) -> tuple:
    flags = sorted(Flag.objects.filter(patient=patient).values_list("dose_entry_id", "kind", "message", "closed_as"))
    positions = sorted(DoseEntry.objects.live().filter(patient=patient).values_list("pk", "course_after"))
    return flags, positions


def assert_as_a_whole_walk_leaves_it(patient, by) -> None:
    before = stored_state(patient)
    services.flags_reconcile(patient=patient, by=by, cause="a check")
    assert stored_state(patient) == before


def test_a_missed_day_that_joins_a_run_renames_the_run_s_flag_on_its_first_day(patient, prescriber, today):
    start = today - datetime.timedelta(days=12)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, start + datetime.timedelta(days=4), "0.5")
    first_missed = start + datetime.timedelta(days=5)
    take(patient, prescriber, first_missed, first_missed + datetime.timedelta(days=2), "0", status="missed")

    take(
        patient,
        prescriber,
        first_missed + datetime.timedelta(days=3),
        first_missed + datetime.timedelta(days=3),
        "0",
        status="missed",
    )

    adherence = Flag.objects.get(patient=patient, kind=FlagKind.ADHERENCE, acknowledged_at__isnull=True)
    assert adherence.dose_entry.taken_on == first_missed
    assert adherence.message.startswith("4 consecutive missed doses")
    assert_as_a_whole_walk_leaves_it(patient, prescriber)


def test_a_back_dated_dose_re_assesses_every_later_day(patient, prescriber, today):
    start = today - datetime.timedelta(days=30)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, start + datetime.timedelta(days=9), "0.5")
    # Ten days without a dose: the plan restarts at its starting dose.
    take(patient, prescriber, start + datetime.timedelta(days=20), start + datetime.timedelta(days=25), "0.5")
    later = DoseEntry.objects.get(patient=patient, taken_on=start + datetime.timedelta(days=25))
    assert later.scheduled_dose_mg == Decimal("0.5")

    services.dose_record(
        patient=patient, by=prescriber, taken_on=start + datetime.timedelta(days=15), dose_mg=Decimal("1")
    )

    later.refresh_from_db()
    assert later.scheduled_dose_mg != Decimal("0.5")  # no restart any more: the gap was shorter
    assert_as_a_whole_walk_leaves_it(patient, prescriber)


def test_positions_stored_by_other_rules_make_the_next_dose_walk_the_whole_course(patient, prescriber, today):
    start = today - datetime.timedelta(days=10)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, today - datetime.timedelta(days=2), "0.5")
    for entry in DoseEntry.objects.filter(patient=patient):  # as stored before positions carried a version
        entry.course_after = {k: v for k, v in entry.course_after.items() if k != "version"}
        entry.save(update_fields=["course_after"])

    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=1), dose_mg=Decimal("1")
    )

    stored = DoseEntry.objects.filter(patient=patient).values_list("course_after", flat=True)
    assert all(course.Position.from_json(after).current for after in stored)
    facts = selectors.course_facts(patient)
    assessed, _ = course.walk(facts.entries, facts.terms, facts.gap_days)
    assert [facts.stored_position(item.entry) for item in assessed] == [item.after for item in assessed]


def test_a_dose_of_the_newest_day_rewrites_no_earlier_entry(patient, prescriber, today):
    start = today - datetime.timedelta(days=30)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, today - datetime.timedelta(days=1), "0.5")
    untouched = list(DoseEntry.history.filter(patient_id=patient.pk).values_list("pk", flat=True))  # type: ignore[attr-defined]
    positions = dict(DoseEntry.objects.filter(patient=patient).values_list("pk", "course_after"))

    services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("0.5"), status=DoseStatus.TAKEN
    )

    assert (
        dict(DoseEntry.objects.filter(patient=patient, pk__in=positions).values_list("pk", "course_after")) == positions
    )
    assert DoseEntry.history.filter(patient_id=patient.pk).count() == len(untouched) + 1  # type: ignore[attr-defined]
    assert_as_a_whole_walk_leaves_it(patient, prescriber)


def test_a_run_that_began_before_the_days_read_makes_the_dose_read_the_whole_record(
    patient, prescriber, today, monkeypatch
):
    """The run of days off the expected dose began long before the latest days a dose reads: its one flag,
    on the run's first day, still counts every day of it."""
    monkeypatch.setattr(services, "RECENT_DAYS", 1)
    start = today - datetime.timedelta(days=20)
    plan_for(patient, prescriber, start)
    take(patient, prescriber, start, today - datetime.timedelta(days=1), "0.5")  # the step to 1 mg never taken

    services.dose_record(patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("0.5"))

    [run] = Flag.objects.filter(patient=patient, kind=FlagKind.OFF_SCHEDULE, acknowledged_at__isnull=True)
    assert run.dose_entry.taken_on == start + datetime.timedelta(days=7)
    assert run.message.startswith("14 consecutive days (24 Feb 2026 – 9 Mar 2026) differ from the expected dose")
    assert_as_a_whole_walk_leaves_it(patient, prescriber)
