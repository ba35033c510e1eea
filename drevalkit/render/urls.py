"""Which URLs may become links in dreval's pages."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_http_url(url: str) -> bool:
    """Only http(s) URLs with a host become links: a ``javascript:``, ``data:``, ``file:`` or scheme-relative URL
    from a hostile report or page stays plain text."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and url == url.strip()
