"""The page's SQL-aggregated measures agree with the per-patient pure measures, and cost a fixed number of queries."""

import datetime
import random
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Clinic, Condition, Diagnosis, Membership, Patient
from patients.roles import Role
from tests.conftest import built_once, client_for, fast_password_hashing, make_user
from titration import clinic_outcomes, outcome_aggregates
from titration.models import CheckIn, DoseEntry, DoseStatus, PlanStateChange, SideEffect, StopReason, TitrationPlan
from titration.rules import PlanState

from .conftest import MONDAY

pytestmark = pytest.mark.django_db

MAX_PAGE_QUERIES = 13  # session, user, permissions, clinic day, conditions, savepoint, SET LOCAL jit, measures
TODAY = datetime.date(2026, 3, 9)  # the ``clock`` fixture's day
COMPARED = (
    "patient_id",
    "sex",
    "date_of_birth",
    "conditions",
    "protocol",
    "first_dose",
    "target",
    "to_target",
    "at_target",
    "adherence",
    "response_12_weeks",
    "responder_12_weeks",
    "stopped_on",
    "stop_reason",
    "last_record",
    "maintenance_dose",
    "side_effect_weeks",
    "checkin_weeks",
    "side_effect_doses",
    "checkin_doses",
)


def _plan(patient, by, rng, start, *, active=True, preset="low_slow"):
    return TitrationPlan.objects.create(
        patient=patient,
        preset=preset,
        start_date=start,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=rng.choice([3, 7, 14]),
        target_dose_mg=Decimal(rng.choice(["1.5", "3", "4.5"])),
        is_active=active,
        created_by=by,
    )


