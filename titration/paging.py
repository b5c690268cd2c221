"""Pages of day-windows and merged histories, shown with the shared pagination template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def clamp_page(raw: Any, num_pages: int) -> int:
    """The requested page number, within 1..num_pages; anything unreadable is page 1."""
    try:
        return min(max(int(raw), 1), num_pages)
    except (TypeError, ValueError):
        return 1


@dataclass
class PageNumbers:
    """Quacks like a Django ``Page`` (and its paginator) for ``templates/pagination.html``."""

    number: int
    num_pages: int

    @property
    def paginator(self) -> PageNumbers:
        return self

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1
