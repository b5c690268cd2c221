"""Fixtures of the medication tests: the shipped opioid list and a clinic member without a clinical role."""

from __future__ import annotations

import datetime
from importlib import import_module
from typing import Any

import pytest
from django.contrib.auth.models import User

from medications import rules, selectors
from patients.models import Clinic
from tests.conftest import make_user

SHIPPED = import_module("medications.migrations.0002_opioid_reference_list").INGREDIENTS
ROLE_PERMISSIONS = import_module("medications.migrations.0003_role_permissions").ROLE_PERMISSIONS


@pytest.fixture
def references(db: None) -> list[rules.OpioidReference]:
    """The opioid list as the data migration shipped it."""
    return selectors.opioid_references()


@pytest.fixture
def no_role(clinic: Clinic) -> User:
    """A member of the clinic in neither role group: sees the clinic's patients, may do nothing clinical."""
    return make_user("front.desk", None, clinic)


def medication_data(**overrides: Any) -> dict[str, str]:
    data = {"reference": "", "name": "", "active_ingredient": "", "dose": "", "route": "", "start_date": ""}
    data.update(overrides)
    return data


def days_ago(today: datetime.date, days: int) -> str:
    return (today - datetime.timedelta(days=days)).isoformat()
