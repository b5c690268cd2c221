from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import Role, role_of

# How a role reads on a page: one person's role, singular (the group names are plural).
ROLE_LABELS: dict[Role, str] = {Role.PRESCRIBER: "Prescriber", Role.STAFF: "Clinic staff"}


def clinician(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's role, for navigation and for hiding actions they cannot take."""
    user = getattr(request, "user", None)  # absent when a request is refused before authentication
    role = role_of(user) if user is not None else None
    return {
        "user_role": role,
        "user_role_label": ROLE_LABELS[role] if role is not None else "",
        "is_prescriber": role is Role.PRESCRIBER,
    }
