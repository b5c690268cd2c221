"""COPY text collected per table, with a '+' audit row (django-simple-history) beside every record written."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import models

from .columns import Table

HISTORY_FIELDS = ("history_id", "history_date", "history_type", "history_user_id")
CREATED, CHANGED = "+", "~"


@dataclass(frozen=True)
class Audited:
    """A model's table and the table of its audit history, filled from the same values."""

    record: Table
    history: Table

    @classmethod
    def of(cls, model: type[models.Model], supplied: tuple[str, ...]) -> Audited:
        history_model = model.history.model  # type: ignore[attr-defined] # added by HistoricalRecords
        excluded = tuple(name for name in supplied if name not in {f.attname for f in history_model._meta.fields})
        return cls(
            Table.of(model, supplied),
            Table.of(history_model, supplied + HISTORY_FIELDS, absent_ok=excluded),
        )

    def tables(self) -> tuple[Table, Table]:
        return self.record, self.history


class Ids:
    """The next id of each table: the generator assigns every primary key itself."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, table: str) -> int:
        value = self.next.get(table, 1)
        self.next[table] = value + 1
        return value


class Batch:
    """Lines of COPY text per table, handed over (``take``) every few patients."""

    def __init__(self, ids: Ids, today: datetime.date, tables: list[Table]) -> None:
        self.ids = ids
        self.today = today.toordinal()
        self.order = [table.name for table in tables]
        self.lines: dict[str, list[str]] = {name: [] for name in self.order}
        self._iso: dict[int, str] = {}

    def iso(self, day: int) -> str:
        text = self._iso.get(day)
        if text is None:
            text = self._iso[day] = datetime.date.fromordinal(day).isoformat()
        return text

    def take(self) -> dict[str, str]:
        chunks = {name: "".join(lines) for name, lines in self.lines.items() if lines}
        self.lines = {name: [] for name in self.order}
        return chunks

    def add(self, table: Audited, values: tuple[Any, ...], at: Any, by: int | None) -> None:
        """A new record and its '+' audit row (at ``at``, by user ``by``)."""
        self.lines[table.record.name].append(table.record.line(*values))
        self.audit(table, values, at, by, CREATED)

    def add_changed(
        self,
        table: Audited,
        before: tuple[Any, ...],
        after: tuple[Any, ...],
        created: tuple[Any, int | None],
        changed: tuple[Any, int | None],
    ) -> None:
        """A record as it is now (``after``), with its '+' audit row as created and its '~' row as changed.

        ``created`` and ``changed`` are (when, by whom).
        """
        self.lines[table.record.name].append(table.record.line(*after))
        self.audit(table, before, *created, CREATED)
        self.audit(table, after, *changed, CHANGED)

    def audit(self, table: Audited, values: tuple[Any, ...], at: Any, by: int | None, kind: str = CHANGED) -> None:
        """An audit row of the record as ``values`` show it: '+' created, '~' changed."""
        history = table.history
        self.lines[history.name].append(history.line(*values, self.ids.take(history.name), at, kind, by))

    def add_raw(self, table: Audited, values: tuple[Any, ...], at: str, by: str) -> None:
        """As ``add``, for values already in COPY text (the millions of doses)."""
        self.lines[table.record.name].append(table.record.raw(*values))
        history = table.history
        self.lines[history.name].append(history.raw(*values, self.ids.take(history.name), at, CREATED, by))