def varied_patient(patient, by, rng: random.Random) -> None:
    """A random course: one or two plans, doses with gaps, misses, voids, off-plan entries, doses above target,
    check-ins (some before the first dose, some with PGIC or a side effect), sometimes stopped."""
    length = rng.choice([0, 5, 40, 100, 200, 400])
    start = TODAY - datetime.timedelta(days=length + rng.randint(0, 30))
    plans = []
    if rng.random() < 0.9:
        second = length > 60 and rng.random() < 0.4
        plans.append(_plan(patient, by, rng, start, active=not second, preset=rng.choice(["low_slow", "x"])))
        if second:
            plans.append(_plan(patient, by, rng, start + datetime.timedelta(days=length // 2), active=True))
    entries, day, dose = [], start, Decimal("0.5")
    end = TODAY if rng.random() < 0.5 else TODAY - datetime.timedelta(days=1 + rng.randint(0, 3))
    while day <= end and length:
        roll = rng.random()
        if roll < 0.03:
            day += datetime.timedelta(days=rng.choice([1, 2, 8, 12]))  # a gap, sometimes a restart
            continue
        plan = None if not plans or rng.random() < 0.05 else plans[-1] if day >= plans[-1].start_date else plans[0]
        if roll < 0.06:
            entries.append(
                DoseEntry(patient=patient, plan=plan, taken_on=day, status=DoseStatus.MISSED, recorded_by=by)
            )
        else:
            if rng.random() < 0.08:
                dose = min(dose + Decimal("0.5"), Decimal("6"))
            taken = dose if rng.random() > 0.02 else Decimal("0.25")
            entries.append(DoseEntry(patient=patient, plan=plan, taken_on=day, dose_mg=taken, recorded_by=by))
        day += datetime.timedelta(days=1)
    DoseEntry.objects.bulk_create(entries)
    for entry in rng.sample(entries, k=min(len(entries), 2)):
        entry.voided_at, entry.void_reason = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC), "wrong patient"
        entry.save()
    check_day = start - datetime.timedelta(days=rng.choice([1, 20, 31, 45]))
    pain = rng.randint(4, 9)
    while check_day <= TODAY:
        pgic = rng.choice([None, None, 2, 3, 4, 6])
        checkin = CheckIn.objects.create(
            patient=patient, checked_on=check_day, pain_score=pain, pgic=pgic, recorded_by=by
        )
        if rng.random() < 0.3:
            SideEffect.objects.create(checkin=checkin, kind=rng.choice(["nausea", "vivid_dreams"]), severity="mild")
        pain = max(0, min(10, pain + rng.choice([-2, -1, 0, 0, 1])))
        check_day += datetime.timedelta(days=rng.choice([3, 7, 7, 10, 20]))
    if plans and rng.random() < 0.35:
        stopped = TODAY - datetime.timedelta(days=rng.randint(0, max(1, length)))
        reason = rng.choice([StopReason.SIDE_EFFECTS, StopReason.NO_BENEFIT, StopReason.OTHER])
        PlanStateChange.objects.create(
            patient=patient, plan=plans[-1], state=PlanState.STOPPED, effective_on=stopped, stop_reason=reason,
            reason="as agreed", changed_by=by,
        )  # fmt: skip


@pytest.fixture(scope="module")
def varied_clinic_built(django_db_setup, django_db_blocker):
    """A clinic and its prescriber with 40 varied patients, built once for the module (see ``built_once``) on the
    ``clock`` fixture's standing clock; the last test of the module builds clinics of its own beside it."""
    with built_once(django_db_blocker):
        with time_machine.travel(MONDAY, tick=False), fast_password_hashing():
            clinic = Clinic.objects.create(name="Varied Clinic")
            prescriber = make_user("dr.varied", Role.PRESCRIBER, clinic)
            fibromyalgia = Condition.objects.get(name="Fibromyalgia")
            crohns = Condition.objects.get(name="Crohn's disease")
            rng = random.Random(15)
            for n in range(40):
                patient = Patient.objects.create(
                    clinic=clinic,
                    mrn=f"MRN-{n + 1:04d}",
                    given_name=f"V{n}",
                    family_name="Byron",
                    date_of_birth=datetime.date(1980, 6, 1),
                    prescriber=prescriber,
                    sex=rng.choice(["female", "male", ""]),
                )
                Diagnosis.objects.create(
                    patient=patient, condition=fibromyalgia, diagnosed_on=datetime.date(2020, 1, 1)
                )
                if n % 3 == 0:
                    patient.diagnoses.create(condition=crohns, diagnosed_on=datetime.date(2021, 1, 1))
                varied_patient(patient, prescriber, rng)
        yield prescriber


@pytest.fixture
def varied_clinic(varied_clinic_built, clock):
    return varied_clinic_built


def _fields(outcome):
    return {name: getattr(outcome, name) for name in COMPARED}


@pytest.mark.parametrize("query", [{}, {"period": "12m"}, {"protocol": "custom"}, {"protocol": "low_slow"}])
def test_the_aggregated_measures_equal_the_pure_measures_patient_by_patient(varied_clinic, query):
    filters = clinic_outcomes.parse_filters(query, today=TODAY)
    definition = clinic_outcomes.patient_outcomes(varied_clinic, filters, today=TODAY)
    patients = clinic_outcomes.selected_patients(varied_clinic, filters)
    fast = outcome_aggregates.clinic_outcomes(patients, filters, today=TODAY)
    expected = {o.patient_id: _fields(o) for o in definition}
    assert {o.patient_id: _fields(o) for o in fast} == expected
    assert definition, "the generated clinic has patients in every filter"


def test_the_generated_clinic_covers_the_edges(varied_clinic):
    """The comparison above only means something if the clinic has each kind of course."""
    outcomes = clinic_outcomes.patient_outcomes(varied_clinic, clinic_outcomes.Filters(), today=TODAY)
    started = [o for o in outcomes if o.started]
    assert any(not o.started for o in outcomes)
    assert any(o.to_target.reached for o in started) and any(not o.to_target.reached for o in started)
    assert any(o.stopped_on for o in started) and any(o.adherence and o.adherence.restarts for o in started)
    assert any(o.responder_12_weeks for o in started) and any(o.response_12_weeks for o in started)
    assert any(o.side_effect_doses for o in started)


def _clinic(index: int, patients: int, rng: random.Random) -> Clinic:
    clinic = Clinic.objects.create(name=f"Clinic {index}")
    by = make_user(f"dr.{index}", Role.PRESCRIBER, clinic)
    for n in range(patients):
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"C{index}-{n}",
            given_name="Quinn",
            family_name=f"Count{n}",
            date_of_birth=datetime.date(1970, 1, 1),
            prescriber=by,
        )
        varied_patient(patient, by, rng)
    return clinic


def _member_of(name: str, clinics: list[Clinic]):
    user = make_user(name, Role.PRESCRIBER, None)
    for clinic in clinics:
        Membership.objects.create(user=user, clinic=clinic)
    return user


def _page_queries(user) -> tuple[int, str]:
    client = client_for(user)
    client.get("/outcomes/")  # warm: the session and the permissions are loaded once per request anyway
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/outcomes/?period=12m").content.decode()
    return len(captured), page


def test_the_page_makes_as_many_queries_at_2_clinics_as_at_10_and_with_few_or_many_patients(clock):
    rng = random.Random(2)
    clinics = [_clinic(n, 1 if n == 0 else 6, rng) for n in range(10)]
    one_patient, one_page = _page_queries(_member_of("dr.one", clinics[:1]))
    two, two_page = _page_queries(_member_of("dr.two", clinics[:2]))
    ten, ten_page = _page_queries(_member_of("dr.ten", clinics))
    assert (one_page != two_page) and (two_page != ten_page)  # each saw its own clinics' figures
    assert one_patient == two == ten
    assert two <= MAX_PAGE_QUERIES
