"""Invariants of the engine over random titration histories (hypothesis).

Pure histories run through ``course`` (plans, plan changes, holds, pauses, gaps, slips): many examples, fast.
Recorded histories run through the services day by day with a moving clock (doses, missed days, gaps,
backfills, voids, holds, plan changes, acknowledgements): fewer examples, each a real record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from titration import course, rules, selectors, services
from titration.models import DoseEntry, DoseStatus, Flag
from titration.rules import PlanState, PlanTerms, Severity

from .conftest import MONDAY

START = datetime.date(2026, 1, 5)
GAP_DAYS = 7
DOSES = [Decimal(x) for x in ("0.05", "0.1", "0.25", "0.45", "0.5", "1", "1.5", "2", "3", "4.5", "5", "10", "15", "45")]

plans_strategy = st.lists(
    st.tuples(
        st.sampled_from([Decimal("0.5"), Decimal("1"), Decimal("1.5")]),  # starting dose
        st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("1"), Decimal("1.5")]),  # step
        st.integers(3, 14),  # interval
        st.sampled_from([Decimal("3"), Decimal("4.5")]),  # target
        st.integers(0, 40),  # start, days after START
    ),
    min_size=1,
    max_size=3,
)
states_strategy = st.lists(st.tuples(st.integers(0, 60), st.sampled_from(list(PlanState))), max_size=4)


def build_plans(raw, states) -> list[PlanTerms]:
    """Plans in the order that decides which is in force; the first starts on START."""
    ordered = sorted(raw, key=lambda p: p[4])
    terms = []
    for index, (starting, step, interval, target, offset) in enumerate(ordered):
        start = START + datetime.timedelta(days=0 if index == 0 else offset)
        own_states = tuple(
            (START + datetime.timedelta(days=day), state) for day, state in sorted(states, key=lambda s: s[0])
        )
        terms.append(PlanTerms(index + 1, start, starting, step, interval, target, states=own_states))
    return terms


def findings_of(assessed) -> list[rules.Finding]:
    return [f for a in assessed for f in a.findings]


@settings(max_examples=40, deadline=None)
@given(raw=plans_strategy, states=states_strategy, gaps=st.sets(st.integers(1, 59), max_size=12))
def test_a_course_that_follows_the_expected_dose_raises_no_warning_or_critical_flag(raw, states, gaps):
    plans = build_plans(raw, states)
    walker = course.Course(plans, GAP_DAYS)
    entries = []
    for offset in range(60):
        day = START + datetime.timedelta(days=offset)
        expected = walker.context_on(day).expected
        if offset in gaps or expected is None:
            continue  # nothing recorded: a gap, or paused or stopped
        entry = course.EntryFact(offset, day, True, expected)
        walker.record(entry)
        entries.append(entry)
    assessed, _ = course.walk(entries, plans, GAP_DAYS)
    flags = course.derive_flags(assessed)
    assert [f for f in flags if f.severity >= Severity.WARNING] == []


history_strategy = st.lists(
    st.one_of(
        st.none(),  # nothing recorded that day
        st.just("missed"),
        st.just("expected"),
        st.sampled_from(DOSES),
    ),
    min_size=5,
    max_size=60,
)


def random_walk(plans, history):
    """Entries from a history of choices, the expected dose read from the course as a clinician would."""
    walker = course.Course(plans, GAP_DAYS)
    entries = []
    for offset, choice in enumerate(history):
        day = START + datetime.timedelta(days=offset)
        if choice is None:
            continue
        if choice == "missed":
            entry = course.EntryFact(offset, day, False, None)
        else:
            dose = walker.context_on(day).expected if choice == "expected" else choice
            entry = course.EntryFact(offset, day, True, dose or Decimal("1"))
        walker.record(entry)
        entries.append(entry)
    return entries


def tenfold(dose: Decimal, reference: Decimal | None) -> bool:
    return reference is not None and (dose >= 10 * reference or dose * 10 <= reference)


@settings(max_examples=40, deadline=None)
@given(raw=plans_strategy, states=states_strategy, history=history_strategy)
def test_every_dose_ten_times_or_a_tenth_of_the_previous_or_expected_dose_is_critical(raw, states, history):
    plans = build_plans(raw, states)
    assessed, _ = course.walk(random_walk(plans, history), plans, GAP_DAYS)
    for item in assessed:
        if not item.entry.taken:
            assert item.findings == ()  # a missed entry is never checked
            continue
        dose, context = item.entry.dose, item.context
        critical = any(f.severity == Severity.CRITICAL for f in item.findings)
        slip = tenfold(dose, context.previous) or tenfold(dose, context.expected)
        assert critical == slip or (critical and context.is_first and context.plan is not None)
        if slip:
            assert not item.accepted  # and never the reference for the next day


@settings(max_examples=40, deadline=None)
@given(raw=plans_strategy, states=states_strategy, history=history_strategy)
# A patient at 1 mg who goes down to 0.5 mg on a 0.25 mg-step plan is expected back at 0.75 mg, not 1 mg.
@example(
    raw=[(Decimal("0.5"), Decimal("0.25"), 3, Decimal("3"), 0)],
    states=[],
    history=[None, None, None, Decimal("1"), Decimal("0.5")],
)
# A confirmed dose below the plan's start after a drop: the step due next day is not a jump back to the old level.
@example(
    raw=[(Decimal("0.5"), Decimal("0.25"), 3, Decimal("3"), 0)],
    states=[],
    history=[None, None, Decimal("1"), Decimal("0.5"), Decimal("0.1")],
)
def test_the_expected_dose_never_jumps_by_more_than_one_plan_step(raw, states, history):
    """From one day to the next, and from the patient's last accepted dose: at most one step of the plan."""
    plans = build_plans(raw, states)
    entries = {e.day: e for e in random_walk(plans, history)}
    walker = course.Course(plans, GAP_DAYS)
    before = None  # (plan, state, expected, dose accepted that day)
    last_accepted = None  # (plan in force, dose)
    for offset in range(len(history) + 1):
        day = START + datetime.timedelta(days=offset)
        context = walker.context_on(day)
        plan = context.plan
        titrating = plan is not None and context.state == PlanState.TITRATING and context.restart_gap_days is None
        if titrating and before is not None and context.expected is not None:
            last_plan, last_state, last_expected, last_dose = before
            if last_plan is plan and last_state == PlanState.TITRATING:
                reference = max(x for x in (last_expected, last_dose, plan.starting_dose_mg) if x is not None)
                assert context.expected <= max(plan.toward_target(reference), reference)
        if titrating and last_accepted is not None and last_accepted[0] is plan and plan.on_path(last_accepted[1]):
            assert context.expected <= plan.toward_target(last_accepted[1])
        accepted = None
        if day in entries:
            result = walker.record(entries[day])
            if result.accepted:
                accepted = entries[day].dose
                last_accepted = (plan, accepted)
        before = (plan, context.state, context.expected, accepted)


