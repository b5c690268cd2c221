"""The admin extends the opioid list but deletes nothing, and leaves clinical records to the app."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory

from medications.models import MedicationEntry, OpioidAlias, OpioidIngredient, SafetyProfile


@pytest.mark.django_db
@pytest.mark.parametrize("model", [OpioidIngredient, OpioidAlias, MedicationEntry, SafetyProfile])
def test_no_medication_record_can_be_deleted_in_the_admin(model):
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", password="a-long-admin-passphrase")
    model_admin = admin.site._registry[model]
    assert not model_admin.has_delete_permission(request)
    assert not model_admin.has_delete_permission(request, model_admin.get_queryset(request).first())


@pytest.mark.django_db
def test_administrators_may_add_to_the_opioid_list_but_not_write_clinical_records():
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", password="a-long-admin-passphrase")
    assert admin.site._registry[OpioidIngredient].has_add_permission(request)
    assert admin.site._registry[OpioidAlias].has_add_permission(request)
    assert not admin.site._registry[MedicationEntry].has_add_permission(request)
    assert not admin.site._registry[MedicationEntry].has_change_permission(request)
    assert not admin.site._registry[SafetyProfile].has_change_permission(request)
