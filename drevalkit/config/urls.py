"""Endpoint URLs as settings hold them: checked when set, compared with OpenAI's own host (the only one an
``OPENAI_API_KEY`` is ever sent to), and redacted before they appear in a message, a log or a result."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """A URL without credentials, query string or fragment: safe for messages, logs and results."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def check_base_url(url: str) -> str:
    """An endpoint URL as given, or a ``ValueError``: only http(s) with a host, https for OpenAI's own host, and no
    credentials, query string or fragment (user:pass would become Basic auth instead of the key, and ``?key=`` would
    corrupt every request path)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL with a host, e.g. http://localhost:8000/v1 (got {redact_url(url)!r})"
        )
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials (user:password@): set the key with DREVAL_API_KEY")
    if parts.scheme == "http" and is_openai_host(url):  # the key would cross the internet in clear text
        raise ValueError(f"base_url must use https:// for OpenAI, e.g. {OPENAI_DEFAULT_URL} (got {redact_url(url)!r})")
    if parts.query or parts.fragment:
        raise ValueError(
            "base_url must not carry a query string or fragment: set the key with DREVAL_API_KEY and "
            "give the path only, e.g. https://host/v1"
        )
    return url


def is_openai_host(url: str) -> bool:
    """True only for OpenAI's own API host, exactly (not a host that merely contains the name)."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return host == "api.openai.com"
