"""COPY lines whose columns come from the models' own ``_meta``, so that a new field cannot be forgotten.

The generator names the fields it gives values for; every other concrete field takes its default (the
model's ``default``, its ``db_default``, an empty string for text, NULL where allowed). A field that has
none of these and that the generator does not give stops the generator at once, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.fields import NOT_PROVIDED

NULL = r"\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class MissingColumnError(LookupError):
    """A model field that is required, has no default, and that the generator does not fill."""


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_ESCAPES)


def _default(field: models.Field[Any, Any]) -> str:
    if field.db_default is not NOT_PROVIDED and not hasattr(field.db_default, "resolve_expression"):
        return copy_text(field.db_default)
    if field.has_default():
        return copy_text(field.get_default())
    if field.null:
        return NULL
    if field.empty_strings_allowed:
        return ""
    raise MissingColumnError(
        f"{field.model._meta.label}.{field.name} is required and has no default: the benchmark generator "
        "must give it a value (bench/datagen)."
    )


@dataclass(frozen=True)
class Table:
    """A model's table: its columns in ``_meta`` order and a COPY line template for the given fields."""

    model: type[models.Model]
    supplied: tuple[str, ...]
    columns: tuple[str, ...]
    template: str

    @classmethod
    def of(cls, model: type[models.Model], supplied: tuple[str, ...], *, absent_ok: tuple[str, ...] = ()) -> Table:
        """``absent_ok``: supplied names the model may lack (the fields an audit history leaves out)."""
        fields = model._meta.concrete_fields
        by_attname = {f.attname: f for f in fields}
        unknown = [name for name in supplied if name not in by_attname and name not in absent_ok]
        if unknown:
            raise MissingColumnError(f"{model._meta.label} has no field {', '.join(unknown)}")
        position = {name: index for index, name in enumerate(supplied)}
        cells = []
        for f in fields:
            if f.attname in position:
                cells.append("{%d}" % position[f.attname])  # noqa: UP031 - a template for str.format
            else:
                cells.append(_default(f).replace("{", "{{").replace("}", "}}"))
        return cls(model, supplied, tuple(f.column for f in fields), "\t".join(cells) + "\n")

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    def line(self, *values: Any) -> str:
        """A COPY line from Python values, in the order of ``supplied``."""
        return self.template.format(*map(copy_text, values))

    def raw(self, *values: Any) -> str:
        """A COPY line from values already in COPY text (None written as NULL): the hot path of doses."""
        return self.template.format(*values)
