"""The whole database as a comparable value: row count and checksum of every table, history tables included.

A test that must change nothing takes ``database_state()`` before and after and compares them: any row added,
removed or changed in any table (clinical records, their audit history, the access log, accounts) shows up as the
name of that table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet

# Per table, the rows left out of the comparison (a function of the table's queryset), for rows that are not
# records: a table mapped to None is left out altogether.
Exclusions = Mapping[str, Callable[[QuerySet[Any]], QuerySet[Any]] | None]


def _rows(model: type[Model], exclusions: Exclusions) -> QuerySet[Any]:
    rows = model._base_manager.order_by("pk")
    exclude = exclusions.get(model._meta.db_table)
    return exclude(rows) if exclude is not None else rows


def database_state(exclusions: Exclusions | None = None) -> dict[str, tuple[int, str]]:
    """Each table's (row count, SHA-256 of all its rows' values in primary-key order)."""
    exclusions = exclusions or {}
    state = {}
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in exclusions and exclusions[table] is None:
            continue
        digest = hashlib.sha256()
        count = 0
        for row in _rows(model, exclusions).values_list().iterator():
            digest.update(repr(row).encode())
            count += 1
        state[table] = (count, digest.hexdigest())
    return state


def changed_tables(before: Mapping[str, tuple[int, str]], after: Mapping[str, tuple[int, str]]) -> list[str]:
    """The tables whose rows differ, with their row counts before and after."""
    return [
        f"{table}: {before.get(table, (0, ''))[0]} → {after.get(table, (0, ''))[0]} rows"
        for table in sorted(set(before) | set(after))
        if before.get(table) != after.get(table)
    ]


def own_rows_of(user: Any) -> dict[str, Callable[[QuerySet[Any]], QuerySet[Any]] | None]:
    """What a signed-in user's own requests write by design, left out: the sessions (in these tests only this
    user signs in), this user's own rows of the access log and of the sign-in log, the unconfirmed
    authenticator that opening the two-factor set-up page makes for them (its QR code), and the outcome figures
    of their own clinics' patients (a cache that the outcomes page rebuilds, never a record)."""
    from patients.access import patients_for

    return {
        "django_session": None,
        "patients_accesslog": lambda rows: rows.exclude(user=user),
        "axes_accesslog": lambda rows: rows.exclude(username=user.get_username()),
        "otp_totp_totpdevice": lambda rows: rows.exclude(user=user, confirmed=False),
        "titration_outcomefigures": lambda rows: rows.exclude(patient__in=patients_for(user)),
    }


@contextmanager
def database_unchanged(user: Any) -> Iterator[None]:
    """Assert that what runs inside changes no row of any table, but ``user``'s own (see ``own_rows_of``)."""
    exclusions = own_rows_of(user)
    before = database_state(exclusions)
    yield
    assert changed_tables(before, database_state(exclusions)) == []
