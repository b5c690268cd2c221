"""``visible_to(user)`` on every clinical model: the rows of the user's clinics and no others."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from accounts.principal import user_with_principal
from patients.models import Clinic, Membership, Patient
from tests.factories import ClinicRecords, UserFactory, clinic_with_records

# Rows reached from a clinic that are not clinical records of it: the memberships are the scoping itself; the
# access log and the FHIR clients are read by administrators only (the admin site, the access-log page).
NOT_SCOPED = {"patients.Membership", "patients.AccessLog", "fhir_api.FhirClient"}


def _reaches_a_clinic(model: type[models.Model], seen: frozenset[type[models.Model]] = frozenset()) -> bool:
    for field in model._meta.get_fields():
        if field.many_to_one or field.one_to_one:
            target = field.related_model
            if field.auto_created or target in seen or target is None:
                continue
            if target in (Clinic, Patient) or _reaches_a_clinic(target, seen | {model}):
                return True
    return False


def clinical_models() -> list[type[models.Model]]:
    """Every model whose rows belong to a clinic, directly or through a patient, but the history tables."""
    return [
        model
        for model in apps.get_models()
        if not model.__name__.startswith("Historical")
        and model._meta.label not in NOT_SCOPED
        and (model is Patient or _reaches_a_clinic(model))
    ]


def test_every_clinical_model_has_visible_to():
    found = clinical_models()
    assert {m._meta.label for m in found} >= {
        "patients.Patient",
        "titration.DoseEntry",
        "titration.Flag",
        "titration.FlagComment",
        "titration.SideEffect",
        "medications.MedicationEntry",
        "medications.SafetyProfile",
        "importer.ImportBatch",
    }
    missing = [m._meta.label for m in found if not hasattr(m._default_manager, "visible_to")]
    assert not missing, f"give {missing} a queryset with visible_to (patients.models.ClinicScopedQuerySet)"


@pytest.fixture
def north(db: None, today) -> ClinicRecords:
    return clinic_with_records(today, name="North Pain Clinic")


@pytest.fixture
def south(db: None, today) -> ClinicRecords:
    return clinic_with_records(today, name="South Pain Clinic")


def _visible(model: type[models.Model], user) -> set[int]:
    return set(model._default_manager.visible_to(user).values_list("pk", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("model", clinical_models(), ids=lambda m: m._meta.label)
def test_a_member_sees_only_the_rows_of_their_clinic(model, north, south):
    north_rows, south_rows = _visible(model, north.prescriber), _visible(model, south.prescriber)
    assert north_rows and south_rows
    assert not north_rows & south_rows
    assert north_rows | south_rows == set(model._default_manager.values_list("pk", flat=True))
    # The request's user, read with its principal, sees the same rows.
    assert _visible(model, user_with_principal(north.prescriber.pk)) == north_rows


@pytest.mark.django_db
@pytest.mark.parametrize("model", clinical_models(), ids=lambda m: m._meta.label)
def test_nobody_signed_in_sees_nothing_a_superuser_everything_a_member_of_both_both(model, north, south):
    everything = set(model._default_manager.values_list("pk", flat=True))
    assert _visible(model, AnonymousUser()) == set()
    assert _visible(model, User.objects.create_superuser("root", password="x")) == everything
    both = UserFactory(clinic=north.clinic)
    Membership.objects.create(user=both, clinic=south.clinic)
    assert _visible(model, both) == everything
    assert _visible(model, UserFactory()) == set()  # a member of no clinic


@pytest.mark.django_db
def test_scoping_with_the_principal_adds_no_query(north, django_assert_num_queries):
    user = user_with_principal(north.prescriber.pk)
    with django_assert_num_queries(1):
        list(Patient.objects.visible_to(user))
