"""Who changed a clinical record and why, for the audit trail (django-simple-history).

Services call these before saving, so the history row carries the acting user even outside a request
(management commands) and the reason a void, an override or an edit required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import models
from simple_history.utils import bulk_create_with_history

Record = TypeVar("Record", bound=models.Model)


def audited(instance: Record, *, by: Any, reason: str = "") -> Record:
    """Mark ``instance`` so its next save is recorded as done by ``by``, for ``reason``."""
    instance._history_user = by  # type: ignore[attr-defined]  # simple-history's documented hook, undeclared
    instance._change_reason = reason  # type: ignore[attr-defined]  # simple-history's documented hook, undeclared
    return instance


def save_audited(instance: Record, *, by: Any, reason: str = "", **save_kwargs: Any) -> Record:
    audited(instance, by=by, reason=reason).save(**save_kwargs)
    return instance


def create_audited(model: type[Record], *, by: Any, reason: str = "", **fields: Any) -> Record:
    return save_audited(model(**fields), by=by, reason=reason)


def bulk_create_audited(objects: Sequence[Record], *, by: Any, reason: str = "") -> list[Record]:
    """Insert many rows at once, each with its history row."""
    if not objects:
        return []
    return list(
        bulk_create_with_history(list(objects), type(objects[0]), default_user=by, default_change_reason=reason)
    )