@settings(max_examples=40, deadline=None)
@given(raw=plans_strategy, states=states_strategy, history=history_strategy, split=st.integers(0, 60))
def test_a_course_resumed_from_a_stored_position_goes_on_exactly_as_the_whole_walk(raw, states, history, split):
    plans = build_plans(raw, states)
    entries = random_walk(plans, history)
    split = min(split, len(entries))
    whole, walked = course.walk(entries, plans, GAP_DAYS)
    first, part = course.walk(entries[:split], plans, GAP_DAYS)
    stored = course.Position.from_json(part.position().as_json())
    resumed = course.Course(plans, GAP_DAYS, stored)
    rest = [resumed.record(entry) for entry in entries[split:]]
    assert [(a.findings, a.accepted, a.after) for a in [*first, *rest]] == [
        (a.findings, a.accepted, a.after) for a in whole
    ]
    later = START + datetime.timedelta(days=len(history) + 3)
    assert resumed.context_on(later) == walked.context_on(later)
    assert resumed.pending_step(later) == walked.pending_step(later)


@settings(max_examples=150, deadline=None)
@given(
    raw=plans_strategy,
    states=states_strategy,
    history=history_strategy,
    new=st.integers(0, 64),
    choice=st.one_of(st.just("missed"), st.just("expected"), st.sampled_from(DOSES)),
    supply_changes=st.lists(st.booleans(), min_size=3, max_size=3),
    window=st.integers(0, 20),
)
@example(  # a run of missed days that the new day joins: its flag, on the run's first day, is re-derived
    raw=[(Decimal("0.5"), Decimal("0.5"), 7, Decimal("4.5"), 0)],
    states=[],
    history=["expected", "missed", "missed", None, "missed", "expected"],
    new=3,
    choice="missed",
    supply_changes=[False, False, False],
    window=1,
)
@example(  # a new day under a plan that changed the supply: its note is on the plan's first dosed day only
    raw=[
        (Decimal("0.5"), Decimal("0.5"), 7, Decimal("4.5"), 0),
        (Decimal("0.5"), Decimal("0.5"), 7, Decimal("4.5"), 2),
    ],
    states=[],
    history=["expected"] * 6,
    new=0,
    choice="expected",
    supply_changes=[False, True, False],
    window=3,
)
@example(  # a run of days off the expected dose that began the day before the latest part read
    raw=[(Decimal("0.5"), Decimal("0.5"), 7, Decimal("4.5"), 0)],
    states=[],
    history=["expected"] * 7 + [Decimal("0.5")] * 3,
    new=0,
    choice=Decimal("0.5"),
    supply_changes=[False, False, False],
    window=2,
)
def test_reassessing_from_a_new_day_gives_the_whole_walk_s_flags(
    raw, states, history, new, choice, supply_changes, window
):
    """A new entry re-assesses only the entries it can alter; every other entry's flags stand as they were."""
    plans = [
        dataclasses.replace(plan, supply_change="the same mL is now half the dose" if changes and index else "")
        for index, (plan, changes) in enumerate(zip(build_plans(raw, states), supply_changes, strict=False))
    ]
    entries = random_walk(plans, history)
    taken_days = {entry.day for entry in entries}
    free = [day for offset in range(65) if (day := START + datetime.timedelta(days=offset)) not in taken_days]
    day = free[new % len(free)]
    old, _ = course.walk(entries, plans, GAP_DAYS)
    stored = {item.entry.id: course.Position.from_json(item.after.as_json()) for item in old}
    if choice == "missed":
        added = course.EntryFact(100, day, False, None)
    else:
        expected = course.walk([e for e in entries if e.day < day], plans, GAP_DAYS)[1].context_on(day).expected
        added = course.EntryFact(100, day, True, (expected if choice == "expected" else choice) or Decimal("1"))
    record = [*entries, added]

    part = course.reassess_since(record, plans, GAP_DAYS, day, lambda entry: stored.get(entry.id))

    whole, _ = course.walk(record, plans, GAP_DAYS)
    assert part is not None
    assert part.assessed == [item for item in whole if item.entry.id in part.entry_ids]
    assert added.id in part.entry_ids
    whole_flags = course.derive_flags(whole)
    assert part.flags == [flag for flag in whole_flags if flag.entry_id in part.entry_ids]
    others_before = [flag for flag in course.derive_flags(old) if flag.entry_id not in part.entry_ids]
    assert [flag for flag in whole_flags if flag.entry_id not in part.entry_ids] == others_before
    # From only the latest days of the record (and the entry before them), the same, or None: read it all.
    recent = [entry for entry in record if entry.day >= day - datetime.timedelta(days=window)]
    older = [entry for entry in record if entry.day < day - datetime.timedelta(days=window)]
    latest = recent + older[-1:]
    from_part = course.reassess_since(
        latest, plans, GAP_DAYS, day, lambda entry: stored.get(entry.id), complete=not older
    )
    assert from_part is None or from_part == part
    if from_part is None:  # the part needed the course before its first entry: a run reaches it, or a supply change
        first_in_part = min(item.entry.day for item in part.assessed)
        assert older and (first_in_part <= min(e.day for e in recent) or any(p.supply_change for p in plans))
    resumed = course.resume_from_part(latest, plans, GAP_DAYS, day, lambda entry: stored.get(entry.id))
    assert (
        resumed is None
        or resumed.position()
        == course.resume_before(record, plans, GAP_DAYS, day, lambda entry: stored.get(entry.id)).position()
    )


