"""Shared fixtures: two clinics, a prescriber and a staff member of the first, and an outsider of the second."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from patients.models import Clinic, Condition, Diagnosis, Membership, Patient
from patients.roles import Role

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: Role | None, clinic: Clinic | None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.group_name))
    if clinic is not None:
        Membership.objects.create(user=user, clinic=clinic)
    return user


@pytest.fixture
def today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture
def clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="North Pain Clinic")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="South Pain Clinic")


@pytest.fixture
def prescriber(clinic: Clinic) -> User:
    return make_user("dr.lee", Role.PRESCRIBER, clinic)


@pytest.fixture
def staff(clinic: Clinic) -> User:
    return make_user("nurse.kim", Role.STAFF, clinic)


@pytest.fixture
def outsider(other_clinic: Clinic) -> User:
    """A prescriber of another clinic: sees none of the first clinic's patients."""
    return make_user("dr.other", Role.PRESCRIBER, other_clinic)


@pytest.fixture
def fibromyalgia(db: None) -> Condition:
    return Condition.objects.get(name="Fibromyalgia")


@pytest.fixture
def crohns(db: None) -> Condition:
    return Condition.objects.get(name="Crohn's disease")


@pytest.fixture
def make_patient(clinic: Clinic, prescriber: User, fibromyalgia: Condition) -> Callable[..., Patient]:
    counter = iter(range(1, 10_000))

    def build(**overrides: Any) -> Patient:
        fields: dict[str, Any] = {
            "clinic": clinic,
            "mrn": f"MRN-{next(counter):04d}",
            "given_name": "Ada",
            "family_name": "Byron",
            "date_of_birth": datetime.date(1980, 6, 1),
            "prescriber": prescriber,
        }
        fields.update(overrides)
        patient = Patient.objects.create(**fields)
        Diagnosis.objects.create(patient=patient, condition=fibromyalgia, diagnosed_on=datetime.date(2020, 1, 1))
        return patient

    return build


@pytest.fixture
def patient(make_patient: Callable[..., Patient]) -> Patient:
    return make_patient(mrn="A-100", given_name="Ada", family_name="Byron")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def prescriber_client(prescriber: User) -> Client:
    return client_for(prescriber)


@pytest.fixture
def staff_client(staff: User) -> Client:
    return client_for(staff)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return client_for(outsider)


def mg(value: str) -> Decimal:
    return Decimal(value)
