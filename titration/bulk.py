"""Insert many clinical records at once, each with its audit (history) row, on both databases.

PostgreSQL takes large batches through ``COPY`` (psycopg 3 ``cursor.copy()``): the ids come from the table's
sequence first, so the history rows can name their records. Small batches, and SQLite, go through
``bulk_create``. Either way the records and their history rows are written in the caller's transaction, and
the history rows are the ones ``django-simple-history`` writes for a save ("+", the user, the reason).

Inside ``deferred_copies`` (an import) the copies of many batches are written together, one ``COPY`` per table,
before the next statement of any kind runs on the connection.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models import signals
from django.utils import timezone

from patients.audit import audited, bulk_create_audited

Record = TypeVar("Record", bound=models.Model)

COPY_FROM_ROWS = 50  # below this an INSERT costs no more than a COPY and the id round trip


def unsaved(model: type[Record], *, related: dict[str, models.Model | None], **values: Any) -> Record:
    """An unsaved instance of ``model``, as ``model(**values)`` builds it but without ``Model.__init__``'s
    per-field work (several times faster, which counts for the many rows of a batch). ``values`` by attname
    (other fields take their defaults); ``related``: foreign keys by name, cached on the instance so reading
    them costs no query. A model with ``pre_init``/``post_init`` receivers is built through ``__init__``."""
    shape = _shape(model, tuple(related))
    row = list(shape.defaults)
    for index in shape.computed:
        row[index] = shape.fields[index].get_default()
    position = shape.position
    for name, value in values.items():
        row[position[name]] = value
    for index, obj in zip(shape.related, related.values(), strict=True):
        row[index] = None if obj is None else obj.pk
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        instance = model(*row)
    else:
        instance = model.__new__(model)
        instance._state = models.base.ModelState()
        instance.__dict__.update(zip(shape.names, row, strict=True))
    for key, obj in zip(shape.keys, related.values(), strict=True):
        if obj is not None:
            key.set_cached_value(instance, obj)
    return instance


@dataclass(frozen=True)
class _Shape:
    """What building an instance of a model needs, worked out once per model."""

    fields: list[models.Field[Any, Any]]  # the concrete fields, in order
    names: list[str]  # their attnames
    position: dict[str, int]  # attname -> index
    defaults: list[Any]  # each field's default (a callable default is called again for each instance)
    computed: list[int]  # the fields whose default is called for each instance
    keys: list[Any]  # the foreign keys passed as related objects
    related: list[int]  # their positions


@functools.cache
def _shape(model: type[models.Model], related: tuple[str, ...]) -> _Shape:
    fields = list(model._meta.concrete_fields)
    names = [f.attname for f in fields]
    position = {name: index for index, name in enumerate(names)}
    keys = [_foreign_key(model, name) for name in related]
    # A default that is not a callable is the same object for every instance in Django too.
    computed = [i for i, f in enumerate(fields) if f.has_default() and (callable(f.default) or f.is_relation)]
    defaults = [None if i in computed else f.get_default() for i, f in enumerate(fields)]
    return _Shape(fields, names, position, defaults, computed, keys, [position[k.attname] for k in keys])


def _foreign_key(model: type[models.Model], name: str) -> models.ForeignKey[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.ForeignKey):
        raise TypeError(f"{model.__name__}.{name} is not a foreign key")
    return field


def insert_with_history(objects: Sequence[Record], *, by: Any, reasons: Sequence[str]) -> list[Record]:
    """Insert ``objects`` (unsaved, of one model) and a history row for each, giving each ``reasons[i]`` as
    its "why". Returns the objects with their ids set."""
    if not objects:
        return []
    if len(reasons) != len(objects):
        raise ValueError("One reason per record.")
    if connection.vendor == "postgresql" and (len(objects) >= COPY_FROM_ROWS or _pending.get() is not None):
        return _copy_with_history(list(objects), by=by, reasons=reasons)
    for instance, reason in zip(objects, reasons, strict=True):
        audited(instance, by=by, reason=reason)
    return bulk_create_audited(list(objects), by=by)


def _copy_with_history(objects: list[Record], *, by: Any, reasons: Sequence[str]) -> list[Record]:
    model = type(objects[0])
    meta = model._meta
    now = timezone.now()
    ids = _ids(meta.db_table, meta.pk.column, len(objects))
    fields = list(meta.concrete_fields)
    stamped = [f.attname for f in fields if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)]
    alias, pk_name = connection.alias, meta.pk.attname
    for instance, pk in zip(objects, ids, strict=True):
        for name in stamped:
            setattr(instance, name, now)
        setattr(instance, pk_name, pk)
        instance._state.adding = False
        instance._state.db = alias
    _copy(meta.db_table, fields, (row for row, _ in _rows(objects, fields)))

    history = _history_model(model)
    tracked = [f for f in history._meta.concrete_fields if not f.name.startswith("history_")]
    extra = ["history_date", "history_change_reason", "history_type", "history_user_id"]
    user_id = getattr(by, "pk", None)
    rows = ([*row, now, reasons[index], "+", user_id] for row, index in _rows(objects, tracked))
    _copy(history._meta.db_table, [*tracked, *extra], rows)
    return objects


@functools.cache
def _history_model(model: type[models.Model]) -> type[models.Model]:
    """The model's history model (``model.history`` builds a manager on every read)."""
    return model.history.model  # type: ignore[attr-defined]  # simple-history's manager, undeclared


