"""Helpers for data migrations that give the role groups their permissions."""

from __future__ import annotations

from typing import Any


def grant_permissions(apps: Any, app_label: str, role_permissions: dict[str, list[str]]) -> None:
    """Add ``app_label``'s permissions (by codename) to each named group, creating groups as needed.

    Permissions are normally created after ``migrate`` finishes; create them first so that a fresh
    database gets complete groups in one run.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for group_name, codenames in role_permissions.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        found = permission_model.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        if found.count() != len(codenames):
            raise RuntimeError(f"Missing permissions for {group_name}: {codenames}")
        group.permissions.add(*found)


def mrn_clashes(patient_model: Any) -> dict[str, list[str]]:
    """MRNs that differ only in letter case within one clinic: {clinic name: [the clashing MRNs]}.

    Lower-cases in the database, as the unique constraint on ``Lower("mrn")`` will, so that the check and the
    constraint agree on what is a clash.
    """
    from django.db.models import Count
    from django.db.models.functions import Lower

    clashing = (
        patient_model.objects.annotate(mrn_lower=Lower("mrn"))
        .values("clinic_id", "mrn_lower")
        .annotate(count=Count("id"))
        .filter(count__gt=1)
    )
    found: dict[str, list[str]] = {}
    for group in clashing:
        patients = patient_model.objects.annotate(mrn_lower=Lower("mrn")).filter(
            clinic_id=group["clinic_id"], mrn_lower=group["mrn_lower"]
        )
        for patient in patients.select_related("clinic").order_by("mrn", "pk"):
            found.setdefault(patient.clinic.name, []).append(patient.mrn)
    return found


def refuse_mrn_clashes(apps: Any, schema_editor: Any) -> None:
    """Stop the migration, listing every clash, rather than rename a medical record number silently."""
    clashes = mrn_clashes(apps.get_model("patients", "Patient"))
    if clashes:
        listing = "; ".join(f"clinic “{clinic}”: {', '.join(mrns)}" for clinic, mrns in sorted(clashes.items()))
        raise RuntimeError(
            "MRNs must be unique within a clinic regardless of letter case, and these differ only in case: "
            f"{listing}. Rename them first (each is a patient's medical record number: check which is right), "
            "then run the migration again."
        )
