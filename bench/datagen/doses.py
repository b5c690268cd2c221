"""One patient's titration: plans from the plan form's presets (some change plan once) and daily doses with
missed days, gaps, the odd deviation and very rare tenfold slips, each dose with the flags the dose rules
raise and its audit row."""

from __future__ import annotations

import datetime
import functools
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from titration import rules

from .batch import Batch
from .columns import NULL
from .patients import PatientSpec
from .records import write_checkins, write_flag
from .tables import tables

# Per day of a patient's history (chosen so that about 1% of days carry a flag).
P_GAP_START = 0.003  # a run of 2-10 days with nothing recorded
P_SKIP = 0.02  # one day with nothing recorded
P_MISSED = 0.015  # recorded as missed
P_DEVIATE = 0.008  # an in-range dose other than the scheduled one
P_OUT_OF_RANGE = 0.0002  # a deliberate dose above 4.5 mg, confirmed with a reason
P_SLIP = 0.000001  # a tenfold decimal slip
P_PLAN_CHANGE = 0.25


@functools.lru_cache(maxsize=100_000)
def _findings(
    dose: Decimal, previous: Decimal | None, step: Decimal | None, scheduled: Decimal | None
) -> tuple[rules.Finding, ...]:
    # The space of (dose, previous, step, scheduled) is small: the rules run once per distinct case.
    plan = (
        rules.PlanTerms(None, datetime.date.min, rules.LDN_MIN_MG, step, 7, rules.LDN_MAX_MG)
        if step is not None
        else None
    )
    context = rules.DoseContext(plan=plan, expected=scheduled, previous=previous, is_first=previous is None)
    return tuple(rules.dose_findings(dose, context))


@dataclass
class Plan:
    id: int
    start: int  # ordinal day
    schedule: rules.Schedule
    steps: list[Decimal]  # scheduled dose after k steps, until the target
    formulation: str
    preset: str
    ended: int | None = None  # ordinal day the plan was replaced

    def scheduled(self, day: int) -> Decimal:
        k = (day - self.start) // self.schedule.step_interval_days
        return self.steps[k] if k < len(self.steps) else self.steps[-1]


def _plan_steps(schedule: rules.Schedule) -> list[Decimal]:
    steps: list[Decimal] = []
    k = 0
    while True:
        day = schedule.start_date + datetime.timedelta(days=k * schedule.step_interval_days)
        dose = rules.scheduled_dose(schedule, day)
        assert dose is not None  # noqa: S101 - on or after the start by construction
        steps.append(dose)
        if dose == schedule.target_dose_mg or schedule.step_mg == 0 or k > 100:
            return steps
        k += 1


def _deviation(rng: random.Random, scheduled: Decimal, step: Decimal) -> Decimal:
    """An in-range dose other than the scheduled one: a hold at the last step, half a dose, a bit more."""
    choice = rng.random()
    if choice < 0.5:
        return scheduled - step if scheduled - step >= rules.LDN_MIN_MG else scheduled + Decimal("0.5")
    if choice < 0.8:
        half = (scheduled / 2).quantize(Decimal("0.01")).normalize()
        return half if half >= rules.LDN_MIN_MG else Decimal("1")
    more = scheduled + Decimal("0.5")
    return more if more <= rules.LDN_MAX_MG else scheduled - Decimal("0.5")