def _rows(objects: list[Record], fields: list[models.Field[Any, Any]]) -> Any:
    """Each object's values of ``fields`` as COPY takes them (JSON as text), with the object's index."""
    values = operator.attrgetter(*(f.attname for f in fields))
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    for index, instance in enumerate(objects):
        row = list(values(instance))
        for i in json_at:
            if row[i] is not None:
                row[i] = json.dumps(row[i], cls=DjangoJSONEncoder)
        yield row, index


def _ids(table: str, column: str, count: int) -> list[int]:
    """``count`` new ids from the table's sequence (from the block reserved by ``deferred_copies``, if any)."""
    pending = _pending.get()
    if pending is None or pending.fresh:
        return _nextval(table, column, count)
    pool = pending.ids.setdefault(table, [])
    if len(pool) < count:
        pool.extend(_nextval(table, column, max(count - len(pool), ID_BLOCK)))
    ids, pool[:] = pool[:count], pool[count:]
    return ids


def _nextval(table: str, column: str, count: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(table: str, columns: Sequence[models.Field[Any, Any] | str], rows: Any) -> None:
    names = ", ".join(connection.ops.quote_name(c if isinstance(c, str) else c.column) for c in columns)
    pending = _pending.get()
    if pending is not None:
        pending.add(table, names, rows)
        return
    _copy_now(table, names, rows)


def _copy_now(table: str, names: str, rows: Any) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, under Django's wrapper
        with raw.copy(f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


ID_BLOCK = 2000  # ids reserved at once while copies are deferred (unused ones are a gap in the sequence)
FLUSH_ROWS = 50_000  # deferred rows written once this many are waiting


class _Pending:
    """Rows waiting to be copied, by table and columns, in the order they were first given."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Any]] = {}
        self.count = 0
        self.ids: dict[str, list[int]] = {}
        self.fresh = False  # ids taken from the sequence now, not from the reserved blocks (``fresh_ids``)

    def add(self, table: str, names: str, rows: Any) -> None:
        waiting = self.rows.setdefault((table, names), [])
        before = len(waiting)
        waiting.extend(rows)
        self.count += len(waiting) - before
        if self.count >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        rows, self.rows, self.count = self.rows, {}, 0
        for (table, names), waiting in rows.items():
            _copy_now(table, names, waiting)

    def before_query(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        """Every statement Django runs on the connection sees the rows given before it."""
        if self.count:
            self.flush()
        return execute(sql, params, many, context)


_pending: ContextVar[_Pending | None] = ContextVar("bulk_pending_copies", default=None)


@contextlib.contextmanager
def deferred_copies() -> Iterator[None]:
    """Inside the block (PostgreSQL), ``insert_with_history`` reserves ids in blocks and holds its rows back,
    writing them with one ``COPY`` per table for many batches: before any other statement runs on the
    connection (a read, a savepoint, an INSERT: each sees every row given before it), once ``FLUSH_ROWS`` are
    waiting, and when the block ends. Rows still waiting when the block ends with an exception are dropped:
    the caller's transaction, which the exception rolls back, would have dropped them too. Use it inside a
    transaction (``transaction.atomic``), around many batches of one piece of work (an import)."""
    if connection.vendor != "postgresql" or _pending.get() is not None:
        yield
        return
    pending = _Pending()
    token = _pending.set(pending)
    try:
        with connection.execute_wrapper(pending.before_query):
            yield
            pending.flush()
    finally:
        _pending.reset(token)


@contextlib.contextmanager
def fresh_ids() -> Iterator[None]:
    """Inside ``deferred_copies``, the records inserted in this block take ids from the sequence now rather
    than from the blocks reserved earlier: for a patient already on record, locked by the caller, so that the
    records added are newer (higher ids) than every record of the patient committed before the lock, as
    ``outcome_store`` expects of a record's ids. (A patient registered in the transaction needs none: no one
    can have read their records.)"""
    pending = _pending.get()
    if pending is None or pending.fresh:
        yield
        return
    pending.fresh = True
    try:
        yield
    finally:
        pending.fresh = False
