"""The two clinical roles, as Django groups created by a data migration."""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    STAFF = "staff"

    @property
    def group_name(self) -> str:
        return GROUP_NAMES[self]


GROUP_NAMES: dict[Role, str] = {Role.PRESCRIBER: "Prescribers", Role.STAFF: "Clinic staff"}

# What each group may do, as "app_label.codename"; data migrations grant these.
PATIENT_PERMISSIONS: dict[Role, list[str]] = {
    Role.PRESCRIBER: ["patients.view_patient", "patients.add_patient", "patients.change_patient"],
    Role.STAFF: ["patients.view_patient"],
}


def role_of(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The user's role, or None. A prescriber who is also in the staff group counts as prescriber."""
    if not user.is_authenticated:
        return None
    # The signed-in user of a request carries its groups (accounts.principal); any other user is queried.
    from accounts.principal import principal_of

    principal = principal_of(user)
    if principal is not None:
        names: set[str] | frozenset[str] = principal.group_names
    elif isinstance(user, PermissionsMixin):  # a user model with groups, as Django's User is
        names = {g.name for g in user.groups.all()}
    else:
        return None
    for role in (Role.PRESCRIBER, Role.STAFF):
        if role.group_name in names:
            return role
    return None
