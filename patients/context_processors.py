from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import Role, role_of


def clinician(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's role, for navigation and for hiding actions they cannot take."""
    user = getattr(request, "user", None)  # absent when a request is refused before authentication
    role = role_of(user) if user is not None else None
    return {"user_role": role, "is_prescriber": role is Role.PRESCRIBER}