class PatientHistory:
    """Writes one patient's plans, doses, check-ins and flags into a batch."""

    def __init__(self, batch: Batch) -> None:
        from titration.forms import PRESETS  # the plan form's presets (needs Django set up)

        self.batch = batch
        self.presets: dict[str, dict[str, Any]] = PRESETS
        self.tables = tables()

    def write(self, rng: random.Random, patient: PatientSpec) -> None:
        span = patient.end - patient.start + 1
        preset = rng.choices(("low_slow", "standard", "weekly_1mg"), weights=(50, 30, 20))[0]
        numbers = dict(self.presets[preset])
        if not patient.regular:
            preset, numbers = "low_slow", dict(self.presets["low_slow"])
        elif rng.random() < 0.2:
            numbers["target_dose_mg"] = rng.choice((Decimal("3"), Decimal("3.5"), Decimal("4")))
        fmt = rng.choices(("capsule", "liquid", "sublingual"), weights=(80, 15, 5))[0] if patient.regular else "capsule"
        plans = [self._plan(patient.start, preset, numbers, fmt)]
        if patient.regular and span >= 150 and rng.random() < P_PLAN_CHANGE:
            change = patient.start + rng.randint(60, span - 30)
            plans[0].ended = change
            start_dose = max(rules.LDN_MIN_MG, plans[0].scheduled(change) - Decimal("0.5"))
            target = rng.choice((Decimal("3"), Decimal("3.5"), Decimal("4"), Decimal("4.5")))
            custom = {
                "starting_dose_mg": start_dose,
                "step_mg": Decimal("0.5"),
                "step_interval_days": 14,
                "target_dose_mg": max(target, start_dose),
            }
            plans.append(self._plan(change, "", custom, rng.choice((fmt, "liquid"))))
        for plan in plans:
            self._write_plan(patient, plan)
        self._doses(rng, patient, plans)
        write_checkins(self.batch, rng, patient)

    def _plan(self, start: int, preset: str, numbers: dict[str, Any], fmt: str) -> Plan:
        schedule = rules.Schedule(
            start_date=datetime.date.fromordinal(start),
            starting_dose_mg=numbers["starting_dose_mg"],
            step_mg=numbers["step_mg"],
            step_interval_days=numbers["step_interval_days"],
            target_dose_mg=numbers["target_dose_mg"],
        )
        plan_id = self.batch.ids.take(self.tables.plan.record.name)
        return Plan(plan_id, start, schedule, _plan_steps(schedule), fmt, preset)

    def _write_plan(self, patient: PatientSpec, plan: Plan) -> None:
        s, iso, by = plan.schedule, self.batch.iso, patient.clinic.prescriber_id
        created = f"{iso(plan.start)} 09:00:00+00"
        concentration = "1" if plan.formulation == "liquid" else None
        terms: tuple[Any, ...] = (plan.id, patient.id, plan.preset, iso(plan.start), s.starting_dose_mg, s.step_mg)
        terms += (s.step_interval_days, s.target_dose_mg, plan.formulation, concentration)
        active = (*terms, True, by, created, None, None)
        if plan.ended is None:
            self.batch.add(self.tables.plan, active, created, by)
            return
        ended_at = f"{iso(plan.ended)} 09:00:00+00"
        ended = (*terms, False, by, created, ended_at, by)
        self.batch.add_changed(self.tables.plan, active, ended, (created, by), (ended_at, by))

    def _doses(self, rng: random.Random, patient: PatientSpec, plans: list[Plan]) -> None:
        previous: Decimal | None = None
        gap = 0
        random_ = rng.random
        for day in range(patient.start, patient.end + 1):
            if gap:
                gap -= 1
                continue
            plan = plans[-1] if len(plans) > 1 and day >= plans[-1].start else plans[0]
            scheduled = plan.scheduled(day)
            recorded_at = f"{self.batch.iso(day)} 20:{int(random_() * 60):02d}:00+00"
            r = random_() if patient.regular else 1.0
            if r < P_GAP_START:
                gap = rng.randint(1, 9)
                continue
            if r < P_GAP_START + P_SKIP:
                continue
            if r < P_GAP_START + P_SKIP + P_MISSED:
                self._dose(rng, patient, plan, day, None, scheduled, previous, recorded_at)
                continue
            dose = scheduled
            slip = False
            r -= P_GAP_START + P_SKIP + P_MISSED
            if r < P_SLIP:
                slip = True
                dose = scheduled * 10 if scheduled * 10 <= rules.HARD_MAX_MG else scheduled / 10
                dose = dose.quantize(Decimal("0.01")).normalize()
            elif r < P_SLIP + P_OUT_OF_RANGE:
                dose = Decimal("6")
            elif r < P_SLIP + P_OUT_OF_RANGE + P_DEVIATE:
                dose = _deviation(rng, scheduled, plan.schedule.step_mg)
            if slip and random_() < 0.5:
                # Voided the next morning with a reason; the right dose recorded for the same day.
                self._dose(rng, patient, plan, day, dose, scheduled, previous, recorded_at, voided=True)
                corrected_at = f"{self.batch.iso(day + 1)} 09:15:00+00"
                self._dose(rng, patient, plan, day, scheduled, scheduled, previous, corrected_at)
                previous = scheduled
                continue
            self._dose(rng, patient, plan, day, dose, scheduled, previous, recorded_at)
            previous = dose

    def _dose(
        self,
        rng: random.Random,
        patient: PatientSpec,
        plan: Plan,
        day: int,
        dose: Decimal | None,
        scheduled: Decimal,
        previous: Decimal | None,
        recorded_at: str,
        *,
        voided: bool = False,
    ) -> None:
        """One dose entry (None: missed) and its audit row, in COPY text: this runs millions of times."""
        table = self.tables.dose
        batch = self.batch
        entry_id = batch.ids.take(table.record.name)
        by = str(patient.clinic.prescriber_id)
        values: tuple[Any, ...]
        if dose is None:  # a missed dose carries no dose (it is never counted as taken)
            values = (entry_id, patient.id, batch.iso(day), NULL, plan.formulation, "missed", plan.id, scheduled)
            batch.add_raw(table, (*values, "", by, recorded_at, NULL, NULL, ""), recorded_at, by)
            return
        override = "Confirmed with the patient." if rules.out_of_range_message(dose) is not None else ""
        values = (entry_id, patient.id, batch.iso(day), dose, plan.formulation, "taken", plan.id, scheduled, override)
        live = (*values, by, recorded_at, NULL, NULL, "")
        if voided:
            voided_at = f"{batch.iso(day + 1)} 09:10:00+00"
            after = (*values, by, recorded_at, voided_at, by, "Decimal slip: wrong dose entered.")
            batch.lines[table.record.name].append(table.record.raw(*after))
            history = table.history
            for row, at, kind in ((live, recorded_at, "+"), (after, voided_at, "~")):
                batch.lines[history.name].append(history.raw(*row, batch.ids.take(history.name), at, kind, by))
        else:
            batch.add_raw(table, live, recorded_at, by)
        for finding in _findings(dose, previous, plan.schedule.step_mg, scheduled):
            write_flag(
                batch,
                rng,
                patient,
                day,
                recorded_at,
                (finding.kind.value, int(finding.severity), finding.message),
                dose_entry=entry_id,
                voided=voided,
            )
