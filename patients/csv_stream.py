"""Every CSV the app writes: streamed row by row, every cell quoted, no cell a spreadsheet would run.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a carriage
return) as a formula: OWASP "CSV injection". A text cell is therefore written with a leading apostrophe when
its first visible character is such a trigger, looking past what hides it from the eye: whitespace,
zero-width and other format characters, a double quote, or the fullwidth and small forms of the signs
(the fullwidth equals sign U+FF1D is ``=`` once normalised).

The same holds for the text after a ``,``, ``;``, tab or line break inside a cell: a spreadsheet told to split
on another separator than the file's (a semicolon-locale LibreOffice or Excel opening a comma file), or one
that reads the quoting loosely, starts a new cell there. LibreOffice, for one, ends a quoted field at any
double quote followed by ``;`` when ``;`` is the separator, so quoting alone does not keep ``x";=1+1`` whole.

Every cell is quoted, so a cell holding the separator stays one cell, and a semicolon import of the file
sees each line start inside quotes. Numbers the app writes (``Decimal``, ``int``) are written as they are.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

# What a spreadsheet may run as a formula, after Unicode NFKC normalisation (which folds the fullwidth forms
# U+FF1D, U+FF0B, U+FF0D, U+FF20 and the small forms U+FE66, U+FE62, U+FE63, U+FE6B into these); U+2212, the
# minus sign, is not folded by NFKC, so it is listed itself.
FORMULA_SIGNS = frozenset("=+-@\u2212")
# Characters that start a formula even in first place, where OWASP lists them: tab and carriage return.
LEADING_CONTROL = frozenset("\t\r")
# Characters that do not show and are skipped to find the first visible one; format characters (Unicode
# category Cf: zero-width space, joiners, word joiner, byte order mark, bidi marks) are skipped as well.
INVISIBLE_QUOTES = frozenset('"\uff02\u201c\u201d\u201e')
# Where a spreadsheet may start a new cell inside our cell: the separators it may be told to use, and lines.
CELL_BREAKS = re.compile(r"[,;\t\r\n]")
NEUTRALISER = "'"


def _is_hidden(char: str) -> bool:
    return char.isspace() or char in INVISIBLE_QUOTES or unicodedata.category(char) == "Cf"


def _runs_as_formula(text: str) -> bool:
    """Would a spreadsheet starting a cell at the beginning of ``text`` read a formula?"""
    for char in text:
        if _is_hidden(char):
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA_SIGNS
    return False


@functools.lru_cache(maxsize=4096)  # most cells repeat (statuses, formulations, user names): each is checked once
def _neutralise_text(text: str) -> str:
    if text[:1] in LEADING_CONTROL or _runs_as_formula(text):
        text = NEUTRALISER + text
    if not CELL_BREAKS.search(text):
        return text
    # Each piece after a separator or line break is the start of a cell for some reader: neutralise it too.
    pieces = CELL_BREAKS.split(text)
    breaks = CELL_BREAKS.findall(text)
    out = [pieces[0]]
    for separator, piece in zip(breaks, pieces[1:], strict=True):
        out.append(separator)
        out.append(NEUTRALISER + piece if _runs_as_formula(piece) else piece)
    return "".join(out)


def csv_cell(value: Any) -> str:
    """One cell as the app writes it: numbers as numbers, text neutralised, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, int):
        return str(value)
    return _neutralise_text(str(value))


class _Echo:
    """A file-like object whose write returns the line it was given."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text of ``rows``, one line at a time, every cell through :func:`csv_cell` and quoted."""
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
    return (writer.writerow([csv_cell(value) for value in row]) for row in rows)