def test_a_position_stored_by_other_rules_is_never_resumed_from():
    plans = build_plans([(Decimal("0.5"), Decimal("0.5"), 7, Decimal("4.5"), 0)], [])
    first = course.EntryFact(1, START, True, Decimal("0.5"))
    stale = dataclasses.replace(course.Course(plans, GAP_DAYS).record(first).after, rules_version=None)
    later = course.EntryFact(2, START + datetime.timedelta(days=1), True, Decimal("0.5"))

    assert course.reassess_since([first, later], plans, GAP_DAYS, later.day, lambda entry: stale) is None
    unversioned = {key: value for key, value in stale.as_json().items() if key != "version"}
    assert not course.Position.from_json(unversioned).current


# --- recorded histories ----------------------------------------------------------------------------------

DAY_ACTIONS = st.sampled_from(
    ["expected"] * 5
    + ["slip", "other", "missed", "missed", "gap", "gap", "backfill", "void", "hold", "titrate", "pause", "plan"]
)


def _snapshot(patient) -> tuple:
    flags = sorted(
        Flag.objects.filter(patient=patient).values_list(
            "pk", "dose_entry_id", "kind", "severity", "message", "acknowledged_at", "closed_as"
        )
    )
    entries = sorted(DoseEntry.objects.filter(patient=patient).values_list("pk", "scheduled_dose_mg", "course_after"))
    return flags, entries, Flag.history.filter(patient_id=patient.pk).count()  # type: ignore[attr-defined]  # simple-history


