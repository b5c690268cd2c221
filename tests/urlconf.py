"""The app's URL patterns, derived from the URLconf so that new views are covered by the access tests."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Django's own pages that are public by design, or the admin (which has its own login).
PUBLIC = {"login"}
SKIPPED_NAMESPACES = {"admin"}


def _walk(patterns: list, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def app_urls(sample_ids: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """(URL name, concrete path) for every named pattern, its ids filled from ``sample_ids`` (default 1)."""
    sample_ids = sample_ids or {}
    urls = []
    for name, pattern in _walk(get_resolver().url_patterns):
        if name in PUBLIC:
            continue
        kwargs = {key: sample_ids.get(key, 1) for key in pattern.pattern.converters}
        urls.append((name, reverse(name, kwargs=kwargs)))
    return sorted(urls)


def named_patterns() -> list[tuple[str, list[str]]]:
    """(URL name, its keyword arguments) for every named pattern but the public ones."""
    return sorted(
        (name, sorted(pattern.pattern.converters))
        for name, pattern in _walk(get_resolver().url_patterns)
        if name not in PUBLIC
    )
