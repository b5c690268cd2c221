"""Optimistic concurrency for the edit forms of clinical records: a save never silently overwrites.

The *version* of a record is the id of its newest django-simple-history row. Services save clinical records
through the helpers in ``patients/audit.py``, and every save writes one history row, so any save by anyone
gives the record a new version; no extra column is needed.

The version the user opened travels with the form, and the service checks it inside its transaction:

Form (``forms.py``)::

    class ThingForm(VersionedFormMixin, forms.ModelForm):  # the mixin first
        ...                                                # a crispy Layout must list VERSION_FIELD

View::

    form = ThingForm(request.POST or None, instance=thing)
    if request.method == "POST" and form.is_valid():
        try:
            thing_save(thing=form.save(commit=False), by=request.user, version=form.opened_version)
        except StaleEditError as exc:
            form.show_stale(exc, current=Thing.objects.get(pk=thing.pk))  # re-render, do not redirect
        else:
            return redirect(...)
    # the template puts {% include "includes/stale_edit.html" %} inside its <form>

Service::

    with transaction.atomic():
        if version is not None:
            check_version(thing, opened=version, submitted=submitted_values(thing, THING_FIELDS))
        save_audited(thing, by=by, reason=reason)

``check_version`` locks the row, compares versions and raises :class:`StaleEditError` with who changed the
record, when, and a field-by-field diff. ``show_stale`` then gives the form the new version, keeps every
value the user changed, takes the current value for every field only the other user changed, and the page
offers "Re-apply my changes": nothing is merged or saved until the user submits again.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import QueryDict
from django.utils import dateformat, timezone
from django.utils.text import capfirst

VERSION_FIELD = "version"
TIME_FORMAT = "j M Y H:i"  # as elsewhere in the app: "30 Nov 2026 14:05"
STALE_EDIT = "This record was changed by {user} at {time} while you were editing"
VERSION_UNREADABLE = (
    "This form did not say which version of the record you opened. Reload the page and make your changes again."
)
EMPTY = "—"
# Larger ids than a 64-bit key can hold are forgeries; refuse them before they reach the database.
_MAX_VERSION_DIGITS = 18

# Values of fields that are not columns of the record (the patient's diagnoses, for example) as they were
# at a history row that stayed current until ``next_row`` (None: it is still current).
RelatedValues = Callable[[Any, Any | None], Mapping[str, Any]]


def version_of(instance: models.Model) -> int | None:
    """The id of the newest history row of ``instance``; None for an unsaved record or one without history."""
    if instance.pk is None:
        return None
    history = instance.history  # type: ignore[attr-defined]  # simple-history's manager; Model does not declare it
    return history.order_by("-history_id").values_list("history_id", flat=True).first()


@dataclass(frozen=True)
class FieldChange:
    """One field of the diff: as the user opened it, as it is now, and as the user submitted it (for display)."""

    name: str
    label: str
    opened: str
    current: str
    submitted: str

    @property
    def changed_by_other(self) -> bool:
        return self.opened != self.current

    @property
    def changed_by_you(self) -> bool:
        return self.submitted != self.opened

    @property
    def conflict(self) -> bool:
        """Both changed it, differently: the user must choose (their value is kept in the form)."""
        return self.changed_by_other and self.changed_by_you and self.submitted != self.current


class StaleEditError(Exception):
    """The record changed after the user opened the form; nothing was saved.

    Carries who made the newest change, when, the record's new version and the field-by-field diff.
    """

    def __init__(
        self,
        *,
        changed_by: str,
        changed_at: datetime.datetime,
        current_version: int | None,
        changes: Iterable[FieldChange],
    ) -> None:
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current_version = current_version
        self.changes = tuple(changes)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        when = dateformat.format(timezone.localtime(self.changed_at), TIME_FORMAT)
        return STALE_EDIT.format(user=self.changed_by, time=when)


def display_value(value: Any, field: models.Field | None = None) -> str:
    """A value as a person reads it, the same for a history row, the database and a submitted form."""
    if field is not None and value not in (None, ""):
        if field.choices:
            value = dict(field.flatchoices).get(value, value)
        elif field.is_relation and not isinstance(value, models.Model):
            related = field.related_model
            if isinstance(related, type) and issubclass(related, models.Model):
                value = related._default_manager.filter(pk=value).first() or value
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime.datetime):
        return dateformat.format(timezone.localtime(value), TIME_FORMAT)
    if isinstance(value, datetime.date):
        return dateformat.format(value, "j M Y")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, models.Model) and hasattr(value, "get_username"):
        return value.get_username()
    return str(value)


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a related value (a patient's diagnoses), not a column
        return None
    return field if isinstance(field, models.Field) and field.concrete and not field.many_to_many else None


def submitted_values(instance: models.Model, names: Iterable[str]) -> dict[str, Any]:
    """The values of the named columns on the (unsaved, edited) ``instance``: what the user submitted."""
    model = type(instance)
    return {name: getattr(instance, field.attname) for name in names if (field := _model_field(model, name))}


def _snapshot(
    model: type[models.Model], row: Any, next_row: Any | None, names: Iterable[str], related: RelatedValues | None
) -> dict[str, str]:
    extra = related(row, next_row) if related is not None else {}
    values = {}
    for name in names:
        field = _model_field(model, name)
        if field is not None:
            values[name] = display_value(getattr(row, field.attname), field)
        else:
            values[name] = display_value(extra.get(name))
    return values


def check_version(
    instance: models.Model,
    *,
    opened: int | None,
    submitted: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    related: RelatedValues | None = None,
) -> None:
    """Raise :class:`StaleEditError` unless ``instance`` is still at the version the user ``opened``.

    Call it inside the service's ``transaction.atomic()``, before saving: it locks the record's row
    (``select_for_update``) so that two saves of the same version cannot both pass. ``submitted`` maps
    the form's fields to the values the user submitted (columns: see :func:`submitted_values`; other
    keys, such as a patient's diagnoses, need ``related`` to give their values at a version).
    """
    model = type(instance)
    list(model._default_manager.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True))
    history = instance.history.all()  # type: ignore[attr-defined]  # simple-history's manager, undeclared on Model
    newest = history.order_by("-history_id").first()
    current_version = newest.history_id if newest is not None else None
    if (opened or None) == current_version:
        return
    names = list(submitted)
    label_for = dict(labels or {})
    for name in names:
        if name not in label_for:
            field = _model_field(model, name)
            label_for[name] = capfirst(str(field.verbose_name)) if field is not None else capfirst(name)
    opened_row = history.filter(history_id=opened).first() if opened else None
    if opened_row is not None:
        after = history.filter(history_id__gt=opened_row.history_id).order_by("history_id").first()
        then = _snapshot(model, opened_row, after, names, related)
    else:  # a version that is not one of this record's: nothing is known of what the user saw
        then = dict.fromkeys(names, EMPTY)
    now = _snapshot(model, newest, None, names, related) if newest is not None else dict.fromkeys(names, EMPTY)
    yours = {}
    for name in names:
        field = _model_field(model, name)
        yours[name] = display_value(submitted[name], field)
    changes = [
        FieldChange(name=name, label=label_for[name], opened=then[name], current=now[name], submitted=yours[name])
        for name in names
    ]
    user = getattr(newest, "history_user", None)
    raise StaleEditError(
        changed_by=user.get_username() if user is not None else "the system",
        changed_at=newest.history_date if newest is not None else timezone.now(),
        current_version=current_version,
        changes=[change for change in changes if change.changed_by_other or change.changed_by_you],
    )


def _as_data(value: Any) -> list[str]:
    """A Python value as the form data a browser would post for it (a list: one item per value)."""
    if value is None:
        return [""]
    if isinstance(value, bool):
        return ["on"] if value else []
    if isinstance(value, models.Model):
        return [str(value.pk)]
    if isinstance(value, datetime.date):
        return [value.isoformat()]
    if isinstance(value, list | tuple | set | models.QuerySet):
        return [item for element in value for item in _as_data(element)]
    return [str(value)]


class VersionedFormMixin(forms.BaseForm):
    """Adds the hidden ``version`` field: the version of the record the user opened.

    Put it before the form class in the bases. The record is ``self.instance`` (override
    :meth:`versioned_record` for a plain form). A new record has no version and gets no field.
    After ``is_valid()``, :attr:`opened_version` is what to pass to the service.
    """

    stale: StaleEditError | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        record = self.versioned_record()
        if record is not None and record.pk is not None:
            self.fields[VERSION_FIELD] = forms.CharField(
                required=False, widget=forms.HiddenInput, initial=str(version_of(record) or 0)
            )

    def versioned_record(self) -> models.Model | None:
        return getattr(self, "instance", None)

    @property
    def is_versioned(self) -> bool:
        return VERSION_FIELD in self.fields

    @property
    def opened_version(self) -> int | None:
        """The version the user opened (0: a record that had no history yet); None for a new record."""
        if not self.is_versioned:
            return None
        return self.cleaned_data[VERSION_FIELD]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if self.is_versioned:
            raw = self.data.get(self.add_prefix(VERSION_FIELD))
            text = raw.strip() if isinstance(raw, str) else ""
            if text.isascii() and text.isdecimal() and len(text) <= _MAX_VERSION_DIGITS:
                cleaned[VERSION_FIELD] = int(text)
            else:
                cleaned.pop(VERSION_FIELD, None)
                self.add_error(None, VERSION_UNREADABLE)
        return cleaned

    def show_stale(self, error: StaleEditError, *, current: models.Model | None) -> None:
        """Re-render after a refused save: the new version, the user's own changes, everyone else's.

        A field the user changed keeps the user's value, even if the other user changed it too (the diff
        shows both). A field only the other user changed shows its current value, so that re-applying the
        user's changes does not undo the other user's. Nothing is saved until the user submits again.
        """
        self.stale = error
        self.data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        self.put_data(VERSION_FIELD, [str(error.current_version or 0)])
        for change in error.changes:
            if change.changed_by_other and not change.changed_by_you and current is not None:
                self.reset_to_current(change.name, current)

    def reset_to_current(self, name: str, current: models.Model) -> None:
        """Put the field ``name`` of the (bound) form back to its value in ``current``."""
        if name in self.fields:
            self.put_data(name, _as_data(getattr(current, name)))

    def put_data(self, name: str, values: list[str]) -> None:
        """Replace the submitted value(s) of field ``name`` (the form's data must be a copy, not the request's)."""
        key, data = self.add_prefix(name), self.data
        if isinstance(data, QueryDict):
            data.setlist(key, values)
        elif not isinstance(data, dict):
            raise TypeError("put_data needs the form's data copied first (show_stale does)")
        elif len(values) == 1:
            data[key] = values[0]
        elif values:
            data[key] = values
        else:
            data.pop(key, None)