def _record(patient, by, day, dose, status=DoseStatus.TAKEN) -> None:
    with contextlib.suppress(services.RecordError):  # a second entry for the day: refused, nothing written
        services.dose_record(
            patient=patient, by=by, taken_on=day, dose_mg=dose, status=status, confirmed=True, override_reason="checked"
        )


@pytest.mark.django_db
@pytest.mark.parametrize("recent_days", [services.RECENT_DAYS, 1], ids=["whole-record", "latest-days"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(days=st.lists(DAY_ACTIONS, min_size=10, max_size=40), data=st.data())
def test_recorded_histories_keep_their_flags_consistent(make_patient, prescriber, monkeypatch, recent_days, days, data):
    """A dose reads the latest ``RECENT_DAYS`` of the record: with 1, it often has to read all of it instead."""
    monkeypatch.setattr(services, "RECENT_DAYS", recent_days)
    with time_machine.travel(MONDAY, tick=False) as clock, transaction.atomic():
        patient = make_patient()
        services.plan_set(
            patient=patient,
            by=prescriber,
            start_date=timezone.localdate(),
            starting_dose_mg=Decimal("0.5"),
            step_mg=Decimal("0.5"),
            step_interval_days=data.draw(st.integers(3, 10)),
            target_dose_mg=Decimal("4.5"),
        )
        for action in days:
            today = timezone.localdate()
            expected = selectors.patient_summary(patient, today).scheduled_today
            if action == "expected" and expected is not None:
                _record(patient, prescriber, today, expected)
            elif action == "slip":
                _record(patient, prescriber, today, (expected or Decimal("1")) * 10)
            elif action == "other":
                _record(patient, prescriber, today, data.draw(st.sampled_from(DOSES)))
            elif action == "missed":
                _record(patient, prescriber, today, None, DoseStatus.MISSED)
            elif action == "backfill":
                back = today - datetime.timedelta(days=data.draw(st.integers(1, 6)))
                _record(patient, prescriber, back, data.draw(st.sampled_from(DOSES)))
            elif action == "void":
                live = list(DoseEntry.objects.live().filter(patient=patient))
                if live:
                    entry = data.draw(st.sampled_from(live))
                    services.dose_void(entry=entry, by=prescriber, reason="wrong entry")
            elif action in ("hold", "titrate", "pause"):
                state = {"hold": "holding", "titrate": "titrating", "pause": "paused"}[action]
                with contextlib.suppress(services.RecordError):  # already in that state
                    services.plan_state_set(patient=patient, by=prescriber, state=state, reason="as agreed")
            elif action == "plan":
                services.plan_set(
                    patient=patient,
                    by=prescriber,
                    start_date=today - datetime.timedelta(days=data.draw(st.integers(0, 5))),
                    starting_dose_mg=data.draw(st.sampled_from([Decimal("0.5"), Decimal("1"), Decimal("1.5")])),
                    step_mg=Decimal("0.5"),
                    step_interval_days=7,
                    target_dose_mg=Decimal("4.5"),
                )
            open_flags = list(Flag.objects.filter(patient=patient, acknowledged_at__isnull=True))
            if open_flags and data.draw(st.booleans()):
                flag = data.draw(st.sampled_from(open_flags))
                services.flag_acknowledge(flag=flag, by=prescriber, note="checked with the patient")
            clock.shift(datetime.timedelta(days=1))

        today = timezone.localdate()
        # No open flag on a voided entry.
        assert not Flag.objects.filter(
            patient=patient, dose_entry__voided_at__isnull=False, acknowledged_at__isnull=True
        ).exists()
        # Re-assessing changes nothing, and again nothing.
        before = _snapshot(patient)
        services.flags_reconcile(patient=patient, by=prescriber, cause="a check")
        assert _snapshot(patient) == before
        services.flags_reconcile(patient=patient, by=prescriber, cause="a check")
        assert _snapshot(patient) == before
        # What each entry stores of its re-assessment is what a fresh walk gives.
        facts = selectors.course_facts(patient)
        assessed, _ = course.walk(facts.entries, facts.terms, facts.gap_days)
        for item in assessed:
            expected, after = facts.derived[item.entry.id]
            assert (expected, course.Position.from_json(after)) == (
                item.context.expected,
                item.after,
            )
        # The dashboard and the patient page agree on a due step-up.
        board = dict(selectors.dashboard(prescriber, today).due_step_up)
        assert board.get(patient) == selectors.patient_summary(patient, today).step_up_due
        transaction.set_rollback(True)
