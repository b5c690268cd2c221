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
