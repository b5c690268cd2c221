"""Stream a CSV download row by row, so a long record never sits whole in memory."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any


class _Echo:
    """A file-like object whose write returns the line it was given."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    return (writer.writerow(row) for row in rows)
