"""Who is signed in, read once per request: the user with their roles, permissions, clinics and two-factor state.

Every signed-in request needs the same facts about its user: the role groups (navigation, role checks), the
permission codenames (every view's permission check), the clinics (which patients they see), and the
two-factor state (whether they must verify a code or set up an authenticator first). ``user_with_principal``
reads the user and all of these in one query, as aggregated subqueries on the user's row; the result is a
:class:`Principal` kept on that user object, so it lives exactly as long as the request that loaded it.
Nothing is cached across requests: a role, a membership or a device changed by anyone takes effect on the
user's next request.

A user object that did not come from the session (a fixture, a command, a form) carries no principal, and
the helpers that read one fall back to their own queries, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Exists, F, Func, OuterRef, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, Concat
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import Membership

PRINCIPAL_ATTR = "_principal"
# Joins a column's values into one text; a character that no name, codename or id contains.
_SEPARATOR = "\x1f"


class _Joined(Func):
    """The values of one column of a subquery as one text (GROUP_CONCAT on SQLite, STRING_AGG on PostgreSQL).

    A ``Func`` rather than an ``Aggregate`` so that Django adds no GROUP BY: the subquery aggregates all its
    rows into one, or gives NULL when it has none.
    """

    output_field = TextField()

    def __init__(self, expression: Any) -> None:
        super().__init__(Cast(expression, TextField()), Value(_SEPARATOR))

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="STRING_AGG", **extra)


def _joined(queryset: QuerySet[Any], expression: Any) -> Subquery:
    return Subquery(queryset.order_by().values(joined=_Joined(expression)))


def _codename() -> Concat:
    return Concat("content_type__app_label", Value("."), "codename", output_field=TextField())


def _split(text: str | None) -> frozenset[str]:
    return frozenset(text.split(_SEPARATOR)) if text else frozenset()


@dataclass(frozen=True)
class Principal:
    """The signed-in user's roles, permissions, clinics and two-factor state, as read at the request's start.

    ``user_permissions`` and ``group_permissions`` are "app_label.codename" strings, as Django's permission
    checks use them; ``devices`` the persistent ids (django-otp) of the user's confirmed authenticators.
    """

    group_names: frozenset[str]
    user_permissions: frozenset[str]
    group_permissions: frozenset[str]
    clinic_ids: frozenset[int]
    in_clinic_requiring_two_factor: bool
    devices: frozenset[str]

    @property
    def two_factor_enabled(self) -> bool:
        return bool(self.devices)


def _annotated(users: QuerySet[Any]) -> QuerySet[Any]:
    user = OuterRef("pk")
    return users.annotate(
        principal_groups=_joined(Group.objects.filter(user=user), F("name")),
        principal_user_perms=_joined(Permission.objects.filter(user=user), _codename()),
        principal_group_perms=_joined(Permission.objects.filter(group__user=user), _codename()),
        principal_clinics=_joined(Membership.objects.filter(user=user), F("clinic_id")),
        principal_required=Exists(
            Membership.objects.filter(user=user, clinic__require_two_factor_for_prescribers=True)
        ),
        principal_totp=_joined(TOTPDevice.objects.filter(user=user, confirmed=True), F("pk")),
        principal_static=_joined(StaticDevice.objects.filter(user=user, confirmed=True), F("pk")),
    )


def _principal_from(user: Any) -> Principal:
    devices = {f"{TOTPDevice.model_label()}/{pk}" for pk in _split(user.principal_totp)}
    devices |= {f"{StaticDevice.model_label()}/{pk}" for pk in _split(user.principal_static)}
    return Principal(
        group_names=_split(user.principal_groups),
        user_permissions=_split(user.principal_user_perms),
        group_permissions=_split(user.principal_group_perms),
        clinic_ids=frozenset(int(pk) for pk in _split(user.principal_clinics)),
        in_clinic_requiring_two_factor=bool(user.principal_required),
        devices=frozenset(devices),
    )


def user_with_principal(user_id: Any) -> User | None:
    """The user of ``user_id`` with their principal attached, in one query; None if there is no such user."""
    user = _annotated(get_user_model()._default_manager.filter(pk=user_id)).first()
    if user is None:
        return None
    principal = _principal_from(user)
    setattr(user, PRINCIPAL_ATTR, principal)
    # Django's permission checks (ModelBackend) read these caches before they query.
    user._user_perm_cache = set(principal.user_permissions)
    user._group_perm_cache = set(principal.group_permissions)
    user._perm_cache = {*principal.user_permissions, *principal.group_permissions}
    return user


def principal_of(user: Any) -> Principal | None:
    """The principal read with this user object, or None for a user that was not read with one."""
    return getattr(user, PRINCIPAL_ATTR, None)


def forget(user: Any) -> None:
    """Drop the principal of ``user`` after a change to what it holds, so that later reads query afresh."""
    for attr in (PRINCIPAL_ATTR, "_user_perm_cache", "_group_perm_cache", "_perm_cache"):
        if hasattr(user, attr):
            delattr(user, attr)
