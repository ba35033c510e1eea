"""Choosing and building the judge: which chat backend serves this run, the client over it, and the settings of
each judge of a jury given as ``MODEL[@URL]`` (the CLI's ``--judge``, the API's ``judges=``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..config import Settings, check_base_url, is_openai_host
from ..errors import DrevalError
from ..store import Store
from .backends import CHAT_BACKENDS, ProgressFactory
from .client import LLMClient


def backend_kind(settings: Settings) -> str:
    """``auto`` means an endpoint when one is configured (a base URL, or a key with a model), else the local model."""
    if settings.backend != "auto":
        return settings.backend
    return "openai" if settings.base_url or (settings.api_key and settings.model) else "local"


def _load_builtin_backends() -> None:
    from .backends import local, openai  # noqa: F401 - registering is the import's effect


def open_llm(settings: Settings, store: Store | None = None, on_progress: ProgressFactory | None = None) -> LLMClient:
    """The judge for these settings; raises ``LLMUnavailable`` with a one-line reason when there is none."""
    _load_builtin_backends()
    factory = CHAT_BACKENDS.get(backend_kind(settings))
    return LLMClient(settings, factory(settings, on_progress), store)


class JudgeSpecError(DrevalError, ValueError):
    """A judge ``spec`` that cannot be used, and the ``reason``."""

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"judge {spec!r}: {reason}")
        self.spec, self.reason = spec, reason


def parse_judge(spec: str) -> tuple[str, str | None]:
    """``MODEL@URL`` (an OpenAI-compatible endpoint), ``MODEL`` (the configured endpoint) or ``local`` (the embedded
    model): (model, base URL or None). The URL starts at the last ``@http://`` or ``@https://`` (in any case), so model
    names may hold ``@`` and ``/``."""
    text = spec.strip()
    if not text:
        raise JudgeSpecError(spec, "a judge is MODEL, MODEL@URL or local")
    for scheme in ("@https://", "@http://"):
        at = text.lower().rfind(scheme)
        if at > 0:
            return text[:at], text[at + 1 :]
    if text.startswith(("http://", "https://")):
        raise JudgeSpecError(spec, "give the model too, as MODEL@URL")
    return text, None


def jury_settings(settings: Settings, specs: Sequence[str]) -> list[Settings]:
    """The settings of each judge in ``specs`` (the first is the lead's); they differ from ``settings`` only in the
    judge. Every judge gets the configured API key, except that a key taken from ``OPENAI_API_KEY`` goes to OpenAI
    only. Raises ``JudgeSpecError`` for a spec that cannot be used."""
    found = []
    for spec in specs:
        model, url = parse_judge(spec)
        if model == "local" and url is None:
            found.append(settings.model_copy(update={"backend": "local"}))
            continue
        try:
            url = check_base_url(url).rstrip("/") if url else settings.base_url
        except ValueError as exc:
            raise JudgeSpecError(spec, str(exc)) from None
        key = settings.api_key
        openai_key = os.environ.get("OPENAI_API_KEY")
        if (
            key is not None
            and url
            and url != settings.base_url
            and openai_key
            and key.get_secret_value() == openai_key
            and not is_openai_host(url)
        ):
            key = None  # OPENAI_API_KEY goes to OpenAI only
        backend = "openai" if url or key else settings.backend
        found.append(settings.model_copy(update={"backend": backend, "model": model, "base_url": url, "api_key": key}))
    return found
